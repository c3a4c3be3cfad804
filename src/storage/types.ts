import type { Readable } from 'node:stream';

export interface PutOptions {
  contentType: string;
  cacheControl?: string;
}

export interface Storage {
  /** Streams the body to the key. Resolves with bytes written. On failure nothing is left at the key. */
  put(key: string, body: Readable | Buffer, opts: PutOptions): Promise<{ sizeBytes: number }>;
  /** Deletes the object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** The public URL clients load the object from. */
  publicUrl(key: string): string;
  /** Throws when the backend is unreachable (used by /readyz). */
  ping(): Promise<void>;
}
