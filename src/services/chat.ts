// Chats and messages: direct, group and event chats, idempotent sends in exact order, edits,
// deletions, read and delivery markers, and typing. Changes are published after commit to
// each member's own topic, so someone who leaves stops hearing a chat at once.
import type { AppDeps } from '../context.ts';
import { badInput, conflict, forbidden, isUniqueViolation, notFound } from '../errors.ts';
import type { Message, Prisma } from '../generated/prisma/client.ts';
import { orderedPair, requireUser } from './social.ts';
import { isUuid, text } from './validation.ts';

type Tx = Prisma.TransactionClient;
type Query = object;

export const CHAT_LIMITS = { body: 4000, title: 255, clientMessageId: 100, groupMembers: 100 } as const;
/** Typing shows for this long unless renewed. */
export const TYPING_TTL_MS = 6_000;

/** What subscribers of a user's chat topic receive. */
export interface ChatMessageEvent {
  type: 'added' | 'updated';
  chatId: string;
  messageId: string;
}

export interface TypingEvent {
  chatId: string;
  userId: string;
  isTyping: boolean;
}

export const userChatTopic = (userId: string) => `chat:user:${userId}`;
export const typingTopic = (chatId: string) => `chat:typing:${chatId}`;

/** The chat if the viewer is a member; NOT_FOUND otherwise (non-members never learn it exists). */
export async function requireMembership(db: Tx | AppDeps['prisma'], viewerId: string, chatId: string): Promise<void> {
  const member = isUuid(chatId) ? await db.chatMember.findUnique({ where: { chatId_userId: { chatId, userId: viewerId } }, select: { userId: true } }) : null;
  if (!member) throw Object.assign(notFound('Chat'), { field: 'chatId' });
}

async function publishToMembers(deps: AppDeps, chatId: string, events: ChatMessageEvent[]): Promise<void> {
  if (!events.length) return;
  const members = await deps.prisma.chatMember.findMany({ where: { chatId }, select: { userId: true } });
  await Promise.all(members.flatMap((m) => events.map((e) => deps.pubsub.publish(userChatTopic(m.userId), e))));
}

export async function openDirectChat(deps: AppDeps, viewerId: string, userId: string, query: Query = {}) {
  if (userId === viewerId) throw badInput('userId', 'A direct chat needs someone else');
  await requireUser(deps.prisma, userId);
  if (!(await deps.prisma.friendship.findUnique({ where: { userAId_userBId: orderedPair(viewerId, userId) } }))) {
    throw forbidden('Direct chats are between friends');
  }
  const { userAId, userBId } = orderedPair(viewerId, userId);
  const directKey = `${userAId}:${userBId}`;
  const existing = await deps.prisma.chat.findUnique({ ...query, where: { directKey } });
  if (existing) return existing;
  try {
    return await deps.prisma.chat.create({
      ...query,
      data: { kind: 'DIRECT', directKey, createdById: viewerId, members: { create: [{ userId: viewerId }, { userId }] } },
    });
  } catch (error) {
    // Both opened it at once: the other request created it.
    if (isUniqueViolation(error)) return deps.prisma.chat.findUniqueOrThrow({ ...query, where: { directKey } });
    throw error;
  }
}

export async function createGroupChat(deps: AppDeps, viewerId: string, rawTitle: string, memberIds: readonly (string | number)[], query: Query = {}) {
  const title = text('title', rawTitle, { min: 1, max: CHAT_LIMITS.title });
  const others = [...new Set(memberIds.map(String))].filter((id) => id !== viewerId);
  if (others.length === 0) throw badInput('memberIds', 'A group needs at least one other member');
  if (others.length > CHAT_LIMITS.groupMembers) throw badInput('memberIds', `A group holds at most ${CHAT_LIMITS.groupMembers} others`);
  const unknown = others.find((id) => !isUuid(id));
  if (unknown) throw Object.assign(notFound(`User ${unknown}`), { field: 'memberIds' });
  const friendships = await deps.prisma.friendship.findMany({
    where: { OR: others.map((id) => orderedPair(viewerId, id)) },
    select: { userAId: true, userBId: true },
  });
  const friends = new Set(friendships.map((f) => (f.userAId === viewerId ? f.userBId : f.userAId)));
  const stranger = others.find((id) => !friends.has(id));
  if (stranger) throw Object.assign(forbidden(`Group members must be your friends (${stranger} is not)`), { field: 'memberIds' });
  return deps.prisma.chat.create({
    ...query,
    data: { kind: 'GROUP', title, createdById: viewerId, members: { create: [viewerId, ...others].map((userId) => ({ userId })) } },
  });
}

