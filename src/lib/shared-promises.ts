// A short-lived map of promises by key, so concurrent callers asking for the same thing share
// one piece of work (a read, an execution) instead of each doing it.

/**
 * Work shared for a short while: the first caller for a key starts it, callers within `ttlMs`
 * get the same promise. For what many groups need for one event: their serialized results
 * here, a read of the changed row elsewhere. Keys should name the event (its version), so an
 * entry never serves a later one; entries are small and go after `ttlMs`.
 */
export class SharedPromises<T> {
  private readonly pending = new Map<string, Promise<T>>();

  constructor(private readonly ttlMs: number) {}

  /** `R` narrows a map of mixed values: what `produce` makes under a key is what `get` returns for it. */
  get<R extends T>(key: string, produce: () => Promise<R>): Promise<R> {
    let promise = this.pending.get(key) as Promise<R> | undefined;
    if (!promise) {
      promise = produce();
      this.pending.set(key, promise);
      setTimeout(() => this.pending.delete(key), this.ttlMs).unref();
    }
    return promise;
  }
}
