import type { Logger } from 'pino';
import { codec } from './codec.ts';
import { createPushIterator, type PushIterator } from './iterator.ts';

export interface HubOptions {
  /** Receives undecodable-message errors and slow-subscriber warnings. */
  logger: Logger;
  /** The topic got its first local subscriber. */
  onFirstSubscriber?: (topic: string) => void;
  /** The topic lost its last local subscriber. */
  onLastSubscriber?: (topic: string) => void;
}

/** Local fan-out of encoded messages to the iterators subscribed to each topic. */
export interface Hub {
  /** Decodes the message once per subscriber, so no two subscribers share (and can mutate) one object. */
  deliver(topic: string, message: string): void;
  /** A new iterator on the topic; it leaves the hub when it finishes. After endAll() it is already finished. */
  subscribe<T>(topic: string, signal?: AbortSignal): AsyncIterableIterator<T>;
  /** Finishes every iterator (after what they have queued); the hub accepts nothing afterwards. */
  endAll(): void;
}

export function createHub({ logger, onFirstSubscriber, onLastSubscriber }: HubOptions): Hub {
  const topics = new Map<string, Set<PushIterator<unknown>>>();
  let ended = false;

  return {
    deliver(topic, message) {
      const subscribers = topics.get(topic);
      if (!subscribers) return;
      for (const subscriber of subscribers) {
        let payload: unknown;
        try {
          payload = codec.decode(message);
        } catch (err) {
          logger.error({ err, topic }, 'undecodable message dropped');
          return;
        }
        subscriber.push(payload);
      }
    },

    subscribe<T>(topic: string, signal?: AbortSignal) {
      if (ended || signal?.aborted) {
        const finished = createPushIterator<T>({ onFinish: () => {} });
        finished.end();
        return finished.iterator;
      }

      let subscribers = topics.get(topic);
      const first = !subscribers;
      if (!subscribers) {
        subscribers = new Set();
        topics.set(topic, subscribers);
      }
      const own = subscribers;
      const entry: PushIterator<unknown> = createPushIterator<unknown>({
        signal,
        onFinish: () => {
          own.delete(entry);
          // The set may already be gone (endAll) or replaced by a new one for the same topic.
          if (own.size === 0 && topics.get(topic) === own) {
            topics.delete(topic);
            onLastSubscriber?.(topic);
          }
        },
        onOverflow: () => logger.warn({ topic }, 'slow subscriber, dropping oldest queued messages'),
      });
      own.add(entry);
      if (first) onFirstSubscriber?.(topic);
      return entry.iterator as AsyncIterableIterator<T>;
    },

    endAll() {
      ended = true;
      const all = [...topics.values()];
      topics.clear();
      for (const subscribers of all) for (const subscriber of subscribers) subscriber.end();
    },
  };
}