export interface SendResult {
  message: Message;
  /** False when a retry returned the message stored by an earlier attempt. */
  created: boolean;
}

/**
 * Sends a message. The chat row's lock hands out sequence numbers, so concurrent sends get
 * distinct, gapless positions; a retry with the same clientMessageId returns the stored
 * message and publishes nothing.
 */
export async function sendMessage(deps: AppDeps, viewerId: string, chatId: string, rawBody: string, clientMessageId?: string | null): Promise<SendResult> {
  const body = text('body', rawBody, { min: 1, max: CHAT_LIMITS.body });
  const clientId = clientMessageId ? text('clientMessageId', clientMessageId, { min: 1, max: CHAT_LIMITS.clientMessageId }) : null;
  await requireMembership(deps.prisma, viewerId, chatId);
  const previous = async () =>
    clientId ? deps.prisma.message.findUnique({ where: { senderId_clientMessageId: { senderId: viewerId, clientMessageId: clientId } } }) : null;
  const earlier = await previous();
  if (earlier) return { message: sameChat(earlier, chatId), created: false };
  await deps.rateLimiter.consume('sendMessagePerUser', viewerId);

  let message: Message;
  let readBefore: number;
  try {
    [message, readBefore] = await deps.prisma.$transaction(async (tx) => {
      const [{ last_seq: seq }] = await tx.$queryRaw<Array<{ last_seq: number }>>`
        UPDATE chats SET last_seq = last_seq + 1, last_activity_at = now() WHERE id = ${chatId}::uuid RETURNING last_seq`;
      const created = await tx.message.create({ data: { chatId, seq, senderId: viewerId, body, clientMessageId: clientId } });
      // Sending means the sender has seen the chat up to here.
      const { lastReadSeq } = await tx.chatMember.findUniqueOrThrow({ where: { chatId_userId: { chatId, userId: viewerId } }, select: { lastReadSeq: true } });
      await tx.chatMember.update({
        where: { chatId_userId: { chatId, userId: viewerId } },
        data: { lastReadSeq: seq, lastDeliveredSeq: seq },
      });
      return [created, lastReadSeq] as const;
    });
  } catch (error) {
    // A retry raced the first attempt: answer with what the first one stored.
    const stored = isUniqueViolation(error) ? await previous() : null;
    if (stored) return { message: sameChat(stored, chatId), created: false };
    throw error;
  }
  await publishToMembers(deps, chatId, [{ type: 'added', chatId, messageId: message.id }]);
  // Replying reads what came before: their senders see it turn READ.
  await publishStatusChanges(deps, viewerId, chatId, readBefore, message.seq - 1);
  return { message, created: true };
}

function sameChat(message: Message, chatId: string): Message {
  if (message.chatId !== chatId) throw conflict('That clientMessageId was already used in another chat', 'clientMessageId');
  return message;
}

async function ownMessage(deps: AppDeps, viewerId: string, id: string): Promise<Message> {
  const message = isUuid(id) ? await deps.prisma.message.findUnique({ where: { id } }) : null;
  if (!message) throw notFound('Message');
  await requireMembership(deps.prisma, viewerId, message.chatId).catch(() => {
    throw notFound('Message');
  });
  if (message.senderId !== viewerId) throw forbidden('Only the sender can change a message');
  return message;
}

export async function editMessage(deps: AppDeps, viewerId: string, id: string, rawBody: string): Promise<Message> {
  const body = text('body', rawBody, { min: 1, max: CHAT_LIMITS.body });
  const message = await ownMessage(deps, viewerId, id);
  if (message.deletedAt) throw conflict('A deleted message cannot be edited');
  const { count } = await deps.prisma.message.updateMany({ where: { id, deletedAt: null }, data: { body, editedAt: new Date() } });
  if (count === 0) throw conflict('A deleted message cannot be edited');
  await publishToMembers(deps, message.chatId, [{ type: 'updated', chatId: message.chatId, messageId: id }]);
  return deps.prisma.message.findUniqueOrThrow({ where: { id } });
}

/** Empties the body and marks the message deleted; the row stays so the conversation keeps its shape. */
export async function deleteMessage(deps: AppDeps, viewerId: string, id: string): Promise<Message> {
  const message = await ownMessage(deps, viewerId, id);
  if (!message.deletedAt) {
    await deps.prisma.message.update({ where: { id }, data: { body: '', deletedAt: new Date() } });
    await publishToMembers(deps, message.chatId, [{ type: 'updated', chatId: message.chatId, messageId: id }]);
  }
  return deps.prisma.message.findUniqueOrThrow({ where: { id } });
}

