// Waitlists: a first-come queue for a full event. Every change to an event's attendance or
// queue runs under the event's row lock, so the queue's order is the order in which joiners
// took the lock (entry ids grow in it), and the one invariant holds at every commit: a
// published event with people waiting has no free spot. Whatever frees a spot (a guest
// leaves, the capacity is raised, an attending invitee declines) promotes the first in line in
// its own transaction, through promoteFromWaitlist.
import type { AppDeps } from '../../context.ts';
import { badInput, conflict, notFound } from '../../lib/errors.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import { isUuid } from '../../lib/validation.ts';
import { joinEventChat } from '../chat/index.ts';
import { notify } from '../notifications/index.ts';
import type { NotificationRef } from '../notifications/index.ts';
import { visibleEventSql } from './visibility.ts';
import { scheduleReminders } from './reminders.ts';

type Tx = Prisma.TransactionClient;
/** A query from Pothos (select/include) to spread into the final read. */
type Query = object;

interface LockedEvent {
  id: string;
  hostId: string;
  title: string;
  status: string;
  ended: boolean;
  spotsLeft: number;
}

/** Locks the event's row and reads it, if the viewer may see it; NOT_FOUND otherwise. */
async function lockVisible(tx: Tx, viewerId: string, id: string): Promise<LockedEvent> {
  if (!isUuid(id)) throw notFound('Event');
  const [event] = await tx.$queryRaw<LockedEvent[]>`
    SELECT e.id, e.host_id AS "hostId", e.title, e.status::text AS status, e.ends_at <= now() AS ended,
           e.max_participants - e.attendee_count AS "spotsLeft"
    FROM events e WHERE e.id = ${id}::uuid AND ${visibleEventSql(viewerId)} FOR UPDATE OF e`;
  if (!event) throw notFound('Event');
  return event;
}

/**
 * Queues the viewer for a full event (again: harmless, they keep their place). CONFLICT when
 * the event has a free spot (join it instead), is not open, has ended, or the viewer attends.
 */
export async function joinWaitlist(deps: AppDeps, viewerId: string, id: string, query: Query = {}) {
  await deps.prisma.$transaction(async (tx) => {
    const event = await lockVisible(tx, viewerId, id);
    if (event.hostId === viewerId) throw badInput('eventId', 'You host this event; hosts attend their own events');
    if (event.status === 'CANCELLED') throw conflict('This event was cancelled');
    if (event.status === 'DRAFT') throw conflict('This event is not published yet');
    if (event.ended) throw conflict('This event has ended');
    const attending = await tx.eventAttendee.count({ where: { eventId: event.id, userId: viewerId } });
    if (attending) throw conflict('You attend this event already');
    if (event.spotsLeft > 0) throw conflict('This event has free spots: join it instead');
    await tx.eventWaitlistEntry.createMany({ data: [{ eventId: event.id, userId: viewerId }], skipDuplicates: true });
  });
  return deps.prisma.event.findUniqueOrThrow({ ...query, where: { id } });
}

/** Leaves the event's waitlist; leaving one the viewer is not on is harmless. */
export async function leaveWaitlist(deps: AppDeps, viewerId: string, id: string, query: Query = {}) {
  await deps.prisma.$transaction(async (tx) => {
    const event = await lockVisible(tx, viewerId, id);
    await tx.eventWaitlistEntry.deleteMany({ where: { eventId: event.id, userId: viewerId } });
  });
  return deps.prisma.event.findUniqueOrThrow({ ...query, where: { id } });
}

/**
 * Fills the event's free spots from the head of its waitlist, in the caller's transaction,
 * which holds the event's row lock: each promoted person becomes an attendee (counted, in the
 * event chat, their invitation accepted, their reminder scheduled) and gets WAITLIST_PROMOTED.
 * Only a published event that has not ended promotes. Does not change the event's version:
 * the caller's change does. Returns the notifications, for deliverNotifications after commit.
 */
export async function promoteFromWaitlist(tx: Tx, eventId: string): Promise<NotificationRef[]> {
  const promoted = await tx.$queryRaw<Array<{ userId: string; hostId: string; title: string }>>`
    WITH event AS (
      SELECT id, host_id, title, max_participants - attendee_count AS spots FROM events
      WHERE id = ${eventId}::uuid AND status = 'PUBLISHED' AND ends_at > now()),
    head AS (
      SELECT w.id FROM event_waitlist w, event
      WHERE w.event_id = event.id ORDER BY w.id LIMIT (SELECT GREATEST(spots, 0) FROM event))
    DELETE FROM event_waitlist w USING head, event WHERE w.id = head.id
    RETURNING w.user_id AS "userId", event.host_id AS "hostId", event.title, w.id`;
  if (!promoted.length) return [];
  const userIds = promoted.map((p) => p.userId);
  const { hostId, title } = promoted[0]!;
  await tx.eventAttendee.createMany({ data: userIds.map((userId) => ({ eventId, userId })) });
  await tx.event.update({ where: { id: eventId }, data: { attendeeCount: { increment: userIds.length } } });
  await tx.reputation.updateMany({ where: { userId: { in: userIds } }, data: { eventsAttended: { increment: 1 } } });
  await tx.eventInvitation.updateMany({
    where: { eventId, userId: { in: userIds }, declinedAt: null, acceptedAt: null },
    data: { acceptedAt: new Date() },
  });
  for (const userId of userIds) await joinEventChat(tx, eventId, hostId, userId);
  await scheduleReminders(tx, eventId, userIds);
  return notify(
    tx,
    userIds.map((recipientId) => ({
      recipientId,
      kind: 'WAITLIST_PROMOTED',
      eventId,
      text: `A spot freed up: you're now attending "${title}"`,
    })),
  );
}

/**
 * Removes from the waitlist whoever may no longer see the event (a draft: everyone; a private
 * event: anyone not invited), in the caller's transaction.
 */
export async function pruneWaitlist(tx: Tx, eventId: string): Promise<void> {
  await tx.$executeRaw`
    DELETE FROM event_waitlist w USING events e
    WHERE w.event_id = e.id AND e.id = ${eventId}::uuid AND (e.status = 'DRAFT' OR (NOT e.is_public
      AND NOT EXISTS (SELECT 1 FROM event_invitations i
                      WHERE i.event_id = e.id AND i.user_id = w.user_id AND i.declined_at IS NULL)))`;
}

/** Everyone waiting for the event, first in line first. */
export async function waitingUserIds(tx: Tx, eventId: string): Promise<string[]> {
  const rows = await tx.eventWaitlistEntry.findMany({
    where: { eventId },
    orderBy: { id: 'asc' },
    select: { userId: true },
  });
  return rows.map((r) => r.userId);
}

/** The viewer's place in the event's waitlist (1 = next), given their entry's id. */
export async function waitlistPosition(deps: Pick<AppDeps, 'prisma'>, eventId: string, entryId: bigint) {
  return deps.prisma.eventWaitlistEntry.count({ where: { eventId, id: { lte: entryId } } });
}
