import { formatPrismaCursor, prismaConnectionHelpers } from '@pothos/plugin-prisma';
import { viewerIdOf } from '../viewer.ts';
import { builder, PAGE_SIZE } from '../../builder.ts';
import { afterHistoryFetch, CHAT_LIMITS } from '../../services/chat/index.ts';
import { seesSocialCircle, socialCircleSelect } from '../../services/social/index.ts';
import { isVisibleTo, visibilitySelect } from '../../services/events/visibility.ts';
import { Event } from '../events/types.ts';
import { User } from '../users/types.ts';

export const ChatKind = builder.enumType('ChatKind', {
  description: 'What kind of conversation a chat is.',
  values: {
    DIRECT: { description: 'Two friends.' },
    GROUP: { description: 'A titled group of friends.' },
    EVENT: { description: "An event's chat: its host and attendees." },
  } as const,
});

export const MessageStatus = builder.enumType('MessageStatus', {
  description: "A message's progress, from the sender's point of view.",
  values: {
    SENT: { description: 'Stored; no other member has it yet.' },
    DELIVERED: { description: 'At least one other member fetched it or received it live.' },
    READ: { description: 'Every other member has read it.' },
  } as const,
});

interface Marker {
  userId: string;
  joinedAt: Date;
  lastReadSeq: number;
  lastDeliveredSeq: number;
}

/** The members a message is addressed to: everyone but the sender who was in the chat when it was sent. */
const recipientsOf = (message: { senderId: string; createdAt: Date }, members: Marker[]) =>
  members.filter((m) => m.userId !== message.senderId && m.joinedAt <= message.createdAt);

const markerSelect = { userId: true, joinedAt: true, lastReadSeq: true, lastDeliveredSeq: true } as const;

export const Message = builder.prismaObject('Message', {
  description: 'A chat message.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The message’s UUID.' }),
    chat: t.relation('chat', { description: 'The chat it belongs to.' }),
    sender: t.relation('sender', { description: 'Who sent it.' }),
    body: t.exposeString('body', { description: `The text, 1–${CHAT_LIMITS.body} characters; empty once deleted.` }),
    clientMessageId: t.exposeString('clientMessageId', {
      nullable: true,
      description: "The sender's own id for the message; a retried send with the same id returns the same message.",
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was sent.' }),
    editedAt: t.expose('editedAt', { type: 'DateTime', nullable: true, description: 'When it was last edited.' }),
    deleted: t.boolean({
      description: 'Deleted by the sender, or removed by an admin (moderation).',
      select: { deletedAt: true },
      resolve: (m) => m.deletedAt !== null,
    }),
    status: t.field({
      type: MessageStatus,
      description:
        "From the sender's point of view: READ once all other members read it, DELIVERED once any received it.",
      select: { seq: true, senderId: true, createdAt: true, chat: { select: { members: { select: markerSelect } } } },
      resolve: (m) => {
        const recipients = recipientsOf(m, m.chat.members);
        if (recipients.length && recipients.every((r) => r.lastReadSeq >= m.seq)) return 'READ';
        if (recipients.some((r) => r.lastDeliveredSeq >= m.seq || r.lastReadSeq >= m.seq)) return 'DELIVERED';
        return 'SENT';
      },
    }),
    readBy: t.field({
      type: [User],
      description: 'Other members who have read it.',
      select: (_args, _ctx, nestedSelection) => ({
        seq: true,
        senderId: true,
        createdAt: true,
        chat: { select: { members: { select: { ...markerSelect, user: nestedSelection() } } } },
      }),
      resolve: (m) =>
        recipientsOf(m, m.chat.members)
          .filter((r) => r.lastReadSeq >= m.seq)
          .map((r) => (r as unknown as { user: never }).user),
    }),
    cursor: t.string({
      description:
        'This message’s place: as `after` of messageAdded, the messages added since (resumes a live chat); as `after` or `before` of Chat.messages, its edge cursor.',
      select: { chatId: true, seq: true },
      resolve: (m) => formatPrismaCursor(m, ['chatId', 'seq']),
    }),
  }),
});

export const MessageConnection = builder.connectionObject(
  { type: Message, name: 'MessageConnection', description: 'A page of messages, oldest first.' },
  { name: 'MessageEdge', description: 'A message in a page of messages.' },
);

const messageHelpers = prismaConnectionHelpers(builder, 'Message', {
  cursor: 'chatId_seq',
  query: { orderBy: { seq: 'asc' } },
});

/**
 * Without first/last, history starts from the newest messages, as a chat screen does; after a
 * cursor (catching up from a Message.cursor), it goes forwards from there.
 */
const historyArgs = <A extends { first?: number | null; last?: number | null; after?: string | null }>(args: A): A =>
  args.first != null || args.last != null
    ? args
    : args.after != null
      ? { ...args, first: PAGE_SIZE.default }
      : { ...args, last: PAGE_SIZE.default };

