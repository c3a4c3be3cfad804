import { queryFromInfo } from '@pothos/plugin-prisma';
import { builder } from '../../builder.ts';
import { AFTER_DESCRIPTION } from '../resume.ts';
import * as live from '../../services/chat/subscriptions.ts';
import { presenceTopic } from '../../services/presence/index.ts';
import type { PresenceEvent } from '../../services/presence/index.ts';
import { withFreshCaches } from '../viewer.ts';
import { Message, PresenceChange, TypingIndicator } from './types.ts';

const signedIn = { signedIn: true } as const;

builder.subscriptionFields((t) => ({
  messageAdded: t.withAuth(signedIn).field({
    type: Message,
    description:
      "New messages in one chat, or in all of the viewer's chats; with `after` (a Message.cursor), those since that message first. Subscribing to a chat you are not in is NOT_FOUND.",
    args: {
      chatId: t.arg.id({ description: 'One chat; omit for all.' }),
      after: t.arg.string({ description: AFTER_DESCRIPTION }),
    },
    subscribe: (_root, args, ctx) =>
      live.addedMessages(ctx.deps, ctx.viewer.id, args.chatId ? String(args.chatId) : null, args.after),
    // Fresh caches first: queryFromInfo records in them what the query loads; clearing them
    // afterwards made Pothos load the selection's relations a second time.
    resolve: (added, _args, ctx, info) => {
      withFreshCaches(null, ctx);
      return live.readAddedMessage(ctx.prisma, added, queryFromInfo({ context: ctx, info }));
    },
  }),
  messageUpdated: t.withAuth(signedIn).field({
    type: Message,
    description: 'Edits, deletions and status changes of messages, in one chat or all of the viewer’s chats.',
    args: { chatId: t.arg.id({ description: 'One chat; omit for all.' }) },
    subscribe: (_root, args, ctx) =>
      live.updatedMessages(ctx.deps, ctx.viewer.id, args.chatId ? String(args.chatId) : null),
    // Fresh caches first: queryFromInfo records in them what the query loads; clearing them
    // afterwards made Pothos load the selection's relations a second time.
    resolve: (event, _args, ctx, info) => {
      withFreshCaches(null, ctx);
      return ctx.prisma.message.findUniqueOrThrow({
        ...queryFromInfo({ context: ctx, info }),
        where: { id: event.messageId },
      });
    },
  }),
  typing: t.withAuth(signedIn).field({
    type: TypingIndicator,
    description: 'Other members starting and stopping to type in a chat.',
    args: { chatId: t.arg.id({ required: true, description: 'The chat.' }) },
    subscribe: (_root, args, ctx) => live.typingEvents(ctx.deps, ctx.viewer.id, String(args.chatId)),
    resolve: (event, _args, ctx) => withFreshCaches(event, ctx),
  }),
  presenceChanged: t.withAuth(signedIn).field({
    type: PresenceChange,
    description: 'Friends going online or offline.',
    subscribe: (_root, _args, ctx) => ctx.deps.pubsub.subscribe<PresenceEvent>(presenceTopic(ctx.viewer.id)),
    resolve: (event, _args, ctx) => withFreshCaches(event, ctx),
  }),
}));
