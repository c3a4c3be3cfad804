// Image uploads as clients send them (GraphQL multipart requests over fetch), test images made
// with sharp, s3rver, and a look at what a server has stored.
import { DeleteBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { print } from 'graphql';
import sharp from 'sharp';
import { UploadImageDocument } from '../generated/graphql.ts';
import type { ImageType, UploadImageMutation } from '../generated/graphql.ts';
import type { GqlResult } from './client.ts';
import type { TestServer } from './server.ts';

export interface FilePart {
  data: Buffer;
  name?: string;
  type?: string;
}

export interface UploadOptions {
  token?: string;
  type?: ImageType;
  isPrimary?: boolean;
  caption?: string;
  /** Send Apollo's CSRF header (default true). */
  preflight?: boolean;
  /** Extra file parts (each mapped to the same variable), for the two-files case. */
  extraFiles?: FilePart[];
  /** Map the file variable but send no file part. */
  omitFilePart?: boolean;
}

/** One uploadImage call as a GraphQL multipart request (https://github.com/jaydenseric/graphql-multipart-request-spec). */
export async function uploadImage(
  server: Pick<TestServer, 'graphqlUrl'>,
  file: FilePart,
  opts: UploadOptions = {},
): Promise<GqlResult<UploadImageMutation>> {
  const input = { file: null, type: opts.type ?? 'PROFILE', isPrimary: opts.isPrimary, caption: opts.caption };
  const form = new FormData();
  form.append('operations', JSON.stringify({ query: print(UploadImageDocument), variables: { input } }));
  const files = opts.omitFilePart ? [] : [file, ...(opts.extraFiles ?? [])];
  const map: Record<string, string[]> = { 0: ['variables.input.file'] };
  opts.extraFiles?.forEach((_, i) => (map[String(i + 1)] = ['variables.input.file']));
  form.append('map', JSON.stringify(map));
  files.forEach((part, i) =>
    form.append(
      String(i),
      new Blob([new Uint8Array(part.data)], { type: part.type ?? 'image/jpeg' }),
      part.name ?? 'photo.jpg',
    ),
  );
  const res = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.preflight === false ? {} : { 'apollo-require-preflight': 'true' }),
    },
    body: form,
  });
  const text = await res.text();
  try {
    return { status: res.status, ...(JSON.parse(text) as Omit<GqlResult<UploadImageMutation>, 'status'>) };
  } catch {
    return { status: res.status, errors: [{ message: `not JSON: ${text.slice(0, 200)}` }] };
  }
}

/** The uploaded image, failing the test with the errors otherwise. */
export async function uploadOk(server: Pick<TestServer, 'graphqlUrl'>, file: FilePart, opts: UploadOptions = {}) {
  const result = await uploadImage(server, file, opts);
  if (result.errors?.length || !result.data)
    throw new Error(`upload failed (${result.status}): ${JSON.stringify(result.errors)}`);
  return result.data.uploadImage;
}

// --- uploads as an attacker sends them ------------------------------------------------------

/** What a raw upload got back: the status line's code and the body, once the server closed. */
export interface RawResponse {
  status: number;
  body: string;
  /** The first error's code, when the body is a GraphQL error response. */
  code?: string;
  retryAfterSeconds?: number;
}

export interface RawUpload {
  /** Bytes of the request line and headers (sent at once). */
  headerBytes: number;
  /** The multipart preamble (operations, map, the file part's headers), before any file byte. */
  head: Buffer;
  /** The closing boundary, after the last file byte. */
  tail: Buffer;
  write(bytes: Buffer): void;
  /** Resolves when the connection has closed (by either side), with when that was (Date.now()). */
  closed: Promise<number>;
  /** Everything the server sent, parsed, once the connection has closed. */
  response: Promise<RawResponse>;
  destroy(): void;
}

