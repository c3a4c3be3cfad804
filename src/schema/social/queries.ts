import { builder, withAuthConnection } from '../../builder.ts';
import * as social from '../../services/social/index.ts';
import { blockedByWhere } from '../../services/social/blocks.ts';
import { UserConnection } from '../users/types.ts';
import { FriendRequest } from './types.ts';

builder.queryFields((t) => ({
  friendRequests: t.withAuth({ signedIn: true }).field({
    type: [FriendRequest],
    description:
      "The viewer's pending requests: received (incoming: true), sent (false), or both (omitted); newest first.",
    args: { incoming: t.arg.boolean({ description: 'true: received; false: sent; omitted: both.' }) },
    resolve: (_root, args, ctx) => social.friendRequests(ctx.deps, ctx.viewer.id, args.incoming),
  }),
  blockedUsers: t.withAuth({ signedIn: true }).prismaConnection(
    {
      type: 'User',
      cursor: 'id',
      description: 'Users the viewer has blocked, in id order.',
      resolve: (query, _root, _args, ctx) =>
        ctx.prisma.user.findMany({ ...query, where: blockedByWhere(ctx.viewer.id) }),
    },
    withAuthConnection(UserConnection),
  ),
}));
