import { queryFromInfo } from '@pothos/plugin-prisma';
import { builder, PAGE_SIZE } from '../../builder.ts';
import type { Context } from '../../context.ts';
import * as chat from '../../services/chat/index.ts';
import type { ChatMessageEvent, TypingEvent } from '../../services/chat/index.ts';
import { presenceTopic } from '../../services/presence/index.ts';
import type { PresenceEvent } from '../../services/presence/index.ts';
import { checkPageArgs } from '../../lib/validation.ts';
import { createPushIterator, filterMessages } from '../../pubsub/iterator.ts';
import { withFreshCaches } from '../viewer.ts';
import { ChatConnection, Message, PresenceChange, TypingIndicator } from './types.ts';

const signedIn = { signedIn: true } as const;

/** True when a Pothos query (`{ include }` or `{ select }`) loads relations, not only columns. */
const hasRelations = (query: { include?: object; select?: object }) =>
  Object.keys(query.include ?? {}).length > 0 || Object.values(query.select ?? {}).some((v) => typeof v === 'object' && v !== null);

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

builder.mutationFields((t) => ({
  openDirectChat: t.prismaField({
    type: 'Chat',
    authScopes: signedIn,
    description: 'The direct chat with a friend, created on first use; the same chat every time.',
    args: { userId: t.arg.id({ required: true, description: 'The friend.' }) },
    resolve: (query, _root, args, ctx) => chat.openDirectChat(ctx.deps, ctx.viewer!.id, String(args.userId), query),
  }),
  createGroupChat: t.prismaField({
    type: 'Chat',
    authScopes: signedIn,
    description: 'A titled chat of the viewer and friends (at most 100 others).',
    args: {
      title: t.arg.string({ required: true, description: '1–255 characters.' }),
      memberIds: t.arg.idList({ required: true, description: 'Friends to add.' }),
    },
    resolve: (query, _root, args, ctx) => chat.createGroupChat(ctx.deps, ctx.viewer!.id, args.title, args.memberIds, query),
  }),
  sendMessage: t.prismaField({
    type: 'Message',
    authScopes: signedIn,
    description: 'Sends a message (1–4000 characters, trimmed). Retrying with the same clientMessageId returns the first message and sends nothing new.',
    args: {
      chatId: t.arg.id({ required: true, description: 'The chat.' }),
      body: t.arg.string({ required: true, description: 'The text.' }),
      clientMessageId: t.arg.string({ description: 'Your id for the message (≤ 100 characters), for safe retries.' }),
    },
    resolve: async (query, _root, args, ctx) => {
      const { message } = await chat.sendMessage(ctx.deps, ctx.viewer!.id, String(args.chatId), args.body, args.clientMessageId);
      // The stored row serves a selection of its own columns; relations need the read.
      if (!hasRelations(query)) return message;
      return ctx.prisma.message.findUniqueOrThrow({ ...query, where: { id: message.id } });
    },
  }),
  editMessage: t.prismaField({
    type: 'Message',
    authScopes: signedIn,
    description: "Changes the text of one of the viewer's messages.",
    args: {
      id: t.arg.id({ required: true, description: 'The message.' }),
      body: t.arg.string({ required: true, description: 'The new text.' }),
    },
    resolve: async (query, _root, args, ctx) => {
      const message = await chat.editMessage(ctx.deps, ctx.viewer!.id, String(args.id), args.body);
      return ctx.prisma.message.findUniqueOrThrow({ ...query, where: { id: message.id } });
    },
  }),
  deleteMessage: t.prismaField({
    type: 'Message',
    authScopes: signedIn,
    description: "Deletes one of the viewer's messages: it stays in the history, empty and marked deleted.",
    args: { id: t.arg.id({ required: true, description: 'The message.' }) },
    resolve: async (query, _root, args, ctx) => {
      const message = await chat.deleteMessage(ctx.deps, ctx.viewer!.id, String(args.id));
      return ctx.prisma.message.findUniqueOrThrow({ ...query, where: { id: message.id } });
    },
  }),
  markChatRead: t.prismaField({
    type: 'Chat',
    authScopes: signedIn,
    description: "Moves the viewer's read marker to the newest message.",
    args: { chatId: t.arg.id({ required: true, description: 'The chat.' }) },
    resolve: async (query, _root, args, ctx) => {
      await chat.markRead(ctx.deps, ctx.viewer!.id, String(args.chatId));
      return ctx.prisma.chat.findUniqueOrThrow({ ...query, where: { id: String(args.chatId) } });
    },
  }),
  setTyping: t.boolean({
    authScopes: signedIn,
    description: 'Tells the other members the viewer is (or stopped) typing. Never stored; renew every few seconds while typing.',
    args: {
      chatId: t.arg.id({ required: true, description: 'The chat.' }),
      isTyping: t.arg.boolean({ required: true, description: 'Typing now.' }),
    },
    resolve: (_root, args, ctx) => chat.setTyping(ctx.deps, ctx.viewer!.id, String(args.chatId), args.isTyping),
  }),
}));

