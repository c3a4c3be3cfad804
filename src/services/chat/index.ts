// Chats and messages: direct, group and event chats, idempotent sends in exact order, edits,
// deletions, read and delivery markers, and typing. Changes go to each member's own topic, so
// someone who leaves stops hearing a chat at once: added messages through the change log
// (resumable, src/changes/), the rest through pub/sub after commit.
import { randomUUID } from 'node:crypto';
import type { AppDeps } from '../../context.ts';
import { badInput, conflict, DomainError, forbidden, isUniqueViolation, notFound } from '../../lib/errors.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import type { Message } from '../../generated/prisma/client.ts';
import { orderedPair, requireUser } from '../social/index.ts';
import { blockedBetweenSql } from '../social/blocks.ts';
import { instantSql } from '../../db/sql.ts';
import { isUuid, text } from '../../lib/validation.ts';

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
  /** Set on 'added': lets subscribers mark delivery without reading the message first. */
  senderId?: string;
  seq?: number;
  /** Set on 'added' (by this version on): the message as sent, so a live delivery needs no read of it. */
  sent?: SentMessage;
}

/** A message as it was sent, with its sender's public name and avatar then (see ChatMessageEvent.sent). */
export interface SentMessage {
  body: string;
  clientMessageId: string | null;
  /** In the DateTime scalar's form. */
  createdAt: string;
  sender: { username: string; fullName: string; avatarKey: string | null };
}

export interface TypingEvent {
  chatId: string;
  userId: string;
  isTyping: boolean;
}

/** Sent to a member's own topics when they leave a chat: its streams for that chat end. */
export interface ChatLeftEvent {
  type: 'left';
  chatId: string;
}

const USER_CHAT_TOPIC = 'chat:user:';
/** A member's chat topic: messages added to their chats (in the change log), updates and leaves (pub/sub). */
export const userChatTopic = (userId: string) => `${USER_CHAT_TOPIC}${userId}`;
/** A member's typing topic: typing in each of their chats, published to the members of the moment. */
export const userTypingTopic = (userId: string) => `chat:typing:user:${userId}`;

/** The chat if the viewer is a member; NOT_FOUND otherwise (non-members never learn it exists). */
export async function requireMembership(db: Tx | AppDeps['prisma'], viewerId: string, chatId: string): Promise<void> {
  const member = isUuid(chatId)
    ? await db.chatMember.findUnique({
        where: { chatId_userId: { chatId, userId: viewerId } },
        select: { userId: true },
      })
    : null;
  if (!member) throw notFound('Chat', { field: 'chatId' });
}

async function publishToMembers(deps: AppDeps, chatId: string, events: ChatMessageEvent[]): Promise<void> {
  if (!events.length) return;
  const members = await deps.prisma.chatMember.findMany({ where: { chatId }, select: { userId: true } });
  await publishEvents(
    deps,
    members.map((m) => m.userId),
    events,
  );
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
      data: {
        kind: 'DIRECT',
        directKey,
        createdById: viewerId,
        members: { create: [{ userId: viewerId }, { userId }] },
      },
    });
  } catch (error) {
    // Both opened it at once: the other request created it.
    if (isUniqueViolation(error)) return deps.prisma.chat.findUniqueOrThrow({ ...query, where: { directKey } });
    throw error;
  }
}

