import { builder } from '../../builder.ts';
import * as chat from '../../services/chat/index.ts';
import { CHAT_LIMITS } from '../../services/chat/index.ts';

const signedIn = { signedIn: true } as const;

builder.mutationFields((t) => ({
  openDirectChat: t.withAuth(signedIn).prismaField({
    type: 'Chat',
    description: 'The direct chat with a friend, created on first use; the same chat every time.',
    args: { userId: t.arg.id({ required: true, description: 'The friend.' }) },
    resolve: (query, _root, args, ctx) => chat.openDirectChat(ctx.deps, ctx.viewer.id, String(args.userId), query),
  }),
  createGroupChat: t.withAuth(signedIn).prismaField({
    type: 'Chat',
    description: `A titled chat of the viewer and friends (at most ${CHAT_LIMITS.groupMembers} others).`,
    args: {
      title: t.arg.string({ required: true, description: `1–${CHAT_LIMITS.title} characters.` }),
      memberIds: t.arg.idList({ required: true, description: 'Friends to add.' }),
    },
    resolve: (query, _root, args, ctx) =>
      chat.createGroupChat(ctx.deps, ctx.viewer.id, args.title, args.memberIds, query),
  }),
  sendMessage: t.withAuth(signedIn).prismaField({
    type: 'Message',
    description: `Sends a message (1–${CHAT_LIMITS.body} characters, trimmed). Retrying with the same clientMessageId returns the first message and sends nothing new.`,
    args: {
      chatId: t.arg.id({ required: true, description: 'The chat.' }),
      body: t.arg.string({ required: true, description: 'The text.' }),
      clientMessageId: t.arg.string({
        description: `Your id for the message (≤ ${CHAT_LIMITS.clientMessageId} characters), for safe retries.`,
      }),
    },
    resolve: (query, _root, args, ctx) =>
      chat.sendMessage(ctx.deps, ctx.viewer.id, String(args.chatId), args.body, args.clientMessageId, query),
  }),
  editMessage: t.withAuth(signedIn).prismaField({
    type: 'Message',
    description: "Changes the text of one of the viewer's messages.",
    args: {
      id: t.arg.id({ required: true, description: 'The message.' }),
      body: t.arg.string({ required: true, description: 'The new text.' }),
    },
    resolve: (query, _root, args, ctx) => chat.editMessage(ctx.deps, ctx.viewer.id, String(args.id), args.body, query),
  }),
  deleteMessage: t.withAuth(signedIn).prismaField({
    type: 'Message',
    description: "Deletes one of the viewer's messages: it stays in the history, empty and marked deleted.",
    args: { id: t.arg.id({ required: true, description: 'The message.' }) },
    resolve: (query, _root, args, ctx) => chat.deleteMessage(ctx.deps, ctx.viewer.id, String(args.id), query),
  }),
  markChatRead: t.withAuth(signedIn).prismaField({
    type: 'Chat',
    description: "Moves the viewer's read marker to the newest message.",
    args: { chatId: t.arg.id({ required: true, description: 'The chat.' }) },
    resolve: (query, _root, args, ctx) => chat.markRead(ctx.deps, ctx.viewer.id, String(args.chatId), query),
  }),
  setTyping: t.withAuth(signedIn).boolean({
    description:
      'Tells the other members the viewer is (or stopped) typing. Never stored; renew every few seconds while typing.',
    args: {
      chatId: t.arg.id({ required: true, description: 'The chat.' }),
      isTyping: t.arg.boolean({ required: true, description: 'Typing now.' }),
    },
    resolve: (_root, args, ctx) => chat.setTyping(ctx.deps, ctx.viewer.id, String(args.chatId), args.isTyping),
  }),
}));
