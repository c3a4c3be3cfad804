// The push outbox worker. Notifications write push_jobs rows in their own transaction
// (src/services/notifications/); this loop, running in every API instance, delivers them.
//
// - Claiming is one statement: due jobs are picked with FOR UPDATE SKIP LOCKED and leased by
//   moving next_attempt_at past the send deadline, so concurrent workers never take the same
//   job, and a job whose worker died becomes due again when its lease ends.
// - Every claim counts an attempt; results are written only while that attempt still holds
//   the job (attempts unchanged), so a worker that lost its lease cannot overwrite a newer one.
// - Sends happen outside any transaction: no connection is held while a provider answers, and
//   the mutations that created the jobs never wait for them. Sends run side by side (up to a
//   bound), so one slow or hanging provider request does not hold up the others.
// - Delivery is at least once: a worker that dies after the provider accepted a push but
//   before recording it sends that push again when the lease ends.
import type { Logger } from 'pino';
import type { PrismaClient } from '../db/index.ts';
import type { PushMessage, PushPlatform, PushSender, SendResult } from './types.ts';

export interface PushWorkerOptions {
  prisma: PrismaClient;
  /** One per platform to deliver; none: the worker only expires and prunes old jobs. */
  senders: PushSender[];
  logger: Logger;
  /** Attempts per job before it is marked FAILED. */
  maxAttempts: number;
  /** First retry delay; doubled per further attempt, at most an hour. */
  retryBaseMs: number;
  /** Pause between passes when no job was due. */
  pollMs: number;
  /** How long a claimed job stays reserved for its worker; must exceed a send's deadline. */
  leaseMs: number;
  /** Jobs claimed per pass. */
  batchSize?: number;
  /** Sends in flight at most (default four batches). */
  maxInFlight?: number;
}

export interface PushWorker {
  start(): void;
  /** Finishes the sends in flight, then closes the senders. */
  stop(): Promise<void>;
  /** One pass: claims due jobs and delivers them; resolves, once they are done, with how many were claimed. */
  runOnce(): Promise<number>;
}

/** A push that could not be delivered within this long is dropped: old news is worse than none. */
export const PUSH_JOB_TTL_MS = 24 * 3600_000;
/** Delivered and failed jobs are kept this long for inspection. */
const FINISHED_RETENTION_DAYS = 7;
const PRUNE_EVERY_MS = 10 * 60_000;
const MAX_BACKOFF_MS = 3600_000;

const TITLES: Record<string, string> = {
  FRIEND_REQUEST_RECEIVED: 'Friend request',
  FRIEND_REQUEST_ACCEPTED: 'New friend',
  EVENT_INVITATION: 'Invitation',
  EVENT_UPDATED: 'Event updated',
  EVENT_CANCELLED: 'Event cancelled',
  EVENT_SHARED: 'Event shared with you',
  RATING_RECEIVED: 'New rating',
  WAITLIST_PROMOTED: 'You got a spot',
  EVENT_REMINDER: 'Starting soon',
};

interface Claimed {
  id: string;
  attempts: number;
}

