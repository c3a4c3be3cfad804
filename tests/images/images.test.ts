// Profile images over real multipart HTTP: the whole flow against local disk and against S3
// (s3rver), metadata stripping, formats, the bad-input corpus, races and statement counts.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeleteImageDocument,
  MyImagesDocument,
  SearchUsersWithImagesDocument,
  SetPrimaryImageDocument,
  UpdateImageCaptionDocument,
  UploadImageDocument,
  UserImagesDocument,
} from '../generated/graphql.ts';
import { codes, countStatements, createUser, gql, gqlOk } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import {
  animated,
  exifIfd0Tags,
  GPS_IFD_TAG,
  jpeg,
  jpegWithGps,
  keyOf,
  png,
  pngBomb,
  pngHeader,
  PNG_SIGNATURE,
  readStored,
  startS3,
  storedKeys,
  uploadEnvelope,
  uploadImage,
  uploadOk,
  webp,
} from '../helpers/images.ts';
import type { FilePart, LocalS3 } from '../helpers/images.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const MAX_BYTES = 10 * 1024 * 1024;
const KEY_PATTERN = (userId: string, type: string, ext: string) =>
  new RegExp(`^users/${userId}/images/${type}_\\d{13}-[0-9a-f]{8}\\.${ext}$`);

/** Rows and objects a user's uploads left behind. */
async function leftovers(server: TestServer, userId: string) {
  return { rows: await server.deps.prisma.image.count({ where: { userId } }), objects: await storedKeys(server) };
}

const backends: Array<{ name: string; s3: boolean }> = [
  { name: 'local disk', s3: false },
  { name: 'S3 (s3rver)', s3: true },
];

