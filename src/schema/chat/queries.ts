import { builder, PAGE_SIZE } from '../../builder.ts';
import * as chat from '../../services/chat/index.ts';
import { checkPageArgs } from '../../lib/validation.ts';
import { ChatConnection } from './types.ts';

const signedIn = { signedIn: true } as const;

builder.queryFields((t) => ({
  chats: t.prismaConnection(
    {
      type: 'Chat',
      cursor: 'id',
      defaultSize: PAGE_SIZE.default,
      maxSize: PAGE_SIZE.max,
      authScopes: signedIn,
      description: "The viewer's chats, most recently active first.",
      resolve: (query, _root, args, ctx) => {
        checkPageArgs(args, PAGE_SIZE.max);
        return ctx.prisma.chat.findMany({
          ...query,
          where: { members: { some: { userId: ctx.viewer!.id } } },
          orderBy: [{ lastActivityAt: 'desc' }, { id: 'desc' }],
        });
      },
    },
    ChatConnection,
  ),
  chat: t.prismaField({
    type: 'Chat',
    nullable: true,
    authScopes: signedIn,
    description: 'One chat; NOT_FOUND unless the viewer is a member.',
    args: { id: t.arg.id({ required: true, description: 'The chat’s UUID.' }) },
    resolve: async (query, _root, args, ctx) => {
      await chat.requireMembership(ctx.prisma, ctx.viewer!.id, String(args.id));
      return ctx.prisma.chat.findUniqueOrThrow({ ...query, where: { id: String(args.id) } });
    },
  }),
}));
