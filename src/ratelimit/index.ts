// Rate limits behind one small interface: Redis-backed when REDIS_URL is set (so limits hold
// across instances), in memory otherwise. While Redis is unreachable an in-memory limiter
// stands in, so requests keep flowing.
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { rateLimited } from '../lib/errors.ts';
import { REDIS_COMMAND_TIMEOUT_MS, REDIS_CONNECTION_DEADLINES } from '../lib/redis.ts';

/** A named limit: `points` actions per `durationSeconds` window, per key. */
export interface LimitRule {
  points: number;
  durationSeconds: number;
}

export const DEFAULT_LIMITS = {
  /** Login attempts per username. */
  loginPerUsername: { points: 10, durationSeconds: 15 * 60 },
  /** Login attempts per client IP. */
  loginPerIp: { points: 50, durationSeconds: 15 * 60 },
  /** Registrations per client IP. */
  registerPerIp: { points: 50, durationSeconds: 60 * 60 },
  /** Mutations per signed-in user (all kinds; some also have their own, tighter limit). */
  mutationsPerUser: { points: 120, durationSeconds: 60 },
  /** Mutations per client IP from anonymous clients. */
  mutationsPerIp: { points: 60, durationSeconds: 60 },
  /** Queries and subscription starts per signed-in user, on one instance. */
  queriesPerUser: { points: 600, durationSeconds: 60 },
  /** Queries and subscription starts per client IP from anonymous clients, on one instance. */
  queriesPerIp: { points: 300, durationSeconds: 60 },
  /** Image uploads per user. */
  uploadsPerUser: { points: 30, durationSeconds: 60 * 60 },
  /** Chat messages per user. */
  sendMessagePerUser: { points: 30, durationSeconds: 10 },
  /** Ratings given per user (rater), a day: a handful of accounts cannot pump a reputation. */
  ratingsPerUser: { points: 20, durationSeconds: 24 * 60 * 60 },
  /** Password changes (each checks the current password) per user. */
  changePasswordPerUser: { points: 10, durationSeconds: 15 * 60 },
  /** Event shares per user: each recipient named in a shareEvent call counts one. */
  sharesPerUser: { points: 100, durationSeconds: 60 * 60 },
  /** Event invitations per user: each user named in inviteToEvent or createEvent's invitedUserIds counts one. */
  invitationsPerUser: { points: 300, durationSeconds: 60 * 60 },
  /** Reports filed per user: enough for a bad day, too few to flood the admins' queue. */
  reportsPerUser: { points: 20, durationSeconds: 24 * 60 * 60 },
  /** Data exports (exportMyData) per user: each link builds the whole document when followed. */
  exportsPerUser: { points: 10, durationSeconds: 24 * 60 * 60 },
  /** Account deletion attempts (each checks the password) per user. */
  deleteAccountPerUser: { points: 10, durationSeconds: 15 * 60 },
} satisfies Record<string, LimitRule>;

export type LimitName = keyof typeof DEFAULT_LIMITS;

/**
 * Limits counted by each instance in its own memory, even when Redis is there: they guard the
 * instance's CPU against floods of reads, are spent on every query (a Redis round trip each would
 * tax the hottest path), and N instances behind a balancer simply allow N times as much.
 */
const INSTANCE_LIMITS: ReadonlySet<LimitName> = new Set(['queriesPerUser', 'queriesPerIp']);

export interface RateLimiter {
  /** Spends `points` (default one) of the limit for key (a user id, a name, or a client address for `…PerIp`); throws RATE_LIMITED when not enough are left. */
  consume(limit: LimitName, key: string, points?: number): Promise<void>;
  /**
   * How long (ms) until the key's window ends, when it has tried to spend `times` × its points in
   * it (refused attempts count); null otherwise. Spends nothing: for refusing a request before
   * reading it.
   */
  exhaustedFor(limit: LimitName, key: string, times: number): Promise<number | null>;
  /** Gives back `points` (default one) spent on something that did not happen after all (a refused or repeated send). */
  refund(limit: LimitName, key: string, points?: number): Promise<void>;
  /** Forgets the key's spent points (after a successful login, say). */
  reset(limit: LimitName, key: string): Promise<void>;
  close(): Promise<void>;
}

