// Removing stored objects (image files) durably. The key is queued (storage_deletions) in the
// transaction that deletes the image's row, so a crash or a storage outage right after the
// commit cannot orphan the object. The deleting instance tries at once; whatever fails waits
// for a sender, which every instance runs: it leases due keys (FOR UPDATE SKIP LOCKED, so two
// instances never try the same key at the same time), asks the storage, and drops the row on
// success or backs off (doubling, at most an hour) on failure, until the storage confirms.
import type { Logger } from 'pino';
import type { AppDeps } from '../../context.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import { startPoller, type Poller } from '../../lib/poller.ts';

type Tx = Prisma.TransactionClient;

/** Keys leased per round. */
const BATCH = 50;
/** How long a leased key waits before another sender may try it (a storage call's worst case is 30 s). */
const LEASE_MS = 2 * 60_000;
const MAX_BACKOFF_MS = 60 * 60_000;

/** Queues the keys for removal, in the transaction that deletes their rows. */
export async function queueStorageDeletions(tx: Tx, keys: readonly string[]): Promise<void> {
  if (!keys.length) return;
  await tx.storageDeletion.createMany({ data: keys.map((key) => ({ key })), skipDuplicates: true });
}

/**
 * After the commit: removes the objects now; a key the storage refuses stays queued for the
 * sender. Never throws: the rows are gone for everyone whatever the storage says.
 */
export async function removeStoredObjects(
  deps: Pick<AppDeps, 'prisma' | 'storage' | 'logger' | 'config'>,
  keys: readonly string[],
): Promise<void> {
  await Promise.all(keys.map((key) => attempt(deps, key, 0)));
}

async function attempt(
  deps: Pick<AppDeps, 'prisma' | 'storage' | 'logger' | 'config'>,
  key: string,
  attempts: number,
): Promise<boolean> {
  try {
    await deps.storage.delete(key);
  } catch (error) {
    const delayMs = Math.min(MAX_BACKOFF_MS, deps.config.storageDeletionPollMs * 2 ** attempts);
    deps.logger.warn({ err: error, key, attempts: attempts + 1, retryInMs: delayMs }, 'stored object not removed yet');
    await deps.prisma.storageDeletion
      .updateMany({
        where: { key },
        data: {
          attempts: attempts + 1,
          nextAttemptAt: new Date(Date.now() + delayMs),
          lastError: String((error as Error)?.message ?? error).slice(0, 1000),
        },
      })
      .catch((err: unknown) => deps.logger.warn({ err, key }, 'could not record a failed storage deletion'));
    return false;
  }
  await deps.prisma.storageDeletion.deleteMany({ where: { key } }).catch((err: unknown) => {
    // Removed from storage: trying again later is harmless (deleting a missing key is not an error).
    deps.logger.warn({ err, key }, 'stored object removed; its queue row stays for a harmless retry');
  });
  return true;
}

/** One sender round: leases the due keys and tries each. Returns how many were removed. */
export async function removeDueObjects(
  deps: Pick<AppDeps, 'prisma' | 'storage' | 'logger' | 'config'>,
): Promise<number> {
  let removed = 0;
  for (;;) {
    const leased = await deps.prisma.$queryRaw<Array<{ key: string; attempts: number }>>`
      WITH due AS (
        SELECT key FROM storage_deletions WHERE next_attempt_at <= now()
        ORDER BY next_attempt_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
      UPDATE storage_deletions d SET next_attempt_at = now() + ${LEASE_MS} * interval '1 millisecond'
      FROM due WHERE d.key = due.key
      RETURNING d.key, d.attempts`;
    const results = await Promise.all(leased.map((row) => attempt(deps, row.key, row.attempts)));
    removed += results.filter(Boolean).length;
    if (leased.length < BATCH) return removed;
  }
}

/** Runs removeDueObjects every STORAGE_DELETION_POLL_MS on this instance. */
export function startStorageDeletionSender(
  deps: Pick<AppDeps, 'prisma' | 'storage' | 'logger' | 'config'>,
  logger: Logger,
): Poller {
  return startPoller(() => removeDueObjects(deps), {
    pollMs: deps.config.storageDeletionPollMs,
    logger,
    what: 'removing stored objects',
  });
}
