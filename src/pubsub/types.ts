export interface PubSub {
  /** Publishes a payload on a topic. Never throws: a lost message is logged, mutations must not fail because pub/sub is down. */
  publish(topic: string, payload: unknown): Promise<void>;
  /** An async iterator of the topic's payloads, for graphql-ws subscriptions. Calling return() unsubscribes. */
  subscribe<T = unknown>(topic: string, signal?: AbortSignal): AsyncIterableIterator<T>;
  /**
   * Since when (epoch ms) every message published anywhere reaches this instance's subscribers:
   * null while it may not (the backend is unreachable, or reconnected and not yet resubscribed).
   * A cache that pub/sub invalidates trusts only entries read since then.
   */
  listeningSince(): number | null;
  /** Throws when the backend is unreachable (used by /readyz). */
  ping(): Promise<void>;
  /** Closes connections; pending iterators finish. */
  close(): Promise<void>;
}