export function createPushWorker(opts: PushWorkerOptions): PushWorker {
  const { prisma, logger } = opts;
  const batchSize = opts.batchSize ?? 50;
  const maxInFlight = opts.maxInFlight ?? batchSize * 4;
  const inFlight = new Set<Promise<void>>();
  const senders = new Map<PushPlatform, PushSender>(opts.senders.map((s) => [s.platform, s]));
  const platforms = [...senders.keys()];
  let running: Promise<void> | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  let lastPrune = 0;

  const backoff = (attempts: number, retryAfter = 0) => {
    const exponential = opts.retryBaseMs * 2 ** Math.min(attempts - 1, 30);
    // ±20 % jitter, so jobs failed together do not retry together.
    const jittered = exponential * (0.8 + Math.random() * 0.4);
    return Math.min(Math.max(jittered, retryAfter), MAX_BACKOFF_MS);
  };

  async function claim(limit: number): Promise<Claimed[]> {
    return prisma.$queryRaw<Claimed[]>`
      UPDATE push_jobs j
      SET attempts = j.attempts + 1, next_attempt_at = now() + (${opts.leaseMs}::int * interval '1 millisecond')
      FROM (
        SELECT pj.id FROM push_jobs pj
        JOIN devices d ON d.id = pj.device_id
        WHERE pj.status = 'PENDING' AND pj.next_attempt_at <= now() AND d.platform::text = ANY(${platforms}::text[])
        ORDER BY pj.next_attempt_at
        LIMIT ${limit}
        FOR UPDATE OF pj SKIP LOCKED
      ) due
      WHERE j.id = due.id
      RETURNING j.id, j.attempts`;
  }

  /** Records a result, provided this attempt still holds the job. */
  async function finish(
    job: Claimed,
    data: { status?: 'SENT' | 'FAILED'; nextAttemptAt?: Date; lastError: string | null },
  ) {
    await prisma.pushJob.updateMany({
      where: { id: job.id, attempts: job.attempts, status: 'PENDING' },
      data: { ...data, lastError: data.lastError?.slice(0, 1000) ?? null },
    });
  }

  /** Loads what the claimed jobs need and starts their sends; one promise per job, never rejecting. */
  async function dispatch(claimed: Claimed[]): Promise<Array<Promise<void>>> {
    const jobs = await prisma.pushJob.findMany({
      where: { id: { in: claimed.map((c) => c.id) } },
      select: {
        id: true,
        device: { select: { id: true, userId: true, platform: true, token: true } },
        notification: {
          select: { id: true, recipientId: true, kind: true, text: true, eventId: true, createdAt: true },
        },
      },
    });
    const recipients = [...new Set(jobs.map((j) => j.notification.recipientId))];
    const unread = new Map(
      (
        await prisma.notification.groupBy({
          by: ['recipientId'],
          where: { recipientId: { in: recipients }, readAt: null },
          _count: { _all: true },
        })
      ).map((g) => [g.recipientId, g._count._all]),
    );
    const attemptsOf = new Map(claimed.map((c) => [c.id, c.attempts]));

    return jobs.map(async ({ id, device, notification }) => {
      const job = { id, attempts: attemptsOf.get(id)! };
      try {
        const sender = senders.get(device.platform as PushPlatform);
        if (!sender) return finish(job, { status: 'FAILED', lastError: `no sender for ${device.platform}` });
        // The token moved to another user after the job was queued: not theirs to see.
        if (device.userId !== notification.recipientId)
          return finish(job, { status: 'FAILED', lastError: 'device changed owner' });
        if (Date.now() - notification.createdAt.getTime() > PUSH_JOB_TTL_MS)
          return finish(job, { status: 'FAILED', lastError: 'expired before delivery' });

        const message: PushMessage = {
          notificationId: notification.id,
          kind: notification.kind,
          title: TITLES[notification.kind] ?? 'PinIt',
          body: notification.text,
          eventId: notification.eventId,
          badge: unread.get(notification.recipientId) ?? 0,
        };
        let result: SendResult;
        try {
          result = await sender.send(device.token, message);
        } catch (error) {
          result = { outcome: 'retry', error: (error as Error).message };
        }
        const log = { jobId: id, platform: device.platform, attempt: job.attempts };
        switch (result.outcome) {
          case 'delivered':
            logger.debug(log, 'push delivered');
            return finish(job, { status: 'SENT', lastError: null });
          case 'invalid-token':
            // The device's jobs go with it.
            logger.info(
              { ...log, deviceId: device.id, error: result.error },
              'push token rejected by the provider: device removed',
            );
            await prisma.device.deleteMany({ where: { id: device.id, token: device.token } });
            return;
          case 'retry':
            if (job.attempts >= opts.maxAttempts) {
              logger.warn({ ...log, error: result.error }, 'push given up after the last attempt');
              return finish(job, { status: 'FAILED', lastError: result.error });
            }
            logger.debug({ ...log, error: result.error }, 'push failed; will retry');
            return finish(job, {
              nextAttemptAt: new Date(Date.now() + backoff(job.attempts, result.retryAfterMs)),
              lastError: result.error,
            });
          case 'failed':
            logger.warn({ ...log, error: result.error }, 'push refused by the provider');
            return finish(job, { status: 'FAILED', lastError: result.error });
        }
      } catch (err) {
        // Recording the result failed (database down): the lease runs out and the job is tried again.
        logger.warn({ err, jobId: id }, 'push job bookkeeping failed');
      }
    });
  }

  async function prune(): Promise<void> {
    lastPrune = Date.now();
    await prisma.$executeRaw`
      UPDATE push_jobs SET status = 'FAILED', last_error = 'expired before delivery'
      WHERE status = 'PENDING' AND created_at < now() - (${PUSH_JOB_TTL_MS}::int * interval '1 millisecond')`;
    await prisma.$executeRaw`
      DELETE FROM push_jobs
      WHERE status IN ('SENT', 'FAILED') AND next_attempt_at < now() - (${FINISHED_RETENTION_DAYS}::int * interval '1 day')`;
  }

  /** Claims up to `limit` due jobs and starts their sends. */
  async function claimAndSend(limit: number): Promise<{ claimed: number; sends: Array<Promise<void>> }> {
    if (Date.now() - lastPrune > PRUNE_EVERY_MS) await prune();
    if (!platforms.length || limit <= 0) return { claimed: 0, sends: [] };
    const claimed = await claim(limit);
    // Rows may vanish between claim and load (their device was removed): fewer sends than claims.
    const sends = claimed.length ? await dispatch(claimed) : [];
    for (const send of sends) {
      inFlight.add(send);
      void send.finally(() => inFlight.delete(send));
    }
    return { claimed: claimed.length, sends };
  }

  async function runOnce(): Promise<number> {
    const { claimed, sends } = await claimAndSend(batchSize);
    await Promise.all(sends);
    return claimed;
  }

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  async function loop(): Promise<void> {
    while (!stopped) {
      const room = Math.min(batchSize, maxInFlight - inFlight.size);
      if (platforms.length && room <= 0) {
        await Promise.race(inFlight);
        continue;
      }
      let claimed = 0;
      try {
        ({ claimed } = await claimAndSend(room));
      } catch (err) {
        logger.warn({ err }, 'push outbox pass failed; retrying');
      }
      // A full batch means more are probably due: go on at once.
      if (!stopped && claimed < room) await pause(platforms.length ? opts.pollMs : PRUNE_EVERY_MS);
    }
    await Promise.all(inFlight);
  }

  return {
    runOnce,
    start() {
      if (running || stopped) return;
      if (platforms.length) logger.info({ platforms }, 'push delivery on');
      running = loop();
    },
    async stop() {
      stopped = true;
      wake?.();
      await running;
      await Promise.all([...senders.values()].map((s) => s.close()));
    },
  };
}
