import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertSafeKey,
  createDiskStorage,
  createFilesRouter,
  createS3Storage,
  createStorage,
  type S3StorageOptions,
  type Storage,
} from '../../src/storage/index.ts';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;
// s3rver is CommonJS without type declarations.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

const BUCKET = 'pinit-test';
const IMMUTABLE = 'public, max-age=31536000, immutable';
const tempDirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pinit-storage-'));
  tempDirs.push(dir);
  return dir;
}

async function startS3rver(): Promise<{ server: S3rverInstance; endpoint: string }> {
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: await tempDir(),
    configureBuckets: [{ name: BUCKET }],
  });
  const { port } = await server.run();
  return { server, endpoint: `http://127.0.0.1:${port}` };
}

function s3Options(endpoint: string): S3StorageOptions {
  return {
    bucket: BUCKET,
    region: 'auto', // as for Cloudflare R2
    endpoint,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
  };
}

/** Streams `data` in 64 KiB chunks, failing once `failAfter` bytes were sent. */
function streamOf(data: Buffer, failAfter?: number): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < data.length; offset += 64 * 1024) {
        if (failAfter !== undefined && offset >= failAfter) throw new Error('client went away');
        yield data.subarray(offset, offset + 64 * 1024);
      }
    })(),
  );
}

const uniqueKey = (name: string): string => `users/${randomUUID()}/images/${name}`;

interface Backend {
  storage: Storage;
  /** The stored bytes, or undefined when nothing is at the key. */
  read(key: string): Promise<Buffer | undefined>;
  /** Everything stored under the key's directory (temporary files included). */
  listDir(key: string): Promise<string[]>;
}

async function diskBackend(): Promise<Backend> {
  const rootDir = path.join(await tempDir(), 'root');
  const storage = createDiskStorage({ rootDir, publicBaseUrl: 'http://localhost:4000/files' });
  const fileOf = (key: string): string => path.join(rootDir, ...key.split('/'));
  return {
    storage,
    read: (key) => readFile(fileOf(key)).catch(() => undefined),
    listDir: (key) => readdir(path.dirname(fileOf(key))).catch(() => []),
  };
}

let s3: { server: S3rverInstance; endpoint: string; client: S3Client } | undefined;