export async function createGroupChat(
  deps: AppDeps,
  viewerId: string,
  rawTitle: string,
  memberIds: readonly (string | number)[],
  query: Query = {},
) {
  const title = text('title', rawTitle, { min: 1, max: CHAT_LIMITS.title });
  const others = [...new Set(memberIds.map(String))].filter((id) => id !== viewerId);
  if (others.length === 0) throw badInput('memberIds', 'A group needs at least one other member');
  if (others.length > CHAT_LIMITS.groupMembers)
    throw badInput('memberIds', `A group holds at most ${CHAT_LIMITS.groupMembers} others`);
  const unknown = others.find((id) => !isUuid(id));
  if (unknown) throw notFound(`User ${unknown}`, { field: 'memberIds' });
  const friendships = await deps.prisma.friendship.findMany({
    where: { OR: others.map((id) => orderedPair(viewerId, id)) },
    select: { userAId: true, userBId: true },
  });
  const friends = new Set(friendships.map((f) => (f.userAId === viewerId ? f.userBId : f.userAId)));
  const stranger = others.find((id) => !friends.has(id));
  if (stranger) throw forbidden(`Group members must be your friends (${stranger} is not)`, { field: 'memberIds' });
  return deps.prisma.chat.create({
    ...query,
    data: {
      kind: 'GROUP',
      title,
      createdById: viewerId,
      members: { create: [viewerId, ...others].map((userId) => ({ userId })) },
    },
  });
}

interface SendResult {
  message: Message;
  /** False when a retry returned the message stored by an earlier attempt. */
  created: boolean;
}

/** True when a Pothos query (`{ include }` or `{ select }`) loads relations, not only columns. */
const hasRelations = (query: { include?: object; select?: object }) =>
  Object.keys(query.include ?? {}).length > 0 ||
  Object.values(query.select ?? {}).some((v) => typeof v === 'object' && v !== null);

/**
 * Sends a message (see storeMessage) and returns it read with the query. The stored row
 * already serves a selection of its own columns; only relations cost the extra read.
 */
export async function sendMessage(
  deps: AppDeps,
  viewerId: string,
  chatId: string,
  rawBody: string,
  clientMessageId?: string | null,
  query: Query = {},
): Promise<Message> {
  const { message } = await storeMessage(deps, viewerId, chatId, rawBody, clientMessageId);
  if (!hasRelations(query)) return message;
  return deps.prisma.message.findUniqueOrThrow({ ...query, where: { id: message.id } });
}

/**
 * Sends a message. The chat row's lock hands out sequence numbers, so concurrent sends get
 * distinct, gapless positions; a retry with the same clientMessageId returns the stored
 * message and publishes nothing.
 *
 * One statement: it checks membership, blocking and an earlier attempt, and when they allow,
 * bumps the chat's sequence under its row lock, inserts the message, moves the sender's
 * markers and records the change for the members' messageAdded. A single statement is atomic
 * and holds the chat row's lock only inside PostgreSQL, never across round trips to this
 * process. The send's rate limit is spent before it, and given back when nothing was stored
 * (a refusal, a retry); a retry of a stored message is answered even over the limit.
 */