describe.each(backends)('image flow on $name', ({ s3: useS3 }) => {
  let s3: LocalS3 | undefined;
  let server: TestServer;
  let alice: TestUser;

  beforeAll(async () => {
    if (useS3) s3 = await startS3();
    server = await startTestServer({ env: s3?.env ?? {} });
    alice = await createUser(server);
  });
  afterAll(async () => {
    await server?.close();
    await s3?.stop();
  });

  it('uploads, lists, sets the primary, captions and deletes over multipart HTTP', async () => {
    expect(server.config.s3 !== undefined).toBe(useS3);

    // A phone photo: 2400×1800 pixels with EXIF orientation 6, so it shows as 1800×2400.
    const photo = await jpegWithGps(2400, 1800);
    const first = await uploadOk(
      server,
      { data: photo, name: 'IMG_0001.JPG', type: 'image/jpeg' },
      { token: alice.accessToken, isPrimary: true, caption: '  At the lake  ' },
    );
    expect(first).toMatchObject({
      type: 'PROFILE',
      isPrimary: true,
      caption: 'At the lake',
      mimeType: 'image/jpeg',
      width: 1440,
      height: 1920,
      owner: { id: alice.id },
    });
    const firstKey = keyOf(first.url);
    expect(firstKey).toMatch(KEY_PATTERN(alice.id, 'profile', 'jpg'));
    expect(first.url).toBe(useS3 ? `${s3!.endpoint}/pinit-images/${firstKey}` : `${server.url}/files/${firstKey}`);

    // What is stored is what the row says, and it is served at the URL.
    const stored = (await readStored(server, firstKey))!;
    expect(stored.length).toBe(first.sizeBytes);
    const served = await fetch(first.url);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/jpeg');
    if (!useS3) {
      expect(served.headers.get('x-content-type-options')).toBe('nosniff');
      expect(served.headers.get('cache-control')).toContain('immutable');
    }
    expect(Buffer.from(await served.arrayBuffer()).equals(stored)).toBe(true);

    const second = await uploadOk(
      server,
      { data: await png(300, 200), name: 'drawing.png', type: 'image/png' },
      { token: alice.accessToken, type: 'GALLERY' },
    );
    expect(second).toMatchObject({
      type: 'GALLERY',
      isPrimary: false,
      caption: '',
      mimeType: 'image/png',
      width: 300,
      height: 200,
    });
    expect(keyOf(second.url)).toMatch(KEY_PATTERN(alice.id, 'gallery', 'png'));

    const listed = await alice.gqlOk(MyImagesDocument, {});
    expect(listed.me!.images.map((i) => i.id)).toEqual([second.id, first.id]); // newest first
    expect(listed.me!.avatarUrl).toBe(first.url);
    expect(listed.me!.primaryImage?.id).toBe(first.id);
    const gallery = await alice.gqlOk(MyImagesDocument, { type: 'GALLERY' });
    expect(gallery.me!.images.map((i) => i.id)).toEqual([second.id]);

    const promoted = await alice.gqlOk(SetPrimaryImageDocument, { id: second.id });
    expect(promoted.setPrimaryImage.isPrimary).toBe(true);
    // Others see it too, signed in or not.
    const seen = await gqlOk(server, UserImagesDocument, { id: alice.id });
    expect(seen.user!.avatarUrl).toBe(second.url);
    expect(seen.user!.primaryImage?.id).toBe(second.id);
    expect(seen.user!.images.map((i) => [i.id, i.isPrimary])).toEqual([
      [second.id, true],
      [first.id, false],
    ]);

    const captioned = await alice.gqlOk(UpdateImageCaptionDocument, { id: first.id, caption: 'Sunset' });
    expect(captioned.updateImageCaption.caption).toBe('Sunset');
    const cleared = await alice.gqlOk(UpdateImageCaptionDocument, { id: first.id, caption: '' });
    expect(cleared.updateImageCaption.caption).toBe('');

    expect(await storedKeys(server)).toEqual([firstKey, keyOf(second.url)].sort());
    const deleted = await alice.gqlOk(DeleteImageDocument, { id: second.id });
    expect(deleted.deleteImage).toBe(second.id);
    expect(await readStored(server, keyOf(second.url))).toBeUndefined();
    expect(await storedKeys(server)).toEqual([firstKey]);
    const after = await alice.gqlOk(MyImagesDocument, {});
    // The primary image was deleted: no avatar until another is chosen.
    expect(after.me).toMatchObject({ avatarUrl: null, primaryImage: null });
    expect(after.me!.images.map((i) => i.id)).toEqual([first.id]);

    await alice.gqlOk(DeleteImageDocument, { id: first.id });
    expect(await leftovers(server, alice.id)).toEqual({ rows: 0, objects: [] });
  });

  it('stores no EXIF, GPS or orientation, whatever the upload carried', async () => {
    const photo = await jpegWithGps(1200, 900);
    // The test image really carries them.
    const input = await sharp(photo).metadata();
    expect(input.orientation).toBe(6);
    expect(exifIfd0Tags(input.exif!)).toContain(GPS_IFD_TAG);

    const image = await uploadOk(server, { data: photo }, { token: alice.accessToken });
    for (const bytes of [
      await readStored(server, keyOf(image.url)),
      Buffer.from(await (await fetch(image.url)).arrayBuffer()),
    ]) {
      const meta = await sharp(bytes!).metadata();
      expect(meta).toMatchObject({ format: 'jpeg', width: 900, height: 1200 });
      expect(meta.exif).toBeUndefined();
      expect(meta.orientation).toBeUndefined();
      expect(meta.xmp).toBeUndefined();
      expect(meta.iptc).toBeUndefined();
      expect(meta.icc).toBeUndefined();
    }
    await alice.gqlOk(DeleteImageDocument, { id: image.id });
  });

  it('leaves nothing behind when the client hangs up mid-upload', async () => {
    const { rows } = await leftovers(server, alice.id);
    // The server's side of the request: its response ends once the resolver is done with it.
    const serverSide: http.ServerResponse[] = [];
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.headers['x-test-upload'] === 'abort') serverSide.push(res);
    };
    server.server.httpServer.on('request', onRequest);
    let puts = 0;
    const put = server.deps.storage.put.bind(server.deps.storage);
    server.deps.storage.put = (...args) => {
      puts += 1;
      return put(...args);
    };
    try {
      const file = await jpeg(1500, 1500);
      const { boundary, head, tail } = uploadEnvelope();
      const url = new URL(server.graphqlUrl);
      const req = http.request({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: false,
        headers: {
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': head.length + file.length + tail.length,
          authorization: `Bearer ${alice.accessToken}`,
          'apollo-require-preflight': 'true',
          'x-test-upload': 'abort',
        },
      });
      req.on('error', () => {});
      const statementsBefore = server.deps.db.statements.count;
      req.write(head);
      req.write(file.subarray(0, file.length >> 1));
      // The resolver runs (its first query is counted) and is reading the file when the client goes.
      await eventually(() => server.deps.db.statements.count > statementsBefore, {
        what: "the resolver's first query",
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      req.destroy();

      await eventually(() => serverSide[0]?.writableEnded === true, {
        timeoutMs: 10_000,
        what: 'the server to end its response',
      });
      expect(puts).toBe(0);
      expect(await leftovers(server, alice.id)).toEqual({ rows, objects: await storedKeys(server) });
      expect((await storedKeys(server)).filter((k) => k.includes(alice.id))).toEqual([]);
      // The server carries on.
      const image = await uploadOk(server, { data: await jpeg(40, 30) }, { token: alice.accessToken });
      await alice.gqlOk(DeleteImageDocument, { id: image.id });
    } finally {
      server.deps.storage.put = put;
      server.server.httpServer.off('request', onRequest);
    }
  });
});

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
    const wide = await stored({ data: await webp(4000, 1000), name: 'wide.webp', type: 'image/webp' });
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
    const gif = await stored({ data: await animated('gif', 2400, 100, 3), name: 'wave.gif', type: 'image/gif' });
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