async function messageEvents(ctx: Context, chatId: string | null | undefined, type: ChatMessageEvent['type']) {
  const viewerId = ctx.viewer!.id;
  if (chatId) await chat.requireMembership(ctx.prisma, viewerId, String(chatId));
  const source = ctx.deps.pubsub.subscribe<ChatMessageEvent>(chat.userChatTopic(viewerId));
  return filterMessages(source, async (event) => {
    if (event.type !== type || (chatId && event.chatId !== String(chatId))) return null;
    if (type === 'added') {
      // Pushed to a member counts as delivered to them: recorded without holding up the frame.
      const message =
        event.senderId !== undefined && event.seq !== undefined
          ? { senderId: event.senderId, seq: event.seq }
          : await ctx.prisma.message.findUnique({ where: { id: event.messageId }, select: { senderId: true, seq: true } });
      if (!message) return null;
      if (message.senderId !== viewerId) chat.markDeliveredSoon(ctx.deps, viewerId, event.chatId, message.seq);
    }
    return event;
  });
}

/** Typing of others in one chat; a typing state nobody renewed within the TTL ends by itself. */
function typingEvents(ctx: Context, chatId: string): AsyncIterable<TypingEvent> {
  const viewerId = ctx.viewer!.id;
  const timers = new Map<string, NodeJS.Timeout>();
  const source = ctx.deps.pubsub.subscribe<TypingEvent>(chat.typingTopic(chatId));
  const out = createPushIterator<TypingEvent>({
    onFinish: () => {
      for (const timer of timers.values()) clearTimeout(timer);
      void source.return?.();
    },
  });
  void (async () => {
    for await (const event of source) {
      if (event.userId === viewerId) continue;
      clearTimeout(timers.get(event.userId));
      timers.delete(event.userId);
      if (event.isTyping) {
        const timer = setTimeout(() => {
          timers.delete(event.userId);
          out.push({ chatId, userId: event.userId, isTyping: false });
        }, chat.TYPING_TTL_MS);
        timer.unref();
        timers.set(event.userId, timer);
      }
      out.push(event);
    }
    out.end();
  })();
  return out.iterator;
}

builder.subscriptionFields((t) => ({
  messageAdded: t.field({
    type: Message,
    authScopes: signedIn,
    description: "New messages in one chat, or in all of the viewer's chats. Subscribing to a chat you are not in is NOT_FOUND.",
    args: { chatId: t.arg.id({ description: 'One chat; omit for all.' }) },
    subscribe: (_root, args, ctx) => messageEvents(ctx, args.chatId ? String(args.chatId) : null, 'added'),
    // Fresh caches first: queryFromInfo records in them what the query loads; clearing them
    // afterwards made Pothos load the selection's relations a second time.
    resolve: (event, _args, ctx, info) => {
      withFreshCaches(null, ctx);
      return ctx.prisma.message.findUniqueOrThrow({ ...queryFromInfo({ context: ctx, info }), where: { id: event.messageId } });
    },
  }),
  messageUpdated: t.field({
    type: Message,
    authScopes: signedIn,
    description: 'Edits, deletions and status changes of messages, in one chat or all of the viewer’s chats.',
    args: { chatId: t.arg.id({ description: 'One chat; omit for all.' }) },
    subscribe: (_root, args, ctx) => messageEvents(ctx, args.chatId ? String(args.chatId) : null, 'updated'),
    // Fresh caches first: queryFromInfo records in them what the query loads; clearing them
    // afterwards made Pothos load the selection's relations a second time.
    resolve: (event, _args, ctx, info) => {
      withFreshCaches(null, ctx);
      return ctx.prisma.message.findUniqueOrThrow({ ...queryFromInfo({ context: ctx, info }), where: { id: event.messageId } });
    },
  }),
  typing: t.field({
    type: TypingIndicator,
    authScopes: signedIn,
    description: 'Other members starting and stopping to type in a chat.',
    args: { chatId: t.arg.id({ required: true, description: 'The chat.' }) },
    subscribe: async (_root, args, ctx) => {
      await chat.requireMembership(ctx.prisma, ctx.viewer!.id, String(args.chatId));
      return typingEvents(ctx, String(args.chatId));
    },
    resolve: (event, _args, ctx) => withFreshCaches(event, ctx),
  }),
  presenceChanged: t.field({
    type: PresenceChange,
    authScopes: signedIn,
    description: 'Friends going online or offline.',
    subscribe: (_root, _args, ctx) => ctx.deps.pubsub.subscribe<PresenceEvent>(presenceTopic(ctx.viewer!.id)),
    resolve: (event, _args, ctx) => withFreshCaches(event, ctx),
  }),
}));
