import type { Logger } from 'pino';
import { createMemoryPubSub } from './memory.ts';
import { createRedisPubSub } from './redis.ts';
import type { PubSub } from './types.ts';

export type { PubSub } from './types.ts';
export { createMemoryPubSub } from './memory.ts';
export { createRedisPubSub, type RedisPubSubOptions } from './redis.ts';

/** Redis when a URL is configured (several instances), else in-process (one instance). */
export function createPubSub(opts: { redisUrl?: string; logger: Logger }): PubSub {
  return opts.redisUrl ? createRedisPubSub(opts.redisUrl, opts.logger) : createMemoryPubSub(opts.logger);
}

/** Puts every topic under a prefix, so deployments sharing one Redis never hear each other. */
export function withTopicPrefix(pubsub: PubSub, prefix: string): PubSub {
  return {
    publish: (topic, payload) => pubsub.publish(`${prefix}:${topic}`, payload),
    subscribe: (topic, signal) => pubsub.subscribe(`${prefix}:${topic}`, signal),
    listeningSince: () => pubsub.listeningSince(),
    ping: () => pubsub.ping(),
    close: () => pubsub.close(),
  };
}