export const Chat = builder.prismaObject('Chat', {
  description: 'A conversation; only its members can see it.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The chat’s UUID.' }),
    kind: t.expose('kind', { type: ChatKind, description: 'Direct, group or event chat.' }),
    title: t.exposeString('title', {
      description: 'Group title; empty for direct chats; empty for event chats (see event).',
    }),
    members: t.field({
      type: [User],
      description: 'Who is in the chat.',
      select: (_args, _ctx, nestedSelection) => ({
        members: { orderBy: { joinedAt: 'asc' }, select: { user: nestedSelection() } },
      }),
      resolve: (chat) => chat.members.map((m) => m.user),
    }),
    event: t.field({
      type: Event,
      nullable: true,
      description:
        "The event, for an event's chat; null when the viewer may no longer see it (re-drafted, say), by the same rule as `event(id)`.",
      select: (_args, ctx, nestedSelection) => ({
        event: nestedSelection({ select: visibilitySelect(viewerIdOf(ctx)) }),
      }),
      // The event carries what the query selected beneath it (plus the visibility fields).
      resolve: (chat, _args, ctx) =>
        chat.event && isVisibleTo(chat.event, ctx.viewer?.id) ? (chat.event as never) : null,
    }),
    lastMessage: t.field({
      type: Message,
      nullable: true,
      description: 'The newest message.',
      select: (_args, _ctx, nestedSelection) => ({ messages: nestedSelection({ orderBy: { seq: 'desc' }, take: 1 }) }),
      resolve: (chat) => chat.messages[0] ?? null,
    }),
    unreadCount: t.int({
      description: "Messages after the viewer's read marker.",
      select: (_args, ctx) => ({
        lastSeq: true,
        members: { where: { userId: viewerIdOf(ctx) }, select: { lastReadSeq: true } },
      }),
      resolve: (chat) => Math.max(0, chat.lastSeq - (chat.members[0]?.lastReadSeq ?? chat.lastSeq)),
    }),
    messages: t.connection(
      {
        type: Message,
        description: `History. Page backwards with last/before (the default: the newest ${PAGE_SIZE.default}) or forwards with first/after.`,
        paging: { ...PAGE_SIZE, backwards: true, cursor: 'chatId_seq' },
        select: (args, ctx, nestedSelection) => ({
          messages: messageHelpers.getQuery(historyArgs(args), ctx, nestedSelection),
        }),
        resolve: async (chat, args, ctx) => {
          const page = messageHelpers.resolve(chat.messages, historyArgs(args), ctx);
          if (ctx.viewer)
            await afterHistoryFetch(
              ctx.deps,
              ctx.viewer.id,
              chat.id,
              chat.messages.map((m) => m.seq),
            );
          return page as never;
        },
      },
      MessageConnection,
    ),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
  }),
});

export const ChatConnection = builder.connectionObject(
  { type: Chat, name: 'ChatConnection', description: 'A page of chats.' },
  { name: 'ChatEdge', description: 'A chat in a page of chats.' },
);

builder.prismaObjectField('Event', 'chat', (t) =>
  t.field({
    type: Chat,
    nullable: true,
    description: "The event's group chat; visible to the host and attendees.",
    select: (_args, ctx, nestedSelection) => ({
      chat: nestedSelection({ select: { members: { where: { userId: viewerIdOf(ctx) }, select: { userId: true } } } }),
    }),
    resolve: (event) => (event.chat && event.chat.members.length > 0 ? (event.chat as never) : null),
  }),
);

export const TypingIndicator = builder
  .objectRef<{ chatId: string; userId: string; isTyping: boolean }>('TypingIndicator')
  .implement({
    description: 'Someone started or stopped typing in a chat.',
    fields: (t) => ({
      chatId: t.exposeID('chatId', { description: 'The chat.' }),
      user: t.prismaField({
        type: 'User',
        description: 'Who is typing.',
        resolve: (query, typing, _args, ctx) =>
          ctx.prisma.user.findUniqueOrThrow({ ...query, where: { id: typing.userId } }),
      }),
      isTyping: t.exposeBoolean('isTyping', {
        description: 'False when they stopped, or after a few seconds without renewal.',
      }),
    }),
  });

export const PresenceChange = builder
  .objectRef<{ userId: string; isOnline: boolean; lastSeenAt: Date | null }>('PresenceChange')
  .implement({
    description: 'A friend went online or offline.',
    fields: (t) => ({
      user: t.prismaField({
        type: 'User',
        description: 'The friend.',
        resolve: (query, change, _args, ctx) =>
          ctx.prisma.user.findUniqueOrThrow({ ...query, where: { id: change.userId } }),
      }),
      isOnline: t.exposeBoolean('isOnline', { description: 'Connected now.' }),
      lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime', nullable: true, description: 'When they went offline.' }),
    }),
  });

builder.prismaObjectField('User', 'isOnline', (t) =>
  t.boolean({
    description:
      'Connected over a WebSocket right now, on any instance. Only the user and their friends see it; false for anyone else (anonymous viewers included).',
    select: (_args, ctx) => socialCircleSelect(viewerIdOf(ctx)),
    resolve: (user, _args, ctx) =>
      seesSocialCircle(user, ctx.viewer?.id) ? ctx.loaders.isOnline.load(user.id) : false,
  }),
);
