import { builder } from '../../builder.ts';
import { accountGone } from '../../lib/errors.ts';
import { SEARCH_QUERY_MAX, searchUsersWhere, userLookup } from '../../services/users/index.ts';
import { UserConnection } from './types.ts';

builder.queryFields((t) => ({
  me: t.prismaField({
    type: 'User',
    nullable: true,
    description:
      'The signed-in user; null when the request carries no access token, UNAUTHENTICATED when its account no longer exists.',
    resolve: async (query, _root, _args, ctx) => {
      if (!ctx.viewer) return null;
      const me = await ctx.prisma.user.findFirst({ ...query, where: { id: ctx.viewer.id, deletedAt: null } });
      if (!me) throw accountGone();
      return me;
    },
  }),
  user: t.prismaField({
    type: 'User',
    nullable: true,
    description:
      'One user, by id or by username (give exactly one); null when there is none. A deleted account is found by id only, as the tombstone chats and events show (isDeleted).',
    args: {
      id: t.arg.id({ description: 'The user’s UUID.' }),
      username: t.arg.string({ description: 'The username, in any letter case.' }),
    },
    resolve: (query, _root, args, ctx) => {
      const where = userLookup({ id: args.id?.toString(), username: args.username });
      return where ? ctx.prisma.user.findUnique({ ...query, where }) : null;
    },
  }),
  searchUsers: t.prismaConnection(
    {
      type: 'User',
      cursor: 'id',
      description: 'Users whose username or full name contains the query (case-insensitive), in id order.',
      args: { query: t.arg.string({ required: true, description: `1–${SEARCH_QUERY_MAX} characters.` }) },
      resolve: (query, _root, args, ctx) => {
        return ctx.prisma.user.findMany({ ...query, where: searchUsersWhere(args.query) });
      },
    },
    UserConnection,
  ),
  trustLevels: t.prismaField({
    type: ['TrustLevel'],
    description: 'The reputation tiers, lowest first.',
    resolve: (query, _root, _args, ctx) => ctx.prisma.trustLevel.findMany({ ...query, orderBy: { level: 'asc' } }),
  }),
}));
