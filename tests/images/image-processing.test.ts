// What the server makes of an upload, whatever the backend: sharp's processing (scaling, types
// judged by their bytes, animations, sizes) and the corpus of bad uploads, each refused with its
// code before any row is written. The image flow itself (rows, primary image, races, statement
// counts) is tests/images/images.test.ts, on both backends.
import http from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UploadImageDocument } from '../generated/graphql.ts';
import { codes, createUser } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import {
  animated,
  jpeg,
  keyOf,
  png,
  pngBomb,
  pngHeader,
  PNG_SIGNATURE,
  readStored,
  storedKeys,
  uploadImage,
  uploadOk,
  webp,
} from '../helpers/images.ts';
import type { FilePart } from '../helpers/images.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const MAX_BYTES = 10 * 1024 * 1024;

describe('image processing', () => {
  let server: TestServer;
  let user: TestUser;
  beforeAll(async () => {
    // One user uploads five at once here (tests/images/upload-limits.test.ts tests the cap).
    server = await startTestServer({ env: { UPLOADS_MAX_CONCURRENT_PER_USER: '10' } });
    user = await createUser(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  const stored = async (file: FilePart) => {
    const image = await uploadOk(server, file, { token: user.accessToken });
    return { image, meta: await sharp((await readStored(server, keyOf(image.url)))!, { animated: true }).metadata() };
  };

  it('scales the long side down to 1920 px and never enlarges', async () => {
    // Just past the limit: more pixels would only slow the WebP encoders down.
    const wide = await stored({ data: await webp(2400, 600), name: 'wide.webp', type: 'image/webp' });
    expect(wide.image).toMatchObject({ width: 1920, height: 480, mimeType: 'image/webp' });
    expect(wide.meta).toMatchObject({ format: 'webp', width: 1920, height: 480 });
    const small = await stored({ data: await png(64, 48), name: 'small.png', type: 'image/png' });
    expect(small.image).toMatchObject({ width: 64, height: 48, mimeType: 'image/png' });
  });

  it('judges the type by the bytes, not the name or the declared type', async () => {
    const { image, meta } = await stored({ data: await png(50, 40), name: 'holiday.jpg', type: 'image/jpeg' });
    expect(image.mimeType).toBe('image/png');
    expect(image.url).toMatch(/\.png$/);
    expect(meta.format).toBe('png');
  });

  it('keeps animated GIFs and WebPs animated', async () => {
    const gif = await stored({ data: await animated('gif', 2160, 90, 3), name: 'wave.gif', type: 'image/gif' });
    expect(gif.image).toMatchObject({ mimeType: 'image/gif', width: 1920, height: 80 });
    expect(gif.image.url).toMatch(/\.gif$/);
    expect(gif.meta).toMatchObject({ format: 'gif', pages: 3, width: 1920, pageHeight: 80 });

    const anim = await stored({ data: await animated('webp', 60, 40, 4), name: 'wave.webp', type: 'image/webp' });
    expect(anim.image).toMatchObject({ mimeType: 'image/webp', width: 60, height: 40 });
    expect(anim.meta).toMatchObject({ format: 'webp', pages: 4 });
  });

  it('records the stored size, and makes keys unique even within one millisecond', async () => {
    const file = { data: await jpeg(100, 100) };
    const images = await Promise.all(
      Array.from({ length: 5 }, () => uploadOk(server, file, { token: user.accessToken })),
    );
    expect(new Set(images.map((i) => i.url)).size).toBe(5);
    for (const image of images) expect((await readStored(server, keyOf(image.url)))!.length).toBe(image.sizeBytes);
  });

  it('accepts a file of exactly 10 MB', async () => {
    // Bytes after a JPEG's end marker are ignored by decoders; they make the file exactly the limit.
    const small = await jpeg(64, 64);
    const exact = Buffer.concat([small, Buffer.alloc(MAX_BYTES - small.length)]);
    const image = await uploadOk(server, { data: exact }, { token: user.accessToken });
    expect(image).toMatchObject({ width: 64, height: 64 });
    expect(image.sizeBytes).toBeLessThan(small.length * 2);
  });
});

describe('bad uploads', () => {
  let server: TestServer;
  let other: TestUser;
  // The server's side of each request, to see that refused uploads were still read to the end.
  const serverRequests: http.IncomingMessage[] = [];
  const readToTheEnd = () =>
    eventually(() => serverRequests.at(-1)?.complete === true, { what: 'the upload to be read to the end' });

  beforeAll(async () => {
    server = await startTestServer();
    server.server.httpServer.on('request', (req: http.IncomingMessage) => serverRequests.push(req));
    other = await createUser(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  const nothingStoredFor = async (user: TestUser) => {
    expect(await server.deps.prisma.image.count({ where: { userId: user.id } })).toBe(0);
    expect((await storedKeys(server)).filter((key) => key.includes(user.id))).toEqual([]);
  };

  // Each case is sent by `other`, who never manages to store anything.
  const uploads: Array<[string, () => Promise<FilePart>, Parameters<typeof uploadImage>[2], string]> = [
    ['0 bytes', async () => ({ data: Buffer.alloc(0) }), {}, 'BAD_USER_INPUT'],
    [
      '10 MB + 1 byte',
      async () => ({ data: Buffer.concat([await jpeg(64, 64), Buffer.alloc(MAX_BYTES)]).subarray(0, MAX_BYTES + 1) }),
      {},
      'PAYLOAD_TOO_LARGE',
    ],
    [
      '25 MB',
      async () => ({ data: Buffer.concat([await jpeg(64, 64), Buffer.alloc(25 * 1024 * 1024)]) }),
      {},
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'a truncated JPEG',
      async () => {
        const whole = await jpeg(800, 600);
        return { data: whole.subarray(0, Math.floor(whole.length * 0.6)) };
      },
      {},
      'BAD_USER_INPUT',
    ],
    [
      'a PNG signature followed by garbage',
      async () => ({
        data: Buffer.concat([PNG_SIGNATURE, Buffer.from('garbage!'.repeat(500))]),
        name: 'x.png',
        type: 'image/png',
      }),
      {},
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'a PNG header followed by garbage',
      async () => ({
        data: Buffer.concat([pngHeader(100, 100), Buffer.from('garbage!'.repeat(500))]),
        name: 'x.png',
        type: 'image/png',
      }),
      {},
      'BAD_USER_INPUT',
    ],
    [
      'an HTML file named .jpg',
      async () => ({
        data: Buffer.from('<!doctype html><html><script>alert(document.cookie)</script></html>'),
        name: 'cat.jpg',
      }),
      {},
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'an SVG file named .jpg',
      async () => ({
        data: Buffer.from(
          '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>',
        ),
        name: 'cat.jpg',
      }),
      {},
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'a TIFF (an image, but not one we take)',
      async () => ({
        data: await sharp({ create: { width: 20, height: 20, channels: 3, background: 'red' } })
          .tiff()
          .toBuffer(),
        name: 'scan.jpg',
      }),
      {},
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'a 30000×30000 PNG',
      async () => ({ data: pngBomb(30000, 30000), name: 'bomb.png', type: 'image/png' }),
      {},
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'two files in one request',
      async () => ({ data: await jpeg(40, 40) }),
      { extraFiles: [{ data: Buffer.from('a second file') }] },
      'BAD_USER_INPUT',
    ],
    [
      'a mapped file that never comes',
      async () => ({ data: await jpeg(40, 40) }),
      { omitFilePart: true },
      'BAD_USER_INPUT',
    ],
    // A big file: refused before it is read, it must still be drained or the request would stall.
    [
      'a caption of 10k characters',
      async () => ({ data: await jpeg(2000, 2000) }),
      { caption: 'x'.repeat(10_000) },
      'BAD_USER_INPUT',
    ],
    [
      'a caption with control characters',
      async () => ({ data: await jpeg(40, 40) }),
      { caption: 'bell\u0007' },
      'BAD_USER_INPUT',
    ],
  ];

  it.each(uploads)('%s gets its code', async (name, file, opts, code) => {
    const started = Date.now();
    const result = await uploadImage(server, await file(), { token: other.accessToken, ...opts });
    expect(codes(result)).toEqual([code]);
    expect(result.status).toBeLessThan(500);
    expect(result.data?.uploadImage ?? null).toBeNull();
    expect(Date.now() - started).toBeLessThan(15_000);
    // Except for a body refused by its declared length, which is not read (the connection closes).
    if (name !== '25 MB') await readToTheEnd();
    await nothingStoredFor(other);
  });

  it('names the field of input errors', async () => {
    const caption = await uploadImage(
      server,
      { data: await jpeg(40, 40) },
      { token: other.accessToken, caption: 'x'.repeat(256) },
    );
    expect(caption.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'caption' });
    const empty = await uploadImage(server, { data: Buffer.alloc(0) }, { token: other.accessToken });
    expect(empty.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'file' });
    const html = await uploadImage(server, { data: Buffer.from('<html></html>') }, { token: other.accessToken });
    expect(html.errors?.[0].extensions).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', field: 'file' });
  });

  it('refuses a missing file sent without multipart', async () => {
    const nullFile = await other.gql(UploadImageDocument, { input: { file: null, type: 'PROFILE' } });
    expect(codes(nullFile)).toEqual(['BAD_USER_INPUT']);
    const stringFile = await other.gql(UploadImageDocument, { input: { file: 'photo.jpg', type: 'PROFILE' } });
    expect(codes(stringFile)).toEqual(['BAD_USER_INPUT']);
    await nothingStoredFor(other);
  });

  it('refuses multipart requests without the CSRF preflight header, and anonymous uploads', async () => {
    // Big files, which no resolver reads: they are drained, so the answers still come.
    const big = { data: await jpeg(2000, 2000) };
    expect(big.data.length).toBeGreaterThan(2 * 1024 * 1024);
    const csrf = await uploadImage(server, big, { token: other.accessToken, preflight: false });
    expect(csrf.status).toBe(400);
    expect(codes(csrf)).toEqual(['BAD_USER_INPUT']);
    await readToTheEnd();
    const anonymous = await uploadImage(server, big);
    expect(codes(anonymous)).toEqual(['UNAUTHENTICATED']);
    await readToTheEnd();
    await nothingStoredFor(other);
  });

  it('answers 413 before reading a body that declares more than the limit', async () => {
    const url = new URL(server.graphqlUrl);
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent: false,
          headers: {
            'content-type': 'multipart/form-data; boundary=xyz',
            'content-length': String(500 * 1024 * 1024),
            'apollo-require-preflight': 'true',
            authorization: `Bearer ${other.accessToken}`,
          },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.write('--xyz\r\n'); // and never the other 500 MB
    });
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers malformed multipart bodies with BAD_USER_INPUT', async () => {
    const form = new FormData();
    form.append('operations', '{not json');
    form.append('map', '{}');
    const res = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'apollo-require-preflight': 'true' },
      body: form,
    });
    expect(res.status).toBe(400);
    expect(codes(await res.json())).toEqual(['BAD_USER_INPUT']);
  });
});
