// The one way tests wait for something that happens asynchronously elsewhere (a server, a
// worker, Redis): poll a check until it holds, or fail at a deadline saying what was awaited
// and what the check last returned or threw.

export interface EventuallyOptions {
  /** Deadline for the check to hold (default 5 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 25 ms). */
  intervalMs?: number;
  /** What is awaited, for the failure message. */
  what?: string;
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

/**
 * Calls `check` until it returns a truthy value (which it resolves with). A check that throws
 * counts as not yet, so an assertion or a request to a server that is still coming up can be
 * the check. After the deadline it rejects with the last value or error.
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  opts: EventuallyOptions = {},
): Promise<Truthy<Awaited<T>>> {
  const { timeoutMs = 5_000, intervalMs = 25, what = 'condition' } = opts;
  const deadline = Date.now() + timeoutMs;
  let last: { value: unknown } | { error: unknown };
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Truthy<Awaited<T>>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) {
      const detail =
        'error' in last
          ? `last error: ${last.error instanceof Error ? last.error.message : String(last.error)}`
          : `last value: ${describe(last.value)}`;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; ${detail}`,
        'error' in last ? { cause: last.error } : undefined,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