async function s3Backend(): Promise<Backend> {
  const { server, endpoint } = await startS3rver();
  const client = new S3Client({
    region: 'auto',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  s3 = { server, endpoint, client };
  return {
    storage: createS3Storage(s3Options(endpoint)),
    async read(key) {
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
        return Buffer.from(await object.Body!.transformToByteArray());
      } catch (err) {
        if ((err as Error).name === 'NoSuchKey') return undefined;
        throw err;
      }
    },
    async listDir(key) {
      const prefix = key.slice(0, key.lastIndexOf('/') + 1);
      const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
      return (listed.Contents ?? []).map((object) => object.Key!.slice(prefix.length));
    },
  };
}

afterAll(async () => {
  s3?.client.destroy();
  await s3?.server.close();
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe.each([
  ['disk', diskBackend],
  ['s3', s3Backend],
] as const)('%s storage', (_name, makeBackend) => {
  let backend: Backend;
  let storage: Storage;

  beforeAll(async () => {
    backend = await makeBackend();
    storage = backend.storage;
  });

  it('stores a buffer and reports its size', async () => {
    const key = uniqueKey('a.jpg');
    const data = randomBytes(1234);
    await expect(storage.put(key, data, { contentType: 'image/jpeg' })).resolves.toEqual({ sizeBytes: 1234 });
    expect(await backend.read(key)).toEqual(data);
  });

  it('streams a body, small or bigger than one 5 MB part', async () => {
    for (const size of [300 * 1024, 6 * 1024 * 1024 + 17]) {
      const key = uniqueKey(`streamed-${size}.png`);
      const data = randomBytes(size);
      await expect(storage.put(key, streamOf(data), { contentType: 'image/png' })).resolves.toEqual({
        sizeBytes: size,
      });
      expect((await backend.read(key))?.equals(data)).toBe(true);
      expect(await backend.listDir(key)).toEqual([`streamed-${size}.png`]);
    }
  });

  it('leaves nothing behind when the stream fails midway', async () => {
    for (const [size, failAfter] of [
      [512 * 1024, 128 * 1024],
      [7 * 1024 * 1024, 6 * 1024 * 1024], // after a first multipart part was uploaded
    ]) {
      const key = uniqueKey('broken.jpg');
      const body = streamOf(randomBytes(size), failAfter);
      await expect(storage.put(key, body, { contentType: 'image/jpeg' })).rejects.toThrow('client went away');
      expect(await backend.read(key)).toBeUndefined();
      expect(await backend.listDir(key)).toEqual([]);
      expect(body.destroyed).toBe(true);
    }
  });

  it('deletes, and deleting a missing key is not an error', async () => {
    const key = uniqueKey('gone.webp');
    await storage.put(key, Buffer.from('bytes'), { contentType: 'image/webp' });
    await storage.delete(key);
    expect(await backend.read(key)).toBeUndefined();
    await expect(storage.delete(key)).resolves.toBeUndefined();
    await expect(storage.delete(uniqueKey('never.jpg'))).resolves.toBeUndefined();
  });

  it('refuses unsafe keys on every operation', async () => {
    const body = streamOf(randomBytes(10));
    await expect(storage.put('../escape.jpg', body, { contentType: 'image/jpeg' })).rejects.toThrow(
      /Unsafe storage key/,
    );
    expect(body.destroyed).toBe(true);
    await expect(storage.delete('users/../../escape.jpg')).rejects.toThrow(/Unsafe storage key/);
    expect(() => storage.publicUrl('/etc/passwd')).toThrow(/Unsafe storage key/);
  });

  it('answers ping', async () => {
    await expect(storage.ping()).resolves.toBeUndefined();
  });
});

describe('s3 storage specifics', () => {
  it('stores Content-Type and the immutable Cache-Control by default', async () => {
    const client = s3!.client;
    const storage = createS3Storage(s3Options(s3!.endpoint));
    const key = uniqueKey('meta.gif');
    await storage.put(key, streamOf(randomBytes(2048)), { contentType: 'image/gif' });
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.ContentType).toBe('image/gif');
    expect(head.CacheControl).toBe(IMMUTABLE);
    expect(head.ContentLength).toBe(2048);

    const custom = uniqueKey('custom.png');
    await storage.put(custom, Buffer.from('x'), { contentType: 'image/png', cacheControl: 'no-store' });
    const customHead = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: custom }));
    expect(customHead.CacheControl).toBe('no-store');
  });

  it('fails ping quickly once the service is gone', async () => {
    const { server, endpoint } = await startS3rver();
    const storage = createS3Storage(s3Options(endpoint));
    await expect(storage.ping()).resolves.toBeUndefined();
    await server.close();
    const started = Date.now();
    await expect(storage.ping()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('fails ping for a missing bucket', async () => {
    const storage = createS3Storage({ ...s3Options(s3!.endpoint), bucket: 'no-such-bucket' });
    await expect(storage.ping()).rejects.toThrow();
  });

  it('builds public URLs from the CDN base, the endpoint, or AWS', () => {
    const key = 'users/1/images/avatar_1.jpg';
    const base = { bucket: 'pinit', region: 'eu-west-1' };
    expect(createS3Storage({ ...base, publicUrl: 'https://cdn.example.com/' }).publicUrl(key)).toBe(
      `https://cdn.example.com/${key}`,
    );
    expect(createS3Storage({ ...base, endpoint: 'http://minio:9000/', forcePathStyle: true }).publicUrl(key)).toBe(
      `http://minio:9000/pinit/${key}`,
    );
    expect(createS3Storage(base).publicUrl(key)).toBe(`https://pinit.s3.eu-west-1.amazonaws.com/${key}`);
  });
});

describe('disk storage specifics', () => {
  it('builds public URLs from the base URL', () => {
    const storage = createDiskStorage({ rootDir: os.tmpdir(), publicBaseUrl: 'http://localhost:4000/files/' });
    expect(storage.publicUrl('users/1/images/a.jpg')).toBe('http://localhost:4000/files/users/1/images/a.jpg');
  });

  it('fails ping when the root cannot be created', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'file'), 'not a directory');
    const storage = createDiskStorage({ rootDir: path.join(dir, 'file', 'root'), publicBaseUrl: 'http://x' });
    await expect(storage.ping()).rejects.toThrow();
  });

  it('keeps the previous file when an overwrite fails', async () => {
    // `read` is a plain function of the fixture, not a method.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const { storage, read } = await diskBackend();
    const key = uniqueKey('kept.jpg');
    await storage.put(key, Buffer.from('old'), { contentType: 'image/jpeg' });
    await expect(
      storage.put(key, streamOf(randomBytes(256 * 1024), 64 * 1024), { contentType: 'image/jpeg' }),
    ).rejects.toThrow();
    expect(await read(key)).toEqual(Buffer.from('old'));
  });
});

describe('createStorage', () => {
  it('uses S3 when a bucket is configured, else the disk', () => {
    const disk = { rootDir: os.tmpdir(), publicBaseUrl: 'http://localhost:4000/files' };
    const key = 'users/1/images/a.jpg';
    expect(createStorage({ disk }).publicUrl(key)).toBe(`http://localhost:4000/files/${key}`);
    const s3Storage = createStorage({ disk, s3: { bucket: 'pinit', region: 'auto', publicUrl: 'https://cdn.test' } });
    expect(s3Storage.publicUrl(key)).toBe(`https://cdn.test/${key}`);
  });
});

