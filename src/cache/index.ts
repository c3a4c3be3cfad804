// The cache behind automatic persisted queries: Redis when configured, so a query registered
// through one instance is known to all; Apollo's in-memory LRU otherwise. A cache is an
// optimization: while Redis is unreachable every read is a miss (the client resends the query)
// and writes are dropped, so requests keep working.
import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { REDIS_COMMAND_TIMEOUT_MS, REDIS_CONNECTION_DEADLINES } from '../lib/redis.ts';

export interface ClosableCache extends KeyValueCache<string> {
  close(): Promise<void>;
}

export function createRedisCache(url: string, prefix: string, logger: Logger): ClosableCache {
  const redis = new Redis(url, {
    ...REDIS_CONNECTION_DEADLINES,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    connectionName: `${prefix}:cache`,
  });
  redis.on('error', () => {
    // Reconnects by itself; reads are misses meanwhile.
  });
  const key = (k: string) => `${prefix}:cache:${k}`;
  const softly = async <T>(fallback: T, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      logger.debug({ err }, 'cache unavailable');
      return fallback;
    }
  };
  return {
    get: (k) => softly(undefined, async () => (await redis.get(key(k))) ?? undefined),
    set: (k, value, options?: KeyValueCacheSetOptions) =>
      softly(undefined, async () => {
        if (options?.ttl) await redis.set(key(k), value, 'EX', Math.ceil(options.ttl));
        else await redis.set(key(k), value);
      }),
    delete: (k) => softly(false, async () => (await redis.del(key(k))) > 0),
    close: async () => redis.disconnect(),
  };
}