describe('bad input', () => {
  let server: TestServer;
  let owner: TestUser;
  let other: TestUser;
  let ownersImageId: string;
  // The server's side of each request, to see that refused uploads were still read to the end.
  const serverRequests: http.IncomingMessage[] = [];
  const readToTheEnd = () =>
    eventually(() => serverRequests.at(-1)?.complete === true, { what: 'the upload to be read to the end' });

  beforeAll(async () => {
    server = await startTestServer();
    server.server.httpServer.on('request', (req: http.IncomingMessage) => serverRequests.push(req));
    owner = await createUser(server);
    other = await createUser(server);
    ownersImageId = (
      await uploadOk(
        server,
        { data: await jpeg(40, 40) },
        { token: owner.accessToken, isPrimary: true, caption: 'mine' },
      )
    ).id;
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

  it("refuses changes to another user's image (FORBIDDEN) and unknown ids (NOT_FOUND)", async () => {
    const token = { token: other.accessToken };
    expect(codes(await gql(server, SetPrimaryImageDocument, { id: ownersImageId }, token))).toEqual(['FORBIDDEN']);
    expect(
      codes(await gql(server, UpdateImageCaptionDocument, { id: ownersImageId, caption: 'hacked' }, token)),
    ).toEqual(['FORBIDDEN']);
    expect(codes(await gql(server, DeleteImageDocument, { id: ownersImageId }, token))).toEqual(['FORBIDDEN']);
    for (const id of [randomUUID(), 'not-a-uuid', '']) {
      expect(codes(await gql(server, SetPrimaryImageDocument, { id }, token))).toEqual(['NOT_FOUND']);
      expect(codes(await gql(server, UpdateImageCaptionDocument, { id, caption: 'x' }, token))).toEqual(['NOT_FOUND']);
      expect(codes(await gql(server, DeleteImageDocument, { id }, token))).toEqual(['NOT_FOUND']);
    }
    expect(codes(await gql(server, DeleteImageDocument, { id: ownersImageId }))).toEqual(['UNAUTHENTICATED']);
    expect(
      codes(await owner.gql(UpdateImageCaptionDocument, { id: ownersImageId, caption: 'x'.repeat(10_000) })),
    ).toEqual(['BAD_USER_INPUT']);

    // Untouched.
    const image = await server.deps.prisma.image.findUniqueOrThrow({ where: { id: ownersImageId } });
    expect(image).toMatchObject({ caption: 'mine', isPrimary: true, userId: owner.id });
    expect(await readStored(server, image.key)).toBeDefined();
  });

  it('caps the images one user keeps (CONFLICT), storing nothing for the refused one', async () => {
    const user = await createUser(server);
    await server.deps.prisma.image.createMany({
      data: Array.from({ length: 50 }, (_, i) => ({
        userId: user.id,
        key: `users/${user.id}/images/gallery_${i}.jpg`,
        type: 'GALLERY' as const,
        sizeBytes: 1,
        mimeType: 'image/jpeg',
      })),
    });
    const result = await uploadImage(server, { data: await jpeg(40, 40) }, { token: user.accessToken });
    expect(codes(result)).toEqual(['CONFLICT']);
    expect(await server.deps.prisma.image.count({ where: { userId: user.id } })).toBe(50);
    expect((await storedKeys(server)).filter((key) => key.includes(user.id))).toEqual([]);
  });
});

describe('one primary image per user', () => {
  let server: TestServer;
  beforeAll(async () => {
    // Twenty uploads of one user race here (tests/images/upload-limits.test.ts tests the cap).
    server = await startTestServer({
      env: { UPLOADS_MAX_CONCURRENT_PER_USER: '20', UPLOADS_MAX_CONCURRENT: '20' },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  const primaries = async (userId: string) =>
    server.deps.prisma.image.findMany({ where: { userId, isPrimary: true }, select: { id: true } });

  it('holds when 20 uploads with isPrimary race', async () => {
    const user = await createUser(server);
    const file = { data: await jpeg(32, 32) };
    const results = await Promise.all(
      Array.from({ length: 20 }, () => uploadImage(server, file, { token: user.accessToken, isPrimary: true })),
    );
    for (const result of results) expect(result.errors ?? []).toEqual([]);
    expect(await primaries(user.id)).toHaveLength(1);
    expect(await server.deps.prisma.image.count({ where: { userId: user.id } })).toBe(20);
  });

  it('holds when 20 setPrimaryImage calls race', async () => {
    const user = await createUser(server);
    const file = { data: await jpeg(32, 32) };
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await uploadOk(server, file, { token: user.accessToken })).id);

    const results = await Promise.all(ids.map((id) => user.gql(SetPrimaryImageDocument, { id })));
    // Each call either wins in turn or is told to retry; none fails otherwise.
    for (const result of results)
      expect(result.errors?.map((e) => e.extensions?.code) ?? []).toSatisfy(
        (c: unknown[]) => c.length === 0 || (c.length === 1 && c[0] === 'CONFLICT'),
      );
    expect(results.filter((r) => !r.errors).length).toBeGreaterThan(0);
    const [primary, ...more] = await primaries(user.id);
    expect(more).toEqual([]);
    expect(ids).toContain(primary.id);
    const seen = await user.gqlOk(MyImagesDocument, {});
    expect(seen.me!.primaryImage?.id).toBe(primary.id);
    expect(seen.me!.images.filter((i) => i.isPrimary).map((i) => i.id)).toEqual([primary.id]);

    // Again on the same image at once, and with the current primary: harmless.
    const again = await Promise.all(
      Array.from({ length: 10 }, (_, i) => user.gql(SetPrimaryImageDocument, { id: ids[i % 2] })),
    );
    for (const result of again) expect(result.errors ?? []).toEqual([]);
    expect(await primaries(user.id)).toHaveLength(1);
  });

  it('is enforced by the database, not only by the code', async () => {
    const user = await createUser(server);
    await uploadOk(server, { data: await jpeg(32, 32) }, { token: user.accessToken, isPrimary: true });
    await expect(
      server.deps.prisma.image.create({
        data: {
          userId: user.id,
          key: `users/${user.id}/images/profile_0-00000000.jpg`,
          type: 'PROFILE',
          isPrimary: true,
          sizeBytes: 1,
          mimeType: 'image/jpeg',
        },
      }),
    ).rejects.toMatchObject({ code: 'P2002' });
  });
});

describe('statement counts', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('lists 100 users with avatars, primary images and images in as many statements as 10', async () => {
    const prefix = `imgcount${Date.now().toString(36)}`;
    const users = Array.from({ length: 100 }, (_, i) => ({
      id: randomUUID(),
      username: `${prefix}_${String(i).padStart(3, '0')}`,
      passwordHash: 'x',
    }));
    await server.deps.prisma.user.createMany({ data: users });
    await server.deps.prisma.image.createMany({
      data: users.flatMap((u, i) => [
        {
          userId: u.id,
          key: `users/${u.id}/images/profile_${i}-0000000a.jpg`,
          type: 'PROFILE' as const,
          isPrimary: true,
          width: 10,
          height: 10,
          sizeBytes: 1,
          mimeType: 'image/jpeg',
        },
        {
          userId: u.id,
          key: `users/${u.id}/images/gallery_${i}-0000000b.png`,
          type: 'GALLERY' as const,
          sizeBytes: 1,
          mimeType: 'image/png',
        },
      ]),
    });

    const run = (first: number) => gqlOk(server, SearchUsersWithImagesDocument, { query: prefix, first });
    const all = await run(100);
    expect(all.searchUsers.edges).toHaveLength(100);
    for (const { node } of all.searchUsers.edges) {
      expect(node.avatarUrl).toMatch(new RegExp(`/files/users/${node.id}/images/profile_\\d+-0000000a\\.jpg$`));
      expect(node.primaryImage?.url).toBe(node.avatarUrl);
      expect(node.images.map((i) => i.type).sort()).toEqual(['GALLERY', 'PROFILE']);
    }

    const ten = await countStatements(server, () => run(10));
    const hundred = await countStatements(server, () => run(100));
    console.info(
      `searchUsers with avatarUrl, primaryImage and images: ${ten} statements for 10 users, ${hundred} for 100`,
    );
    expect(hundred).toBe(ten);
    expect(hundred).toBeLessThanOrEqual(3);
  });
});