describe('assertSafeKey', () => {
  it.each(['users/1/images/avatar_1700000000000.jpg', 'a', 'a.b-c_d/E.F', '.hidden/file', 'x'.repeat(512)])(
    'accepts %s',
    (key) => {
      expect(() => assertSafeKey(key)).not.toThrow();
    },
  );

  it.each([
    '',
    '/etc/passwd',
    '../x',
    'a/../b',
    'a/./b',
    '..',
    '.',
    'a//b',
    'a/',
    'a\\..\\b',
    'a%2f..%2fb',
    'a\0b',
    'a b',
    'ü.jpg',
    'x'.repeat(513),
  ])('rejects %j', (key) => {
    expect(() => assertSafeKey(key)).toThrow(/Unsafe storage key/);
  });
});

describe('files router', () => {
  const secret = 'TOP SECRET, outside the storage root';
  let baseUrl: string;
  let server: http.Server;
  let port: number;
  const image = randomBytes(4096);

  beforeAll(async () => {
    const dir = await tempDir();
    const rootDir = path.join(dir, 'root');
    await writeFile(path.join(dir, 'secret.txt'), secret);
    const storage = createDiskStorage({ rootDir, publicBaseUrl: 'unused' });
    await storage.put('users/1/images/a.jpg', image, { contentType: 'image/jpeg' });
    await storage.put('users/1/images/b.PNG', Buffer.from('png'), { contentType: 'image/png' });
    await storage.put('users/1/images/c.webp', Buffer.from('webp'), { contentType: 'image/webp' });
    await storage.put('users/1/notes.txt', Buffer.from('<script>alert(1)</script>'), { contentType: 'text/html' });
    await mkdir(path.join(rootDir, 'links'));
    await symlink(path.join(dir, 'secret.txt'), path.join(rootDir, 'links', 'secret.jpg'));
    await symlink(dir, path.join(rootDir, 'links', 'parent'));

    const app = express();
    app.use('/files', createFilesRouter(rootDir));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
    baseUrl = `http://127.0.0.1:${port}/files`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** A request whose path is sent exactly as written (fetch() would normalize dot segments). */
  function rawRequest(rawPath: string, method = 'GET'): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: rawPath, method, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('serves a stored file with its type and caching headers', async () => {
    const res = await fetch(`${baseUrl}/users/1/images/a.jpg`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe(IMMUTABLE);
    expect(res.headers.get('content-length')).toBe('4096');
    expect(Buffer.from(await res.arrayBuffer()).equals(image)).toBe(true);
  });

  it('derives the content type from the extension only', async () => {
    const png = await fetch(`${baseUrl}/users/1/images/b.PNG`);
    expect(png.headers.get('content-type')).toBe('image/png');
    await png.arrayBuffer();
    const webp = await fetch(`${baseUrl}/users/1/images/c.webp`);
    expect(webp.headers.get('content-type')).toBe('image/webp');
    await webp.arrayBuffer();
    const other = await fetch(`${baseUrl}/users/1/notes.txt`);
    expect(other.headers.get('content-type')).toBe('application/octet-stream');
    expect(other.headers.get('x-content-type-options')).toBe('nosniff');
    await other.arrayBuffer();
  });

  it('answers HEAD with headers and no body', async () => {
    const res = await fetch(`${baseUrl}/users/1/images/a.jpg`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('4096');
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('answers 404 for missing files and directories', async () => {
    for (const missing of ['users/1/images/nope.jpg', 'users/1/images', 'users/1/images/a.jpg/x']) {
      const res = await fetch(`${baseUrl}/${missing}`);
      expect(res.status).toBe(404);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      await res.arrayBuffer();
    }
  });

  it.each([
    '/files/..%2fsecret.txt',
    '/files/..%2f..%2fetc%2fpasswd',
    '/files/%2e%2e/secret.txt',
    '/files/%2e%2e%2fsecret.txt',
    '/files/../secret.txt',
    '/files/users/../../secret.txt',
    '/files/..\\secret.txt',
    '/files/%5c..%5csecret.txt',
    '/files/..%5csecret.txt',
    '/files/%00',
    '/files/users/1/images/a.jpg%00.txt',
    '/files/%2fetc%2fpasswd',
    '/files//etc/passwd',
    '/files/%252e%252e%252fsecret.txt',
    '/files/%E0%A4%A',
    '/files/links/secret.jpg',
    '/files/links/parent/secret.txt',
  ])('never serves %s', async (rawPath) => {
    const res = await rawRequest(rawPath);
    expect([400, 404]).toContain(res.status);
    expect(res.body).not.toContain('TOP SECRET');
    expect(res.body).not.toContain('root:');
  });

  it('refuses traversal sent through fetch() too', async () => {
    const res = await fetch(`${baseUrl}/..%2fsecret.txt`);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('TOP SECRET');
  });
});
