// The change log's interface (src/changes/index.ts says how it works).

/** A change as subscribers receive it. */
export interface Change<T> {
  /** The log row's id: what EventChange.cursor names. */
  id: number;
  /** Its place in commit order. */
  position: number;
  payload: T;
  /**
   * For a replayed change, the changes of the page of the log it was read with (itself
   * included), so what a subscriber reads for each can be read for the page at once
   * (readAlongPage). Live changes have none.
   */
  page?: ReadonlyArray<Change<T>>;
}

/** A change to record in a transaction. */
export interface ChangeRecord {
  /** Where it is delivered (each subscriber hears it once, however many of its topics match). */
  topics: readonly string[];
  /** What subscribers receive (through the pub/sub codec, so Dates survive). */
  payload: unknown;
  /** The row the change is about, when a cursor names it (a message, a notification). */
  ref?: string;
}

/** How a cursor names a change: its id, or the row it is about on one of the subscriber's topics. */
export type ChangeRef = { id: number } | { ref: string; topics: readonly string[] };

export interface ChangeFeed {
  /** A transaction that recorded changes committed: relay them now rather than at the next poll. */
  committed(): void;
  /**
   * Changes on any of the topics, each once, in position order: with `after`, first those after
   * that position (read from the log), then live ones, with no gap and no duplicate between.
   * Returning the iterator unsubscribes. A subscriber that falls too far behind fails with a
   * retryable error (it resumes with its last cursor). Aborting `signal` ends it too.
   */
  subscribe<T>(topics: readonly string[], after?: number, signal?: AbortSignal): AsyncIterableIterator<Change<T>>;
  /** The position of a change, to resume after it; null when the log no longer holds it. */
  positionOf(ref: ChangeRef): Promise<number | null>;
  /** Stops relaying and polling; open subscriptions end. */
  close(): Promise<void>;
}