async function storeMessage(
  deps: AppDeps,
  viewerId: string,
  chatId: string,
  rawBody: string,
  clientMessageId?: string | null,
): Promise<SendResult> {
  const body = text('body', rawBody, { min: 1, max: CHAT_LIMITS.body });
  const clientId = clientMessageId
    ? text('clientMessageId', clientMessageId, { min: 1, max: CHAT_LIMITS.clientMessageId })
    : null;
  if (!isUuid(chatId)) throw notFound('Chat', { field: 'chatId' });
  const previous = async () =>
    clientId
      ? deps.prisma.message.findUnique({
          where: { senderId_clientMessageId: { senderId: viewerId, clientMessageId: clientId } },
        })
      : null;
  /** The stored message of an earlier attempt, for a sender the checks allow (refusals thrown). */
  const earlierAttempt = async (checks: SendChecks | undefined) => {
    if (!checks?.member) throw notFound('Chat', { field: 'chatId' });
    // A direct chat with someone blocked (either way) still loads, but takes no new message.
    if (checks.blocked) throw forbidden('You cannot message this user', { field: 'chatId' });
    const earlier = checks.earlier ? await previous() : null;
    return earlier && { message: sameChat(earlier, chatId), created: false };
  };
  try {
    await deps.rateLimiter.consume('sendMessagePerUser', viewerId);
  } catch (error) {
    // Past the budget, a retry of a stored message is still answered (by the same checks).
    if (!(error instanceof DomainError && error.code === 'RATE_LIMITED') || !clientId) throw error;
    const [checks] = await deps.db.query<SendChecks>(sendChecks(viewerId, chatId, clientId));
    const answer = await earlierAttempt(checks);
    if (answer) return answer;
    throw error;
  }
  const storedNothing = () => deps.rateLimiter.refund('sendMessagePerUser', viewerId);

  let row: SendRow | undefined;
  try {
    [row] = await deps.db.query<SendRow>(Prisma.sql`
      WITH allowed AS (${sendChecks(viewerId, chatId, clientId)}),
      bump AS (
        UPDATE chats SET last_seq = last_seq + 1, last_activity_at = now()
        WHERE id = ${chatId}::uuid
          AND (SELECT member AND NOT blocked AND earlier IS NULL FROM allowed)
          AND EXISTS (SELECT 1 FROM chat_members WHERE chat_id = ${chatId}::uuid AND user_id = ${viewerId}::uuid)
        RETURNING id, last_seq),
      ins AS (
        INSERT INTO messages (id, chat_id, seq, sender_id, body, client_message_id, created_at)
        SELECT ${uuidv7()}::uuid, id, last_seq, ${viewerId}::uuid, ${body}, ${clientId}, ${new Date()}::timestamptz FROM bump
        RETURNING id, chat_id, seq, sender_id, body, client_message_id, created_at),
      old AS (
        -- Sending means the sender has seen the chat up to here.
        SELECT m.chat_id, m.user_id, m.last_read_seq FROM chat_members m JOIN ins ON m.chat_id = ins.chat_id
        WHERE m.user_id = ${viewerId}::uuid FOR UPDATE OF m),
      moved AS (
        UPDATE chat_members m SET last_read_seq = ins.seq, last_delivered_seq = ins.seq FROM ins, old
        WHERE m.chat_id = old.chat_id AND m.user_id = old.user_id
        RETURNING old.last_read_seq AS read_before),
      logged AS (
        -- The change messageAdded delivers (src/changes/), for every member's chat topic; the
        -- payload is a ChatMessageEvent in the pub/sub codec's form of a plain object.
        INSERT INTO change_log (topics, payload, ref)
        SELECT ARRAY(SELECT ${USER_CHAT_TOPIC} || user_id::text FROM chat_members WHERE chat_id = ins.chat_id),
               json_build_object('json', json_build_object(
                 'type', 'added', 'chatId', ins.chat_id::text, 'messageId', ins.id::text,
                 'senderId', ins.sender_id::text, 'seq', ins.seq,
                 'sent', (SELECT json_build_object(
                   'body', ins.body, 'clientMessageId', ins.client_message_id,
                   'createdAt', ${instantSql('ins.created_at')},
                   'sender', json_build_object('username', u.username, 'fullName', u.full_name,
                     'avatarKey', (SELECT i.key FROM images i WHERE i.user_id = u.id AND i.is_primary)))
                   FROM users u WHERE u.id = ins.sender_id)))::text,
               ins.id
        FROM ins)
      SELECT allowed.member, allowed.blocked, allowed.earlier,
             ins.id::text AS id, ins.chat_id::text AS "chatId", ins.seq, ins.sender_id::text AS "senderId", ins.body,
             ins.client_message_id AS "clientMessageId", ins.created_at AS "createdAt",
             (SELECT read_before FROM moved) AS "readBefore"
      FROM allowed LEFT JOIN ins ON true`);
  } catch (error) {
    // A retry raced the first attempt: answer with what the first one stored.
    const stored = isUniqueViolation(error) ? await previous() : null;
    await storedNothing();
    if (stored) return { message: sameChat(stored, chatId), created: false };
    throw error;
  }
  if (!row?.id) {
    await storedNothing();
    const answer = await earlierAttempt(row);
    if (answer) return answer;
  }
  // Nothing stored otherwise: the sender left meanwhile (the bump checks membership under the
  // chat row's lock), or an earlier attempt was deleted since.
  if (!row?.id) throw notFound('Chat', { field: 'chatId' });
  const { readBefore, member: _member, blocked: _blocked, earlier: _earlier, ...fields } = row;
  const message: Message = { ...fields, editedAt: null, deletedAt: null };
  deps.changes.committed();
  // Replying reads what came before: their senders see it turn READ.
  await publishStatusChanges(deps, viewerId, chatId, readBefore ?? message.seq - 1, message.seq - 1);
  return { message, created: true };
}

