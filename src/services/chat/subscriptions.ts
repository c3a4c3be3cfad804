// Live chat: message and typing streams for one member, read from the member's own topics, to
// which each change goes for the members of that moment (so a member who leaves stops
// hearing a chat at once), checked against membership when opened (by every subscriber, also
// one who joins a running fan-out group: src/transport/fanout.ts), and ended when the member
// leaves the chat (publishChatLeft).
import { readAlongPage, resumePosition } from '../../changes/index.ts';
import type { Change } from '../../changes/index.ts';
import type { AppDeps } from '../../context.ts';
import type { PrismaClient } from '../../db/index.ts';
import { decodeCursor } from '../../lib/cursors.ts';
import { resyncRequired } from '../../lib/errors.ts';
import { createPushIterator, END_STREAM, filterMessages } from '../../pubsub/iterator.ts';
import { markDeliveredSoon, requireMembership, TYPING_TTL_MS, userChatTopic, userTypingTopic } from './index.ts';
import type { ChatLeftEvent, ChatMessageEvent, TypingEvent } from './index.ts';

/**
 * Messages added to one chat, or all of the viewer's chats, from the change log; with `after`
 * (a Message.cursor), those since that message first. A message pushed to a member counts as
 * delivered to them; that is recorded without holding up the frame. A chat's stream ends when
 * the viewer leaves it.
 */
export async function addedMessages(
  deps: AppDeps,
  viewerId: string,
  chatId: string | null,
  after?: string | null,
): Promise<AsyncIterableIterator<AddedMessage>> {
  if (chatId) await requireMembership(deps.prisma, viewerId, chatId);
  const topics = [userChatTopic(viewerId)];
  const from = after === null || after === undefined ? undefined : await messagePosition(deps, after, topics);
  const ended = new AbortController();
  if (chatId) {
    const leaves = deps.pubsub.subscribe<ChatMessageEvent | ChatLeftEvent>(userChatTopic(viewerId), ended.signal);
    void (async () => {
      for await (const event of leaves) if (event.type === 'left' && event.chatId === chatId) break;
      ended.abort();
    })();
  }
  const source = deps.changes.subscribe<ChatMessageEvent>(topics, from, ended.signal);
  return filterMessages(
    source,
    ({ payload: event, page }: Change<ChatMessageEvent>): AddedMessage | null => {
      if (chatId && event.chatId !== chatId) return null;
      if (event.senderId !== viewerId) markDeliveredSoon(deps, viewerId, event.chatId, event.seq!);
      return { ...event, page };
    },
    () => ended.abort(),
  );
}

/** A new message as messageAdded delivers it; replayed ones come with their page of the log. */
export type AddedMessage = ChatMessageEvent & Pick<Change<ChatMessageEvent>, 'page'>;

/**
 * The message a messageAdded delivery is about, with the selection's `query` (relations
 * included); the messages of a replayed page are read in one query. (Every message on the
 * viewer's chat topic is in one of their chats.)
 */
export async function readAddedMessage(prisma: PrismaClient, added: AddedMessage, query: object) {
  const one = () => prisma.message.findUniqueOrThrow({ ...query, where: { id: added.messageId } });
  if (!added.page) return one();
  const read = await readAlongPage(
    added.page,
    added.messageId,
    JSON.stringify(query),
    (e) => e.messageId,
    (ids) => prisma.message.findMany({ ...query, where: { id: { in: ids } } }),
  );
  return read ?? one();
}

/** Where a Message.cursor (its chat and sequence number) resumes, on the viewer's chat topic. */
async function messagePosition(deps: AppDeps, after: string, topics: string[]): Promise<number> {
  const [chatId, seq] = decodeCursor('after', after, { parts: ['uuid', 'int'] }) as [string, number];
  const message = await deps.prisma.message.findUnique({
    where: { chatId_seq: { chatId, seq } },
    select: { id: true },
  });
  if (!message) throw resyncRequired();
  return resumePosition(deps.changes, { ref: message.id, topics });
}

/** Edits, deletions and status changes of messages in one chat or all of the viewer's (pub/sub, live only). */
export async function updatedMessages(
  deps: AppDeps,
  viewerId: string,
  chatId: string | null,
): Promise<AsyncIterableIterator<ChatMessageEvent>> {
  if (chatId) await requireMembership(deps.prisma, viewerId, chatId);
  const source = deps.pubsub.subscribe<ChatMessageEvent | ChatLeftEvent>(userChatTopic(viewerId));
  return filterMessages(source, (event) => {
    if (event.type === 'left') return chatId && event.chatId === chatId ? END_STREAM : null;
    if (event.type !== 'updated' || (chatId && event.chatId !== chatId)) return null;
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