/**
 * The bytes around the file of a GraphQL multipart uploadImage request (a PROFILE image), for
 * tests that write the body by hand: `head` (operations, map, the file part's headers), then the
 * file's bytes, then `tail`; sent as `multipart/form-data; boundary=<boundary>`.
 */
export function uploadEnvelope(boundary = `----pinit${Math.random().toString(36).slice(2)}`): {
  boundary: string;
  head: Buffer;
  tail: Buffer;
} {
  const operations = JSON.stringify({
    query: 'mutation ($input: UploadImageInput!) { uploadImage(input: $input) { id } }',
    variables: { input: { file: null, type: 'PROFILE' } },
  });
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${operations}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.input.file"]}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
  );
  return { boundary, head, tail: Buffer.from(`\r\n--${boundary}--\r\n`) };
}

/**
 * An uploadImage request written by hand on a raw socket: the request's headers (declaring
 * a body of head + fileLength + tail) go out at once, the body only as the test writes it,
 * so a test can stall, trickle or abandon it. `headers` adds or overrides request headers.
 */
export function rawUpload(
  server: Pick<TestServer, 'url'>,
  token: string | undefined,
  fileLength: number,
  headers: Record<string, string> = {},
): RawUpload {
  const { boundary, head, tail } = uploadEnvelope();
  const url = new URL(server.url);
  const all: Record<string, string> = {
    host: url.host,
    'content-type': `multipart/form-data; boundary=${boundary}`,
    'content-length': String(head.length + fileLength + tail.length),
    'apollo-require-preflight': 'true',
    // The server closes after answering, so that `response` settles on success too.
    connection: 'close',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...headers,
  };
  const socket = net.connect(Number(url.port), url.hostname);
  socket.on('error', () => {});
  const requestHead = Buffer.from(
    `POST /graphql HTTP/1.1\r\n${Object.entries(all)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')}\r\n`,
  );
  socket.write(requestHead);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  const response = closed.then(() => {
    const text = Buffer.concat(received).toString('utf8');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    try {
      const error = (JSON.parse(body) as { errors?: Array<{ extensions?: Record<string, unknown> }> }).errors?.[0];
      return {
        status,
        body,
        code: error?.extensions?.code as string | undefined,
        retryAfterSeconds: error?.extensions?.retryAfterSeconds as number | undefined,
      };
    } catch {
      return { status, body };
    }
  });
  return {
    headerBytes: requestHead.length,
    head,
    tail,
    write: (bytes) => void socket.write(bytes),
    closed,
    response,
    destroy: () => socket.destroy(),
  };
}

// --- test images ---------------------------------------------------------------------------

/** Noise, so that encoders cannot make it tiny and sizes look like photos. */
export function noise(width: number, height: number, channels: 3 | 4 = 3, seed = 1): Buffer {
  const data = Buffer.alloc(width * height * channels);
  let x = seed;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    data[i] = x >> 16;
  }
  return data;
}

export const jpeg = (width: number, height: number) =>
  sharp(noise(width, height), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();

/** A JPEG as phones write them: landscape pixels, EXIF orientation 6 (rotate 90°), GPS position, camera make. */
export const jpegWithGps = (width: number, height: number) =>
  sharp(noise(width, height), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .withMetadata({ orientation: 6 })
    .withExif({
      IFD0: { Make: 'PinItCam', Model: 'Leaky 1' },
      IFD3: {
        GPSLatitudeRef: 'N',
        GPSLatitude: '48/1 51/1 2400/100',
        GPSLongitudeRef: 'E',
        GPSLongitude: '2/1 21/1 0/1',
      },
    })
    .toBuffer();

export const png = (width: number, height: number) =>
  sharp(noise(width, height, 4), { raw: { width, height, channels: 4 } })
    .png()
    .toBuffer();

export const webp = (width: number, height: number) =>
  sharp(noise(width, height), { raw: { width, height, channels: 3 } })
    .webp()
    .toBuffer();

/** An animation of `frames` different frames. */
export function animated(format: 'gif' | 'webp', width: number, height: number, frames: number): Promise<Buffer> {
  const data = Buffer.concat(Array.from({ length: frames }, (_, i) => noise(width, height, 4, i + 7)));
  const image = sharp(data, { raw: { width, height: height * frames, channels: 4, pageHeight: height } });
  return (format === 'gif' ? image.gif({ loop: 0, delay: 100 }) : image.webp({ loop: 0, delay: 100 })).toBuffer();
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([length, body, crc]);
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function pngHeader(width: number, height: number, bitDepth = 8, colorType = 2): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr)]);
}