/** What allows a send: membership, no block in a direct chat, no earlier attempt with its clientMessageId. */
interface SendChecks {
  member: boolean;
  blocked: boolean;
  /** The id of the message an earlier attempt stored. */
  earlier: string | null;
}

/** The checks of a send, as one row. */
const sendChecks = (viewerId: string, chatId: string, clientId: string | null) => Prisma.sql`
  SELECT EXISTS (SELECT 1 FROM chat_members WHERE chat_id = ${chatId}::uuid AND user_id = ${viewerId}::uuid) AS member,
         (SELECT id::text FROM messages WHERE sender_id = ${viewerId}::uuid AND client_message_id = ${clientId}) AS earlier,
         EXISTS (SELECT 1 FROM chats c JOIN chat_members o ON o.chat_id = c.id AND o.user_id <> ${viewerId}::uuid
                 WHERE c.id = ${chatId}::uuid AND c.kind = 'DIRECT'
                   AND ${blockedBetweenSql(Prisma.sql`o.user_id`, Prisma.sql`${viewerId}::uuid`)}) AS blocked`;

/** What the send statement answers: its checks, and the message stored (all null when none was). */
type SendRow = SendChecks & { readBefore: number | null } & (
    | {
        id: string;
        chatId: string;
        seq: number;
        senderId: string;
        body: string;
        clientMessageId: string | null;
        createdAt: Date;
      }
    | { id: null }
  );

