// Profile images over real multipart HTTP: the whole flow against local disk and against S3
// (s3rver), metadata stripping, another user's images, races and statement counts. Processing
// and the bad-input corpus, which do not depend on the backend, are tests/images/image-processing.test.ts.
import { randomUUID } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadTempDir } from '../../src/services/images/index.ts';
import {
  DeleteImageDocument,
  MyImagesDocument,
  SearchUsersWithImagesDocument,
  SetPrimaryImageDocument,
  UpdateImageCaptionDocument,
  UserImagesDocument,
} from '../generated/graphql.ts';
import { codes, countStatements, createUser, gql, gqlOk } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import {
  exifIfd0Tags,
  GPS_IFD_TAG,
  jpeg,
  jpegWithGps,
  keyOf,
  png,
  readStored,
  startS3,
  storedKeys,
  uploadEnvelope,
  uploadImage,
  uploadOk,
} from '../helpers/images.ts';
import type { LocalS3 } from '../helpers/images.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

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

    // A phone photo: 2000×1500 pixels with EXIF orientation 6, so it shows as 1500×2000, and
    // its long side is scaled down to 1920.
    const photo = await jpegWithGps(2000, 1500);
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
      await eventually(
        async () => {
          const dir = uploadTempDir(server.config.dataDir);
          const [name] = await readdir(dir).catch(() => []);
          return name && (await stat(path.join(dir, name))).size > 0;
        },
        { what: 'a temporary file with the first bytes' },
      );
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

describe("another user's images, and the cap", () => {
  let server: TestServer;
  let owner: TestUser;
  let other: TestUser;
  let ownersImageId: string;

  beforeAll(async () => {
    server = await startTestServer();
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