/**
 * A valid 1-bit grayscale PNG of width × height, all black: ~110 KB on the wire for
 * 30000 × 30000 (900 megapixels), the classic decompression bomb.
 */
export function pngBomb(width: number, height: number): Buffer {
  const rows = Buffer.alloc(height * (1 + Math.ceil(width / 8)));
  return Buffer.concat([
    pngHeader(width, height, 1, 0),
    pngChunk('IDAT', zlib.deflateSync(rows, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The tag ids in IFD0 of an EXIF block (0x8825 is the GPS IFD pointer). */
export function exifIfd0Tags(exif: Buffer): number[] {
  const tiff = exif.subarray(0, 6).toString('latin1') === 'Exif\0\0' ? exif.subarray(6) : exif;
  const little = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (o: number) => (little ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number) => (little ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  const ifd = u32(4);
  return Array.from({ length: u16(ifd) }, (_, i) => u16(ifd + 2 + i * 12));
}
export const GPS_IFD_TAG = 0x8825;

// --- s3rver ------------------------------------------------------------------------------------

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
// s3rver is CommonJS without type declarations.
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

export const S3_BUCKET = 'pinit-images';

export interface LocalS3 {
  endpoint: string;
  client: S3Client;
  /** startTestServer env selecting this S3. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startS3(): Promise<LocalS3> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'pinit-s3rver-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: S3_BUCKET }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  let stopped = false;
  return {
    endpoint,
    client,
    env: {
      S3_BUCKET,
      S3_ENDPOINT: endpoint,
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      S3_FORCE_PATH_STYLE: 'true',
      S3_REGION: 'us-east-1',
      // s3rver serves objects anonymously at endpoint/bucket/key, as a public bucket or CDN would.
      S3_PUBLIC_URL: `${endpoint}/${S3_BUCKET}`,
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await client.send(new DeleteBucketCommand({ Bucket: S3_BUCKET })).catch(() => undefined);
      await server.close();
      client.destroy();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

// --- what a server stored ----------------------------------------------------------------------

/** Everything the server's storage holds (temporary files of the disk storage included), as keys. */
export async function storedKeys(server: TestServer): Promise<string[]> {
  const s3 = server.config.s3;
  if (s3) {
    const client = s3Client(server);
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.NextContinuationToken;
    } while (token);
    return keys.sort();
  }
  const root = path.join(server.config.dataDir, 'files');
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

/** The stored bytes of a key, or undefined. */
export async function readStored(server: TestServer, key: string): Promise<Buffer | undefined> {
  const s3 = server.config.s3;
  if (!s3) return readFile(path.join(server.config.dataDir, 'files', ...key.split('/'))).catch(() => undefined);
  try {
    const object = await s3Client(server).send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    return Buffer.from(await object.Body!.transformToByteArray());
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

const clients = new WeakMap<TestServer, S3Client>();
function s3Client(server: TestServer): S3Client {
  let client = clients.get(server);
  if (!client) {
    const s3 = server.config.s3!;
    client = new S3Client({
      region: s3.region,
      endpoint: s3.endpoint,
      forcePathStyle: s3.forcePathStyle,
      credentials: { accessKeyId: s3.accessKeyId!, secretAccessKey: s3.secretAccessKey! },
    });
    clients.set(server, client);
  }
  return client;
}

/** The storage key inside an image URL. */
export const keyOf = (url: string) => url.slice(url.indexOf('users/'));