/** A UUIDv7 (time-ordered), as Prisma's @default(uuid(7)) makes them: a random UUID's bits under a millisecond timestamp. */
function uuidv7(): string {
  const random = randomUUID();
  const ms = Date.now().toString(16).padStart(12, '0');
  return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7${random.slice(15)}`;
}

function sameChat(message: Message, chatId: string): Message {
  if (message.chatId !== chatId)
    throw conflict('That clientMessageId was already used in another chat', { field: 'clientMessageId' });
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

export async function editMessage(
  deps: AppDeps,
  viewerId: string,
  id: string,
  rawBody: string,
  query: Query = {},
): Promise<Message> {
  const body = text('body', rawBody, { min: 1, max: CHAT_LIMITS.body });
  const message = await ownMessage(deps, viewerId, id);
  if (message.deletedAt) throw conflict('A deleted message cannot be edited');
  const { count } = await deps.prisma.message.updateMany({
    where: { id, deletedAt: null },
    data: { body, editedAt: new Date() },
  });
  if (count === 0) throw conflict('A deleted message cannot be edited');
  await forgetSentInTx(deps.prisma, Prisma.sql`ref = ${id}::uuid`);
  await publishToMembers(deps, message.chatId, [{ type: 'updated', chatId: message.chatId, messageId: id }]);
  return deps.prisma.message.findUniqueOrThrow({ ...query, where: { id } });
}

/** Empties the body and marks the message deleted; the row stays so the conversation keeps its shape. */
export async function deleteMessage(deps: AppDeps, viewerId: string, id: string, query: Query = {}): Promise<Message> {
  const message = await ownMessage(deps, viewerId, id);
  if (!message.deletedAt) {
    await removeMessageInTx(deps.prisma, id);
    await publishMessageRemoved(deps, message);
  }
  return deps.prisma.message.findUniqueOrThrow({ ...query, where: { id } });
}

/**
 * Empties a message and marks it deleted, whoever sent it (the sender, or moderation in its
 * transaction). The message when this removed it; null when it was gone or removed already.
 */
export async function removeMessageInTx(
  db: Tx | AppDeps['prisma'],
  id: string,
): Promise<Pick<Message, 'id' | 'chatId'> | null> {
  const [removed] = await db.message.updateManyAndReturn({
    where: { id, deletedAt: null },
    data: { body: '', deletedAt: new Date() },
    select: { id: true, chatId: true },
  });
  if (removed) await forgetSentInTx(db, Prisma.sql`ref = ${id}::uuid`);
  return removed ?? null;
}

/**
 * Takes the message as sent (ChatMessageEvent.sent) out of the change log's rows for messages
 * that were edited, removed, or whose sender deleted their account: the log keeps no text or
 * name the messages no longer show (replays read the messages themselves), and a late live
 * frame for them is executed from the row.
 */
export async function forgetSentInTx(db: Tx | AppDeps['prisma'], refs: Prisma.Sql): Promise<void> {
  await db.$executeRaw`
    UPDATE change_log SET payload = (payload::jsonb #- '{json,sent}')::text
    WHERE ${refs} AND payload LIKE '%"sent"%'`;
}

/** After the commit of a removal: the chat's members see the message emptied (messageUpdated). */
export async function publishMessageRemoved(deps: AppDeps, message: Pick<Message, 'id' | 'chatId'>): Promise<void> {
  await publishToMembers(deps, message.chatId, [{ type: 'updated', chatId: message.chatId, messageId: message.id }]);
}

/** Status changes published per marker move, at most this many (the newest). */
const STATUS_EVENTS_MAX = 50;

/**
 * Moves the viewer's read (and delivery) marker up to `upToSeq` (default: the latest message)
 * and publishes status changes of the messages of others it passed.
 */
export async function markRead(deps: AppDeps, viewerId: string, chatId: string, query: Query = {}) {
  await requireMembership(deps.prisma, viewerId, chatId);
  await advanceMarkers(deps, [{ viewerId, chatId, upToSeq: null }], { read: true });
  return deps.prisma.chat.findUniqueOrThrow({ ...query, where: { id: chatId } });
}

/** Records that messages up to `upToSeq` reached the viewer (fetched). */
export async function markDelivered(deps: AppDeps, viewerId: string, chatId: string, upToSeq: number): Promise<void> {
  await advanceMarkers(deps, [{ viewerId, chatId, upToSeq }], { read: false });
}

/**
 * How long pushed deliveries wait to be recorded together: one statement for all the chats
 * of an instance's subscribers then, instead of one per message pushed (a status tick a
 * tenth of a second later is not seen; 200 statements and commits a second are).
 */
const DELIVERIES_BATCH_MS = 100;
/** Marker moves in one statement at most; more wait for the next one, at once. */
const DELIVERIES_BATCH_MAX = 500;

/** Pushed deliveries not yet recorded, per instance: viewer and chat → the highest seq pushed. */
interface PendingDeliveries {
  moves: Map<string, MarkerMove & { upToSeq: number }>;
  timer?: NodeJS.Timeout;
  /** The statement being run, if any: one at a time, so a later batch never undoes an earlier one's order. */
  running?: Promise<void>;
}
const pendingDeliveries = new WeakMap<AppDeps, PendingDeliveries>();

/**
 * markDelivered without making the caller wait, for subscriptions: the frame goes out at once,
 * and the deliveries pushed by this instance within DELIVERIES_BATCH_MS are recorded in one
 * statement (per viewer and chat, up to the highest seq pushed: markers only move forward).
 * Failures are logged; a fetch or a read records the marker again.
 */
export function markDeliveredSoon(deps: AppDeps, viewerId: string, chatId: string, upToSeq: number): void {
  let pending = pendingDeliveries.get(deps);
  if (!pending) pendingDeliveries.set(deps, (pending = { moves: new Map() }));
  const key = `${viewerId}:${chatId}`;
  const move = pending.moves.get(key);
  if (move) move.upToSeq = Math.max(move.upToSeq, upToSeq);
  else pending.moves.set(key, { viewerId, chatId, upToSeq });
  if (!pending.timer && !pending.running) scheduleDeliveries(deps, pending);
}

function scheduleDeliveries(deps: AppDeps, pending: PendingDeliveries): void {
  pending.timer = setTimeout(() => void recordDeliveries(deps, pending), DELIVERIES_BATCH_MS);
  pending.timer.unref();
}

/** Records the pushed deliveries now (at shutdown, before the pool closes). */
export async function flushDeliveries(deps: AppDeps): Promise<void> {
  const pending = pendingDeliveries.get(deps);
  if (!pending) return;
  for (;;) {
    if (pending.running) await pending.running;
    else if (pending.moves.size) await recordDeliveries(deps, pending);
    else return;
  }
}

async function recordDeliveries(deps: AppDeps, pending: PendingDeliveries): Promise<void> {
  clearTimeout(pending.timer);
  pending.timer = undefined;
  const batch: MarkerMove[] = [];
  for (const [key, move] of pending.moves) {
    if (batch.length === DELIVERIES_BATCH_MAX) break;
    batch.push(move);
    pending.moves.delete(key);
  }
  pending.running = advanceMarkers(deps, batch, { read: false, background: true }).catch((err: unknown) =>
    deps.logger.warn({ err, chats: batch.length }, 'recording deliveries failed'),
  );
  await pending.running;
  pending.running = undefined;
  if (pending.moves.size > DELIVERIES_BATCH_MAX) return recordDeliveries(deps, pending);
  if (pending.moves.size) scheduleDeliveries(deps, pending);
}

/** One member's read or delivery marker, to move up to `upToSeq` (null: the latest message). */
interface MarkerMove {
  viewerId: string;
  chatId: string;
  upToSeq: number | null;
}

/**
 * One statement for any number of members and chats: moves each marker when that advances it
 * (locking the members' rows in one order, so batches of two instances cannot deadlock), and
 * returns per moved marker the messages of others it passed (the newest STATUS_EVENTS_MAX) and
 * the members to tell, who are then told.
 */
async function advanceMarkers(
  deps: AppDeps,
  moves: readonly MarkerMove[],
  opts: { read: boolean; background?: boolean },
) {
  const changes = await deps.db.query<{ chatId: string; passed: string[]; members: string[] }>(
    Prisma.sql`
    WITH target AS (
      SELECT i.chat_id, i.user_id, LEAST(COALESCE(i.up_to, c.last_seq), c.last_seq) AS seq
      FROM unnest(${moves.map((m) => m.chatId)}::uuid[], ${moves.map((m) => m.viewerId)}::uuid[],
                  ${moves.map((m) => m.upToSeq)}::int[]) AS i(chat_id, user_id, up_to)
      JOIN chats c ON c.id = i.chat_id),
    old AS (
      SELECT m.chat_id, m.user_id, m.last_read_seq, m.last_delivered_seq, t.seq
      FROM chat_members m JOIN target t ON t.chat_id = m.chat_id AND t.user_id = m.user_id
      WHERE m.last_delivered_seq < t.seq OR (${opts.read}::boolean AND m.last_read_seq < t.seq)
      ORDER BY m.chat_id, m.user_id
      FOR UPDATE OF m),
    moved AS (
      UPDATE chat_members m SET
        last_delivered_seq = GREATEST(m.last_delivered_seq, old.seq),
        last_read_seq = CASE WHEN ${opts.read}::boolean THEN GREATEST(m.last_read_seq, old.seq) ELSE m.last_read_seq END
      FROM old
      WHERE m.chat_id = old.chat_id AND m.user_id = old.user_id
      RETURNING m.chat_id, m.user_id,
                (CASE WHEN ${opts.read}::boolean THEN old.last_read_seq ELSE old.last_delivered_seq END) AS before,
                (CASE WHEN ${opts.read}::boolean THEN m.last_read_seq ELSE m.last_delivered_seq END) AS after)
    SELECT moved.chat_id::text AS "chatId",
           ARRAY(SELECT id::text FROM (
             SELECT msg.id, msg.seq FROM messages msg
             WHERE msg.chat_id = moved.chat_id AND msg.sender_id <> moved.user_id AND msg.seq > moved.before AND msg.seq <= moved.after
             ORDER BY msg.seq DESC LIMIT ${STATUS_EVENTS_MAX}) p ORDER BY seq) AS passed,
           ARRAY(SELECT user_id::text FROM chat_members WHERE chat_id = moved.chat_id) AS members
    FROM moved`,
    { background: opts.background },
  );
  await Promise.all(
    changes.map(({ chatId, passed, members }) =>
      publishEvents(
        deps,
        members,
        passed.map((id) => ({ type: 'updated' as const, chatId, messageId: id })),
      ),
    ),
  );
}

/** Publishes the events to each member's own topic. */
async function publishEvents(deps: AppDeps, memberIds: readonly string[], events: ChatMessageEvent[]): Promise<void> {
  await Promise.all(memberIds.flatMap((userId) => events.map((e) => deps.pubsub.publish(userChatTopic(userId), e))));
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

/**
 * Tells the chat's other members, each on their own topic, as messages are: membership is read
 * for every typing event, so someone who left hears no more of it.
 */
export async function setTyping(deps: AppDeps, viewerId: string, chatId: string, isTyping: boolean): Promise<boolean> {
  const members = isUuid(chatId)
    ? await deps.prisma.chatMember.findMany({ where: { chatId }, select: { userId: true } })
    : [];
  if (!members.some((m) => m.userId === viewerId)) throw notFound('Chat', { field: 'chatId' });
  const event: TypingEvent = { chatId, userId: viewerId, isTyping };
  await Promise.all(
    members.filter((m) => m.userId !== viewerId).map((m) => deps.pubsub.publish(userTypingTopic(m.userId), event)),
  );
  return true;
}

/** After the commit of a leave: ends the leaver's open message and typing streams of that chat at once. */
export async function publishChatLeft(deps: AppDeps, userId: string, chatId: string): Promise<void> {
  const event: ChatLeftEvent = { type: 'left', chatId };
  await Promise.all([
    deps.pubsub.publish(userChatTopic(userId), event),
    deps.pubsub.publish(userTypingTopic(userId), event),
  ]);
}

/** After a commit that took people out of chats: ends their open streams of those chats. */
export async function publishChatsLeft(
  deps: AppDeps,
  exits: ReadonlyArray<{ userId: string; chatId: string }>,
): Promise<void> {
  await Promise.all(exits.map((e) => publishChatLeft(deps, e.userId, e.chatId)));
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

/** Removes the user from an event's chat; the chat's id when they were in it (for publishChatLeft). */
export async function leaveEventChat(tx: Tx, eventId: string, userId: string): Promise<string | null> {
  const chat = await tx.chat.findUnique({ where: { eventId }, select: { id: true } });
  if (!chat) return null;
  const { count } = await tx.chatMember.deleteMany({ where: { userId, chatId: chat.id } });
  return count > 0 ? chat.id : null;
}

/** A page of history; fetching counts as delivery to the viewer. */
export async function afterHistoryFetch(
  deps: AppDeps,
  viewerId: string,
  chatId: string,
  seqs: number[],
): Promise<void> {
  if (seqs.length) await markDelivered(deps, viewerId, chatId, Math.max(...seqs));
}
