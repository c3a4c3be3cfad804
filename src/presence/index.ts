// Who is online: a user is, while any WebSocket of theirs is open on any instance.
//
// With Redis, each instance claims its connected users in a per-user sorted set
// (member: instance id, score: claim expiry) and renews the claims on a heartbeat. A crashed
// instance stops renewing, its claims lapse, and a sweep (run by every instance; the first to
// remove the user from the expiry index wins) reports those users offline. Without Redis the
// same interface counts connections in memory.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { REDIS_COMMAND_TIMEOUT_MS, REDIS_CONNECTION_DEADLINES } from '../lib/redis.ts';

export interface PresenceStore {
  /** A connection of the user opened here; true when that made them online everywhere. */
  connect(userId: string): Promise<boolean>;
  /** A connection closed; true when the user has no connection left anywhere. */
  disconnect(userId: string): Promise<boolean>;
  /** Online state of many users at once. */
  areOnline(userIds: readonly string[]): Promise<boolean[]>;
  /** Users whose claims lapsed (their instance died); each reported by exactly one instance. */
  sweep(): Promise<Array<{ userId: string; lastSeenAt: Date }>>;
  close(): Promise<void>;
}

export function createMemoryPresence(): PresenceStore {
  const counts = new Map<string, number>();
  return {
    async connect(userId) {
      const n = (counts.get(userId) ?? 0) + 1;
      counts.set(userId, n);
      return n === 1;
    },
    async disconnect(userId) {
      const n = (counts.get(userId) ?? 1) - 1;
      if (n <= 0) counts.delete(userId);
      else counts.set(userId, n);
      return n <= 0;
    },
    async areOnline(userIds) {
      return userIds.map((id) => counts.has(id));
    },
    async sweep() {
      return [];
    },
    async close() {},
  };
}

export function createRedisPresence(url: string, logger: Logger, ttlSeconds: number, prefix = 'pinit'): PresenceStore {
  const userKey = (userId: string) => `${prefix}:presence:user:${userId}`;
  const EXPIRY_INDEX = `${prefix}:presence:expiry`;
  const redis = new Redis(url, {
    ...REDIS_CONNECTION_DEADLINES,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    connectionName: 'pinit:presence',
  });
  redis.on('error', () => {
    // Reconnects by itself; presence is best-effort while Redis is down.
  });
  const instance = randomUUID();
  const local = new Map<string, number>();
  const ttlMs = ttlSeconds * 1000;

  const claim = async (userIds: string[]) => {
    if (!userIds.length) return;
    const expiry = Date.now() + ttlMs;
    const pipeline = redis.pipeline();
    for (const userId of userIds) {
      pipeline.zadd(userKey(userId), expiry, instance);
      pipeline.pexpire(userKey(userId), ttlMs * 2);
      // GT keeps the latest expiry among the instances claiming the user.
      pipeline.zadd(EXPIRY_INDEX, 'GT', expiry, userId);
    }
    await pipeline.exec();
  };
  const heartbeat = setInterval(
    () => {
      claim([...local.keys()]).catch((err) => logger.warn({ err }, 'presence heartbeat failed'));
    },
    Math.max(500, ttlMs / 3),
  );
  heartbeat.unref();

  const liveClaims = (userId: string) => redis.zcount(userKey(userId), Date.now(), '+inf');
  const guard = async <T>(fallback: T, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      logger.warn({ err }, 'presence unavailable');
      return fallback;
    }
  };

  return {
    async connect(userId) {
      const n = (local.get(userId) ?? 0) + 1;
      local.set(userId, n);
      if (n > 1) return false;
      return guard(false, async () => {
        await claim([userId]);
        return (await liveClaims(userId)) === 1;
      });
    },
    async disconnect(userId) {
      const n = (local.get(userId) ?? 1) - 1;
      if (n > 0) {
        local.set(userId, n);
        return false;
      }
      local.delete(userId);
      return guard(false, async () => {
        await redis.zrem(userKey(userId), instance);
        if ((await liveClaims(userId)) > 0) return false;
        // Claim the offline report, so a sweep elsewhere does not report it again.
        return (await redis.zrem(EXPIRY_INDEX, userId)) === 1;
      });
    },
    async areOnline(userIds) {
      if (!userIds.length) return [];
      return guard(
        userIds.map((id) => local.has(id)),
        async () => {
          const now = Date.now();
          const pipeline = redis.pipeline();
          for (const id of userIds) pipeline.zcount(userKey(id), now, '+inf');
          const results = (await pipeline.exec()) ?? [];
          return results.map(([err, count]) => !err && Number(count) > 0);
        },
      );
    },
    async sweep() {
      return guard([], async () => {
        const now = Date.now();
        const lapsed = await redis.zrangebyscore(EXPIRY_INDEX, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 500);
        const offline: Array<{ userId: string; lastSeenAt: Date }> = [];
        for (let i = 0; i < lapsed.length; i += 2) {
          const userId = lapsed[i]!;
          if ((await liveClaims(userId)) > 0) continue;
          if ((await redis.zrem(EXPIRY_INDEX, userId)) === 1)
            offline.push({ userId, lastSeenAt: new Date(Number(lapsed[i + 1])) });
        }
        return offline;
      });
    },
    async close() {
      clearInterval(heartbeat);
      redis.disconnect();
    },
  };
}

export function createPresence(opts: {
  redisUrl?: string;
  prefix: string;
  logger: Logger;
  ttlSeconds: number;
}): PresenceStore {
  return opts.redisUrl
    ? createRedisPresence(opts.redisUrl, opts.logger, opts.ttlSeconds, opts.prefix)
    : createMemoryPresence();
}
