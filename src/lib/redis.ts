// Deadlines every Redis connection of ours has, so that a Redis that stops answering (a black
// hole, a host gone in a failover) cannot hang a request: rate limits, presence, the persisted
// query cache and publishes each fail within a second and fall back (src/ratelimit, src/presence,
// src/cache, src/pubsub), and the dead connection is replaced.
import type { RedisOptions } from 'ioredis';

/** A command's own deadline (not for the subscriber connection, whose SUBSCRIBEs must wait for a reconnect rather than be lost). */
export const REDIS_COMMAND_TIMEOUT_MS = 1_000;

export const REDIS_CONNECTION_DEADLINES = {
  /** Opening a connection. */
  connectTimeout: 2_000,
  /** A connection that sent commands and heard nothing for this long is closed and reopened. */
  socketTimeout: 2_000,
  /** TCP keepalive probes on idle connections, so the kernel notices a peer that vanished. */
  keepAlive: 10_000,
} satisfies RedisOptions;
