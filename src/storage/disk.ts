import { randomUUID } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdir, open, realpath, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import { IMMUTABLE_CACHE_CONTROL, UnsafeKeyError, assertSafeKey, adoptBody, joinUrl } from './common.ts';
import type { Storage } from './types.ts';

export interface DiskStorageOptions {
  /** Directory the objects are stored under. Created on first write. */
  rootDir: string;
  /**
   * URL at which createFilesRouter serves rootDir, e.g. `http://localhost:4000/files`. A function
   * is read on each call: with PORT=0 the address is known only once the server listens.
   */
  publicBaseUrl: string | (() => string);
}

/**
 * Objects as files under a local directory (the embedded default). The content type is not stored:
 * createFilesRouter derives it from the key's extension.
 */
export function createDiskStorage({ rootDir, publicBaseUrl }: DiskStorageOptions): Storage {
  const root = path.resolve(rootDir);
  const fileOf = (key: string): string => {
    assertSafeKey(key);
    return path.join(root, ...key.split('/'));
  };

  return {
    async put(key, body) {
      const discardBody = adoptBody(body);
      let temp: string | undefined;
      try {
        const target = fileOf(key);
        const dir = path.dirname(target);
        await mkdir(dir, { recursive: true });
        // Same directory, so the rename is atomic: readers see the whole file or none.
        temp = path.join(dir, `.${randomUUID()}.tmp`);
        const out = createWriteStream(temp, { flags: 'wx' });
        await pipeline(Buffer.isBuffer(body) ? Readable.from([body]) : body, out);
        await rename(temp, target);
        return { sizeBytes: out.bytesWritten };
      } catch (err) {
        discardBody();
        if (temp) await rm(temp, { force: true });
        throw err;
      }
    },

    async delete(key) {
      await rm(fileOf(key), { force: true });
    },

    publicUrl: (key) => joinUrl(typeof publicBaseUrl === 'function' ? publicBaseUrl() : publicBaseUrl, key),

    async ping() {
      await mkdir(root, { recursive: true });
      await access(root, constants.R_OK | constants.W_OK);
    },
  };
}

const CONTENT_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
};

/** Serves GET/HEAD `/<key>` from the disk storage's root, for the embedded mode. */
export function createFilesRouter(storageRootDir: string): Router {
  const root = path.resolve(storageRootDir);
  const router = Router();

  router.get('/*key', async (req: Request<{ key: string[] }>, res: Response, next) => {
    res.set('X-Content-Type-Options', 'nosniff');
    const key = req.params.key.join('/');
    let handle: FileHandle | undefined;
    try {
      assertSafeKey(key);
      const realRoot = await realpath(root);
      const real = await realpath(path.join(root, ...key.split('/')));
      // Symlinks must not lead out of the root.
      if (!real.startsWith(realRoot + path.sep)) return notFound(res);
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
      const stat = await handle.stat();
      if (!stat.isFile()) return notFound(res);

      res.set({
        'Content-Type': CONTENT_TYPES[path.extname(real).toLowerCase()] ?? 'application/octet-stream',
        'Content-Length': String(stat.size),
        'Cache-Control': IMMUTABLE_CACHE_CONTROL,
        'Last-Modified': stat.mtime.toUTCString(),
      });
      if (req.method === 'HEAD') return void res.end();

      const stream = handle.createReadStream();
      handle = undefined; // The stream owns (and closes) it now.
      await pipeline(stream, res);
    } catch (err) {
      if (res.headersSent) return void res.destroy();
      if (isNotFound(err)) return notFound(res);
      next(err);
    } finally {
      await handle?.close();
    }
  });

  return router;
}

function notFound(res: Response): void {
  res.status(404).type('text/plain').send('Not found');
}

/** Unsafe keys, missing files, and paths through files or symlink loops all look like "not found". */
function isNotFound(err: unknown): boolean {
  if (err instanceof UnsafeKeyError) return true;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG' || code === 'EISDIR';
}
