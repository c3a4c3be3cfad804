import { builder, withAuthConnection } from '../../builder.ts';
import * as chat from '../../services/chat/index.ts';
import { ChatConnection } from './types.ts';

const signedIn = { signedIn: true } as const;

builder.queryFields((t) => ({
  chats: t.withAuth(signedIn).prismaConnection(
    {
      type: 'Chat',
      cursor: 'id',
      description: "The viewer's chats, most recently active first.",
      resolve: (query, _root, args, ctx) => {
        return ctx.prisma.chat.findMany({
          ...query,
          where: { members: { some: { userId: ctx.viewer.id } } },
          orderBy: [{ lastActivityAt: 'desc' }, { id: 'desc' }],
        });
      },
    },
    withAuthConnection(ChatConnection),
  ),
  chat: t.withAuth(signedIn).prismaField({
    type: 'Chat',
    nullable: true,
    description: 'One chat; NOT_FOUND unless the viewer is a member.',
    args: { id: t.arg.id({ required: true, description: 'The chat’s UUID.' }) },
    resolve: async (query, _root, args, ctx) => {
      await chat.requireMembership(ctx.prisma, ctx.viewer.id, String(args.id));
      return ctx.prisma.chat.findUniqueOrThrow({ ...query, where: { id: String(args.id) } });
    },
  }),
}));
