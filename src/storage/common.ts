import type { Readable } from 'node:stream';

export const MAX_KEY_LENGTH = 512;

/** A key that assertSafeKey refused. */
export class UnsafeKeyError extends Error {
  override name = 'UnsafeKeyError';
}

/** A segment: `[A-Za-z0-9._-]`, not dots only (`.`, `..`): dots, then one other allowed character, then any. */
const SEGMENT = String.raw`\.*[A-Za-z0-9_-][A-Za-z0-9._-]*`;
/** Segments joined by single slashes: no empty segment, no leading or trailing slash. */
const SAFE_KEY = new RegExp(`^${SEGMENT}(?:/${SEGMENT})*$`);

/**
 * Throws unless the key is a relative path of `[A-Za-z0-9._-]` segments, with no empty or dots-only (`.`, `..`)
 * segment and at most 512 characters, so that it can neither escape the storage root nor need URL encoding.
 */
export function assertSafeKey(key: string): void {
  const safe = typeof key === 'string' && key.length > 0 && key.length <= MAX_KEY_LENGTH && SAFE_KEY.test(key);
  if (!safe) throw new UnsafeKeyError(`Unsafe storage key: ${JSON.stringify(String(key).slice(0, 100))}`);
}

/** The public URL of a key under a base URL: the base (trailing slashes trimmed), `/`, the key. */
export function joinUrl(base: string, key: string): string {
  assertSafeKey(key);
  return `${base.endsWith('/') ? base.replace(/\/+$/, '') : base}/${key}`;
}

/**
 * Takes charge of a put() body: until a reader listens, an 'error' from the caller's stream must not
 * crash the process (the reader still gets it, via `stream.errored`). Returns a function that destroys
 * the stream on failure, so an upload is never left half-read.
 */
export function adoptBody(body: Readable | Buffer): () => void {
  if (Buffer.isBuffer(body)) return () => {};
  body.on('error', () => {});
  return () => body.destroy();
}

/** The Cache-Control of stored objects: keys are never reused for other content. */
export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';
