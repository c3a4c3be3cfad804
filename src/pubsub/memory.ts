import { pino, type Logger } from 'pino';
import { codec } from './codec.ts';
import { createHub } from './hub.ts';
import type { PubSub } from './types.ts';

/** In-process pub/sub for a single instance; payloads still go through the Redis codec. */
export function createMemoryPubSub(logger: Logger = pino({ level: 'silent' })): PubSub {
  const log = logger.child({ component: 'pubsub' });
  const hub = createHub({ logger: log });
  let closed = false;
  const since = Date.now();

  return {
    async publish(topic, payload) {
      if (closed) {
        log.warn({ topic }, 'publish after close dropped');
        return;
      }
      try {
        hub.deliver(topic, codec.encode(payload));
      } catch (err) {
        log.error({ err, topic }, 'publish failed, message lost');
      }
    },

    subscribe<T>(topic: string, signal?: AbortSignal) {
      return hub.subscribe<T>(topic, signal);
    },

    listeningSince: () => (closed ? null : since),

    async ping() {
      if (closed) throw new Error('pubsub is closed');
    },

    async close() {
      closed = true;
      hub.endAll();
    },
  };
}
