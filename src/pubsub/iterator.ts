export interface PushIteratorOptions {
  /**
   * Called exactly once, when the iterator stops taking values for any reason (return, throw,
   * abort, end, fail, or an overflow that fails it).
   */
  onFinish: () => void;
  /** Ends the iterator when aborted. */
  signal?: AbortSignal;
  /** Queued values kept for a slow consumer before the oldest are dropped. Default 1000. */
  maxBuffered?: number;
  /** Called on the first dropped value since the buffer was last drained, so a slow consumer warns once, not per message. */
  onOverflow?: () => void;
  /**
   * Instead of dropping values on overflow, fail: the queue is cleared, the iterator stops
   * taking values at once, and the next read rejects with this error (for streams where a lost
   * value is worse than a restart).
   */
  overflowError?: () => Error;
}

export interface PushIterator<T> {
  /** The consumer side. */
  iterator: AsyncIterableIterator<T>;
  /** Queues a value, or hands it to a waiting next(). Ignored once finished. */
  push(value: T): void;
  /** Finishes after the queued values have been read. */
  end(): void;
  /** Stops taking values; the queued ones are read, then the next read rejects with `error`. */
  fail(error: Error): void;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/** Turns pushed values into an AsyncIterableIterator, with a bounded buffer. */
export function createPushIterator<T>(opts: PushIteratorOptions): PushIterator<T> {
  const maxBuffered = opts.maxBuffered ?? 1000;
  const queue: T[] = [];
  const waiting: Array<{ resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void }> = [];
  let ended = false;
  let finished = false;
  let overflowing = false;
  let failure: Error | undefined;

  const finish = (): void => {
    if (finished) return;
    finished = true;
    ended = true;
    opts.signal?.removeEventListener('abort', abort);
    for (const { resolve } of waiting.splice(0)) resolve(DONE);
    opts.onFinish();
  };

  const abort = (): void => {
    queue.length = 0;
    finish();
  };

  const iterator: AsyncIterableIterator<T> = {
    next() {
      if (queue.length > 0) {
        const value = queue.shift() as T;
        if (queue.length === 0) overflowing = false;
        return Promise.resolve({ done: false, value });
      }
      if (failure) {
        const error = failure;
        failure = undefined;
        finish();
        return Promise.reject(error);
      }
      if (ended) {
        finish();
        return Promise.resolve(DONE);
      }
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    return() {
      abort();
      return Promise.resolve(DONE);
    },
    throw(error?: unknown) {
      abort();
      // The iterator protocol hands back whatever the caller threw in, Error or not.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };

  if (opts.signal?.aborted) abort();
  else opts.signal?.addEventListener('abort', abort, { once: true });

  return {
    iterator,
    push(value) {
      if (ended) return;
      const waiter = waiting.shift();
      if (waiter) {
        waiter.resolve({ done: false, value });
        return;
      }
      queue.push(value);
      if (queue.length > maxBuffered && opts.overflowError) {
        // Nobody waits (the queue is not empty): the next read gets the error. The iterator
        // stops taking values now, so its producer lets go of it before the consumer reads.
        queue.length = 0;
        failure = opts.overflowError();
        finish();
        return;
      }
      if (queue.length > maxBuffered) {
        queue.shift();
        if (!overflowing) opts.onOverflow?.();
        overflowing = true;
      }
    },
    end() {
      ended = true;
      if (queue.length === 0) finish();
    },
    fail(error) {
      if (ended) return;
      const waiter = waiting.shift();
      if (waiter) waiter.reject(error);
      else failure = error;
      finish();
    },
  };
}

/** What filterMessages' `decide` returns to end the stream (the subscriber lost its right to it). */
export const END_STREAM: unique symbol = Symbol('end of stream');

/**
 * Maps a subscription's messages, skipping those `decide` turns into null (and ending at END_STREAM); `onEnd` runs
 * when it ends for any reason (done, returned, failed), maybe more than once. Unlike an async
 * generator, returning it returns the source at once, even while a `next()` is waiting: an
 * async generator would queue the return until the next message arrived, so a subscriber
 * who left a quiet topic would stay subscribed (and its next message executed) until then.
 */
export function filterMessages<T, U>(
  source: AsyncIterator<T>,
  decide: (message: T) => Promise<U | null | typeof END_STREAM> | U | null | typeof END_STREAM,
  onEnd?: () => void,
): AsyncIterableIterator<U> {
  const done = async (): Promise<IteratorReturnResult<undefined>> => {
    onEnd?.();
    await source.return?.();
    return DONE;
  };
  return {
    async next() {
      try {
        for (;;) {
          const result = await source.next();
          if (result.done) return await done();
          const value = await decide(result.value);
          if (value === END_STREAM) return await done();
          if (value !== null) return { done: false, value };
        }
      } catch (error) {
        onEnd?.();
        throw error;
      }
    },
    return: done,
    async throw(error?: unknown) {
      await done();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