/** Status changes published per marker move, at most this many (the newest). */
const STATUS_EVENTS_MAX = 50;

/**
 * Moves the viewer's read (and delivery) marker up to `upToSeq` (default: the latest message)
 * and publishes status changes of the messages of others it passed.
 */
export async function markRead(deps: AppDeps, viewerId: string, chatId: string): Promise<void> {
  await requireMembership(deps.prisma, viewerId, chatId);
  await advanceMarkers(deps, viewerId, chatId, { read: true });
}

/** Records that messages up to `upToSeq` reached the viewer (fetched or pushed). */
export async function markDelivered(deps: AppDeps, viewerId: string, chatId: string, upToSeq: number): Promise<void> {
  await advanceMarkers(deps, viewerId, chatId, { read: false, upToSeq });
}

async function advanceMarkers(deps: AppDeps, viewerId: string, chatId: string, opts: { read: boolean; upToSeq?: number }) {
  const moved = await deps.prisma.$queryRaw<Array<{ before: number; after: number }>>`
    WITH target AS (SELECT LEAST(COALESCE(${opts.upToSeq ?? null}::int, last_seq), last_seq) AS seq FROM chats WHERE id = ${chatId}::uuid),
    old AS (SELECT last_read_seq, last_delivered_seq FROM chat_members WHERE chat_id = ${chatId}::uuid AND user_id = ${viewerId}::uuid FOR UPDATE)
    UPDATE chat_members m SET
      last_delivered_seq = GREATEST(m.last_delivered_seq, (SELECT seq FROM target)),
      last_read_seq = CASE WHEN ${opts.read}::boolean THEN GREATEST(m.last_read_seq, (SELECT seq FROM target)) ELSE m.last_read_seq END
    FROM old
    WHERE m.chat_id = ${chatId}::uuid AND m.user_id = ${viewerId}::uuid
    RETURNING (CASE WHEN ${opts.read}::boolean THEN old.last_read_seq ELSE old.last_delivered_seq END) AS before,
              (CASE WHEN ${opts.read}::boolean THEN m.last_read_seq ELSE m.last_delivered_seq END) AS after`;
  const change = moved[0];
  if (change) await publishStatusChanges(deps, viewerId, chatId, change.before, change.after);
}

/** Publishes the status change of others' messages the viewer's marker passed (fromSeq, toSeq]. */
async function publishStatusChanges(deps: AppDeps, viewerId: string, chatId: string, fromSeq: number, toSeq: number) {
  if (toSeq <= fromSeq) return;
  const passed = await deps.prisma.message.findMany({
    where: { chatId, senderId: { not: viewerId }, seq: { gt: fromSeq, lte: toSeq } },
    orderBy: { seq: 'desc' },
    take: STATUS_EVENTS_MAX,
    select: { id: true },
  });
  await publishToMembers(
    deps,
    chatId,
    passed.reverse().map((m) => ({ type: 'updated' as const, chatId, messageId: m.id })),
  );
}

export async function setTyping(deps: AppDeps, viewerId: string, chatId: string, isTyping: boolean): Promise<boolean> {
  await requireMembership(deps.prisma, viewerId, chatId);
  await deps.pubsub.publish(typingTopic(chatId), { chatId, userId: viewerId, isTyping } satisfies TypingEvent);
  return true;
}

/** Adds the user to an event's chat, creating the chat with the host when missing. */
export async function joinEventChat(tx: Tx, eventId: string, hostId: string, userId: string): Promise<void> {
  const chat = await tx.chat.upsert({
    where: { eventId },
    create: { kind: 'EVENT', eventId, createdById: hostId, members: { create: [{ userId: hostId }] } },
    update: {},
    select: { id: true },
  });
  await tx.chatMember.createMany({ data: [{ chatId: chat.id, userId }], skipDuplicates: true });
}

export async function leaveEventChat(tx: Tx, eventId: string, userId: string): Promise<void> {
  await tx.chatMember.deleteMany({ where: { userId, chat: { eventId } } });
}

/** A page of history; fetching counts as delivery to the viewer. */
export async function afterHistoryFetch(deps: AppDeps, viewerId: string, chatId: string, seqs: number[]): Promise<void> {
  if (seqs.length) await markDelivered(deps, viewerId, chatId, Math.max(...seqs));
}