/** Limits keyed by client address (see addressKey). */
const isPerAddress = (limit: LimitName) => limit.endsWith('PerIp');

/**
 * The key of a client address. An IPv6 client is usually given a whole /64 and can pick a new
 * address in it for every request, so IPv6 addresses count per /64.
 */
export function addressKey(ip: string): string {
  const address = ip.replace(/^::ffff:(?=\d+\.)/i, '').replace(/%.*$/, '');
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // "::" stands for as many zero groups as make eight.
  const groups =
    tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}

/** The general limits of an operation: per user when signed in, per address otherwise. */
export async function limitOperation(
  limiter: RateLimiter,
  kind: 'mutation' | 'query',
  viewerId: string | null | undefined,
  clientIp: string,
): Promise<void> {
  if (kind === 'mutation') {
    if (viewerId) await limiter.consume('mutationsPerUser', viewerId);
    else await limiter.consume('mutationsPerIp', clientIp);
  } else if (viewerId) await limiter.consume('queriesPerUser', viewerId);
  else await limiter.consume('queriesPerIp', clientIp);
}

export interface RateLimiterOptions {
  enabled: boolean;
  redisUrl?: string;
  /** Key prefix in Redis. */
  prefix: string;
  rules: Partial<Record<LimitName, LimitRule>>;
}

export function createRateLimiter(opts: RateLimiterOptions): RateLimiter {
  if (!opts.enabled) {
    return {
      consume: async () => {},
      exhaustedFor: async () => null,
      refund: async () => {},
      reset: async () => {},
      close: async () => {},
    };
  }
  const redis = opts.redisUrl
    ? new Redis(opts.redisUrl, {
        // Fail fast while Redis is down or silent so the in-memory insurance limiter answers instead.
        ...REDIS_CONNECTION_DEADLINES,
        commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        retryStrategy: (times) => Math.min(times * 200, 2_000),
        lazyConnect: false,
      })
    : undefined;
  redis?.on('error', () => {
    // Reconnects by itself; the insurance limiter covers the gap.
  });

  const limiters = new Map<LimitName, RateLimiterAbstract>();
  for (const name of Object.keys(DEFAULT_LIMITS) as LimitName[]) {
    const rule = { ...DEFAULT_LIMITS[name], ...opts.rules[name] };
    const memory = new RateLimiterMemory({
      keyPrefix: `rl:${name}`,
      points: rule.points,
      duration: rule.durationSeconds,
    });
    limiters.set(
      name,
      redis && !INSTANCE_LIMITS.has(name)
        ? new RateLimiterRedis({
            storeClient: redis,
            keyPrefix: `${opts.prefix}:rl:${name}`,
            points: rule.points,
            duration: rule.durationSeconds,
            insuranceLimiter: memory,
          })
        : memory,
    );
  }

  return {
    async consume(limit, key, points = 1) {
      try {
        await limiters.get(limit)!.consume(isPerAddress(limit) ? addressKey(key) : key, points);
      } catch (result) {
        if (result instanceof RateLimiterRes) throw rateLimited(Math.max(1, Math.ceil(result.msBeforeNext / 1000)));
        throw result;
      }
    },
    async exhaustedFor(limit, key, times) {
      const limiter = limiters.get(limit)!;
      const spent = await limiter.get(isPerAddress(limit) ? addressKey(key) : key).catch(() => null);
      return spent && spent.consumedPoints >= times * limiter.points ? spent.msBeforeNext : null;
    },
    async refund(limit, key, points = 1) {
      // Best effort: a refund that cannot be made leaves the key a point short until its window ends.
      await limiters
        .get(limit)!
        .reward(isPerAddress(limit) ? addressKey(key) : key, points)
        .catch(() => undefined);
    },
    async reset(limit, key) {
      await limiters
        .get(limit)!
        .delete(isPerAddress(limit) ? addressKey(key) : key)
        .catch(() => undefined);
    },
    async close() {
      redis?.disconnect();
    },
  };
}
