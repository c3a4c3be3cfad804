// Live chat: message and typing streams for one member, read from the member's own topics, to
// which each change is published for the members of that moment (so a member who leaves stops
// hearing a chat at once), checked against membership when opened (by every subscriber, also
// one who joins a running fan-out group: src/transport/fanout.ts), and ended when the member
// leaves the chat (publishChatLeft).
import type { AppDeps } from '../../context.ts';
import { createPushIterator, END_STREAM, filterMessages } from '../../pubsub/iterator.ts';
import { markDeliveredSoon, requireMembership, TYPING_TTL_MS, userChatTopic, userTypingTopic } from './index.ts';
import type { ChatLeftEvent, ChatMessageEvent, TypingEvent } from './index.ts';

/**
 * Messages added to (or updated in) one chat, or all of the viewer's chats. A message pushed to
 * a member counts as delivered to them; that is recorded without holding up the frame.
 */
export async function messageEvents(
  deps: AppDeps,
  viewerId: string,
  chatId: string | null,
  type: ChatMessageEvent['type'],
): Promise<AsyncIterableIterator<ChatMessageEvent>> {
  if (chatId) await requireMembership(deps.prisma, viewerId, chatId);
  const source = deps.pubsub.subscribe<ChatMessageEvent | ChatLeftEvent>(userChatTopic(viewerId));
  return filterMessages(source, async (event) => {
    if (event.type === 'left') return chatId && event.chatId === chatId ? END_STREAM : null;
    if (event.type !== type || (chatId && event.chatId !== chatId)) return null;
    if (type === 'added') {
      const message =
        event.senderId !== undefined && event.seq !== undefined
          ? { senderId: event.senderId, seq: event.seq }
          : await deps.prisma.message.findUnique({
              where: { id: event.messageId },
              select: { senderId: true, seq: true },
            });
      if (!message) return null;
      if (message.senderId !== viewerId) markDeliveredSoon(deps, viewerId, event.chatId, message.seq);
    }
    return event;
  });
}

/** Typing of others in one chat; a typing state nobody renewed within the TTL ends by itself. */
export async function typingEvents(
  deps: AppDeps,
  viewerId: string,
  chatId: string,
): Promise<AsyncIterable<TypingEvent>> {
  await requireMembership(deps.prisma, viewerId, chatId);
  const timers = new Map<string, NodeJS.Timeout>();
  const source = deps.pubsub.subscribe<TypingEvent | ChatLeftEvent>(userTypingTopic(viewerId));
  const out = createPushIterator<TypingEvent>({
    onFinish: () => {
      for (const timer of timers.values()) clearTimeout(timer);
      void source.return?.();
    },
  });
  void (async () => {
    for await (const event of source) {
      if (event.chatId !== chatId) continue;
      if ('type' in event) break; // left the chat: no more typing, not even the pending stops
      if (event.userId === viewerId) continue;
      clearTimeout(timers.get(event.userId));
      timers.delete(event.userId);
      if (event.isTyping) {
        const timer = setTimeout(() => {
          timers.delete(event.userId);
          out.push({ chatId, userId: event.userId, isTyping: false });
        }, TYPING_TTL_MS);
        timer.unref();
        timers.set(event.userId, timer);
      }
      out.push(event);
    }
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
    out.end();
  })();
  return out.iterator;
}
