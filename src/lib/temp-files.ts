// Temporary files that never outlive the work they were made for: removed when it succeeds,
// fails or throws, and swept at start-up when a crash left some behind.
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Runs `work` with the path of a new file under `dir` (not created: the work creates it) and
 * removes that file afterwards, whatever the outcome.
 */
export async function withTempFile<T>(dir: string, work: (file: string) => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${randomUUID()}.tmp`);
  try {
    return await work(file);
  } finally {
    await rm(file, { force: true });
  }
}

/**
 * Creates `dir` and removes its files older than `olderThanMs`: those of a process that died
 * mid-work. Younger files may belong to another process sharing the directory, so they stay.
 */
export async function sweepTempDir(dir: string, olderThanMs: number, now = Date.now()): Promise<number> {
  await mkdir(dir, { recursive: true });
  let removed = 0;
  for (const name of await readdir(dir)) {
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => undefined);
    if (info?.isFile() && now - info.mtimeMs > olderThanMs) {
      await rm(file, { force: true });
      removed += 1;
    }
  }
  return removed;
}
