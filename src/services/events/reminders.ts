// Reminders: an EVENT_REMINDER `reminderMinutesBefore` minutes before each event a user attends
// or hosts. Scheduling is a row per attendance (event_reminders), written in the transaction
// that makes or ends the attendance, moves the start or changes the setting, so it survives
// restarts like the push outbox. Every instance runs a sender; a due row is claimed with
// FOR UPDATE SKIP LOCKED and marked sent in the transaction that stores its notification, so
// each reminder is sent exactly once however many instances run.
import type { Logger } from 'pino';
import type { AppDeps } from '../../context.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import { deliverNotifications, notify } from '../notifications/index.ts';
import { startPoller, type Poller } from '../../lib/poller.ts';

type Tx = Prisma.TransactionClient;

export const REMINDER_LIMITS = { minutesBefore: { min: 0, max: 10_080, default: 60 } } as const;
/** Reminders claimed per transaction by one sender. */
const BATCH = 100;

/**
 * When the reminder of `u` (users) for `e` (events) is due: null when the user wants none, or
 * when that moment has passed already (joining ten minutes before the start needs no reminder).
 */
const DUE_SQL = Prisma.sql`CASE
  WHEN u.reminder_minutes_before IS NOT NULL
   AND e.starts_at - u.reminder_minutes_before * interval '1 minute' > now()
  THEN e.starts_at - u.reminder_minutes_before * interval '1 minute' END`;

/** Schedules the reminders of new attendees (or the host) of an event, in the caller's transaction. */
export async function scheduleReminders(tx: Tx, eventId: string, userIds: readonly string[]): Promise<void> {
  if (!userIds.length) return;
  await tx.$executeRaw`
    INSERT INTO event_reminders (event_id, user_id, due_at)
    SELECT e.id, u.id, ${DUE_SQL} FROM events e JOIN users u ON u.id = ANY(${userIds}::uuid[])
    WHERE e.id = ${eventId}::uuid
    ON CONFLICT (event_id, user_id) DO UPDATE SET due_at = EXCLUDED.due_at, sent_at = NULL`;
}

/** Drops a leaver's reminder. */
export async function cancelReminder(tx: Tx, eventId: string, userId: string): Promise<void> {
  await tx.eventReminder.deleteMany({ where: { eventId, userId } });
}

/** The start moved: every attendee's reminder is due anew for the new start, sent before or not. */
export async function rescheduleEventReminders(tx: Tx, eventId: string): Promise<void> {
  await tx.$executeRaw`
    UPDATE event_reminders r SET due_at = ${DUE_SQL}, sent_at = NULL
    FROM events e, users u WHERE r.event_id = ${eventId}::uuid AND e.id = r.event_id AND u.id = r.user_id`;
}

/** The user changed reminderMinutesBefore: their reminders not sent yet follow it. */
export async function rescheduleUserReminders(tx: Tx, userId: string): Promise<void> {
  await tx.$executeRaw`
    UPDATE event_reminders r SET due_at = ${DUE_SQL}
    FROM events e, users u
    WHERE r.user_id = ${userId}::uuid AND r.sent_at IS NULL AND e.id = r.event_id AND u.id = r.user_id
      AND e.starts_at > now()`;
}

/** "in 1 hour", "in 45 minutes", "now". */
function startsIn(startsAt: Date): string {
  const minutes = Math.max(0, Math.round((startsAt.getTime() - Date.now()) / 60_000));
  if (minutes === 0) return 'now';
  if (minutes % 60 === 0) return `in ${minutes / 60} hour${minutes === 60 ? '' : 's'}`;
  return `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/**
 * Sends the reminders that are due, one batch per transaction: each claimed row is marked sent
 * with its notification stored (and pushed through the outbox), or with none when the event is
 * no longer published or has started. Returns how many reminders were sent.
 */
export async function sendDueReminders(deps: Pick<AppDeps, 'prisma' | 'changes'>): Promise<number> {
  let total = 0;
  for (;;) {
    const { claimed, sent } = await deps.prisma.$transaction(async (tx) => {
      const due = await tx.$queryRaw<
        Array<{ eventId: string; userId: string; title: string; startsAt: Date; live: boolean }>
      >`
        WITH due AS (
          SELECT r.event_id, r.user_id FROM event_reminders r
          WHERE r.sent_at IS NULL AND r.due_at IS NOT NULL AND r.due_at <= now()
          ORDER BY r.due_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
        UPDATE event_reminders r SET sent_at = now() FROM due, events e
        WHERE r.event_id = due.event_id AND r.user_id = due.user_id AND e.id = r.event_id
        RETURNING r.event_id AS "eventId", r.user_id AS "userId", e.title, e.starts_at AS "startsAt",
                  (e.status = 'PUBLISHED' AND e.starts_at > now()) AS live`;
      const sent = await notify(
        tx,
        due
          .filter((d) => d.live)
          .map((d) => ({
            recipientId: d.userId,
            kind: 'EVENT_REMINDER' as const,
            eventId: d.eventId,
            text: `"${d.title}" starts ${startsIn(d.startsAt)}`,
          })),
      );
      return { claimed: due.length, sent };
    });
    deliverNotifications(deps, sent);
    total += sent.length;
    if (claimed < BATCH) return total;
  }
}

/** Runs sendDueReminders every pollMs on this instance until stopped. */
export function startReminderSender(
  deps: Pick<AppDeps, 'prisma' | 'changes'>,
  { pollMs, logger }: { pollMs: number; logger: Logger },
): Poller {
  return startPoller(() => sendDueReminders(deps), { pollMs, logger, what: 'sending event reminders' });
}
