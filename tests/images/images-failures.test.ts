// Consistency of images when parts fail: a storage write that fails leaves no row, a database
// write that fails removes the written object, and a storage that is gone is a clear error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteImageDocument, MyImagesDocument } from '../generated/graphql.ts';
import { codes, createUser } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { jpeg, keyOf, readStored, startS3, storedKeys, uploadImage, uploadOk } from '../helpers/images.ts';
import type { LocalS3 } from '../helpers/images.ts';
import { startTestServer } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import type { TestServer } from '../helpers/server.ts';
import type { Storage } from '../../src/storage/index.ts';

/** Replaces storage methods for the duration of `fn`, recording the keys put() was given. */
async function withStorage(
  server: TestServer,
  replace: (original: Storage, putKeys: string[]) => Partial<Storage>,
  fn: (putKeys: string[]) => Promise<void>,
) {
  const storage = server.deps.storage;
  const original = { ...storage };
  const putKeys: string[] = [];
  const replaced = replace(original, putKeys);
  Object.assign(storage, {
    ...replaced,
    put: ((key, body, opts) => {
      putKeys.push(key);
      return (replaced.put ?? original.put)(key, body, opts);
    }) satisfies Storage['put'],
  });
  try {
    await fn(putKeys);
  } finally {
    Object.assign(storage, original);
  }
}

/** A real database failure after the object is written: a trigger refuses rows with this caption. */
const FAILING_CAPTION = 'the database refuses this row';

async function installFailingTrigger(server: TestServer) {
  await server.deps.prisma.$executeRawUnsafe(`
    CREATE OR REPLACE FUNCTION pinit_test_refuse_image() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'simulated database failure'; END $$`);
  await server.deps.prisma.$executeRawUnsafe(`
    CREATE TRIGGER pinit_test_refuse_image BEFORE INSERT ON images FOR EACH ROW
    WHEN (NEW.caption = '${FAILING_CAPTION}') EXECUTE FUNCTION pinit_test_refuse_image()`);
}

describe.each([
  { name: 'local disk', s3: false },
  { name: 'S3 (s3rver)', s3: true },
])('image consistency on $name', ({ s3: useS3 }) => {
  let s3: LocalS3 | undefined;
  let server: TestServer;
  let user: TestUser;
  const logLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    if (useS3) s3 = await startS3();
    server = await startTestServer({ env: { ...s3?.env, STORAGE_DELETION_POLL_MS: '100' }, logLines });
    user = await createUser(server);
    await installFailingTrigger(server);
  });
  afterAll(async () => {
    await server?.close();
    await s3?.stop();
  });

  const state = async () => ({
    rows: await server.deps.prisma.image.count({ where: { userId: user.id } }),
    objects: await storedKeys(server),
  });

  it('leaves no row when the storage write fails', async () => {
    await withStorage(
      server,
      () => ({
        put: async () => {
          throw new Error('bucket unreachable');
        },
      }),
      async (putKeys) => {
        const result = await uploadImage(
          server,
          { data: await jpeg(64, 64) },
          { token: user.accessToken, isPrimary: true },
        );
        expect(codes(result)).toEqual(['INTERNAL_SERVER_ERROR']);
        expect(result.errors![0].extensions?.requestId).toEqual(expect.any(String));
        expect(JSON.stringify(result.errors)).not.toContain('bucket unreachable');
        expect(putKeys).toHaveLength(1);
      },
    );
    expect(await state()).toEqual({ rows: 0, objects: [] });
    // The log says what went wrong, for the request id the client got.
    expect(logLines.some((l) => l.msg === 'unexpected error' && JSON.stringify(l.err).includes('Storing image'))).toBe(
      true,
    );
  });

  it('leaves no object when the storage write fails after writing (a lost response)', async () => {
    await withStorage(
      server,
      (original) => ({
        put: async (key, body, opts) => {
          await original.put(key, body, opts);
          throw new Error('connection reset after the object was written');
        },
      }),
      async (putKeys) => {
        const result = await uploadImage(server, { data: await jpeg(64, 64) }, { token: user.accessToken });
        expect(codes(result)).toEqual(['INTERNAL_SERVER_ERROR']);
        expect(putKeys).toHaveLength(1);
      },
    );
    expect(await state()).toEqual({ rows: 0, objects: [] });
  });

  it('removes the written object when the database write fails', async () => {
    for (const isPrimary of [false, true]) {
      await withStorage(
        server,
        () => ({}),
        async (putKeys) => {
          const result = await uploadImage(
            server,
            { data: await jpeg(64, 64) },
            { token: user.accessToken, isPrimary, caption: FAILING_CAPTION },
          );
          expect(codes(result)).toEqual(['INTERNAL_SERVER_ERROR']);
          // The object was written before the row failed, and is gone again.
          expect(putKeys).toHaveLength(1);
          expect(await readStored(server, putKeys[0])).toBeUndefined();
        },
      );
      expect(await state()).toEqual({ rows: 0, objects: [] });
    }
    // The failed primary change rolled back with the row: an existing primary stays.
    const primary = await uploadOk(server, { data: await jpeg(64, 64) }, { token: user.accessToken, isPrimary: true });
    const failed = await uploadImage(
      server,
      { data: await jpeg(64, 64) },
      { token: user.accessToken, isPrimary: true, caption: FAILING_CAPTION },
    );
    expect(codes(failed)).toEqual(['INTERNAL_SERVER_ERROR']);
    const seen = await user.gqlOk(MyImagesDocument, {});
    expect(seen.me!.primaryImage?.id).toBe(primary.id);
    expect(await storedKeys(server)).toEqual([keyOf(primary.url)]);
    await user.gqlOk(DeleteImageDocument, { id: primary.id });
    expect(await state()).toEqual({ rows: 0, objects: [] });
  });

  it('keeps retrying the object of a deleted image the storage cannot remove, until it is gone', async () => {
    const image = await uploadOk(server, { data: await jpeg(64, 64) }, { token: user.accessToken });
    const key = keyOf(image.url);
    const queued = () => server.deps.prisma.storageDeletion.findUnique({ where: { key } });
    await withStorage(
      server,
      () => ({
        delete: async () => {
          throw new Error('bucket unreachable');
        },
      }),
      async () => {
        // For the client the image is gone at once; the object waits in the queue, tried again and again.
        const deleted = await user.gqlOk(DeleteImageDocument, { id: image.id });
        expect(deleted.deleteImage).toBe(image.id);
        expect((await state()).rows).toBe(0);
        await eventually(async () => ((await queued())?.attempts ?? 0) >= 2, { what: 'a second attempt' });
        expect((await queued())?.lastError).toBe('bucket unreachable');
        expect(await storedKeys(server)).toContain(key);
      },
    );
    expect(logLines.some((l) => l.key === key && String(l.msg).includes('not removed yet'))).toBe(true);
    // The storage is back: the next attempt removes the object and its queue row.
    await eventually(async () => !(await queued()) && !(await storedKeys(server)).includes(key), {
      what: 'the object removed once the storage is back',
    });
  });
});

describe('image uploads with S3 gone', () => {
  let s3: LocalS3;
  let server: TestServer;
  let user: TestUser;
  beforeAll(async () => {
    s3 = await startS3();
    server = await startTestServer({ env: s3.env });
    user = await createUser(server);
  });
  afterAll(async () => {
    await server?.close();
    await s3?.stop();
  });

  it('answers a clear error quickly and writes no row', async () => {
    const kept = await uploadOk(server, { data: await jpeg(64, 64) }, { token: user.accessToken, isPrimary: true });
    await s3.stop();

    const started = Date.now();
    const result = await uploadImage(
      server,
      { data: await jpeg(64, 64) },
      { token: user.accessToken, isPrimary: true },
    );
    expect(codes(result)).toEqual(['INTERNAL_SERVER_ERROR']);
    expect(result.errors![0].extensions?.requestId).toEqual(expect.any(String));
    expect(Date.now() - started).toBeLessThan(15_000);

    // Nothing changed: one row, still primary; reads keep working.
    const seen = await user.gqlOk(MyImagesDocument, {});
    expect(seen.me!.images.map((i) => i.id)).toEqual([kept.id]);
    expect(seen.me!.primaryImage?.id).toBe(kept.id);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).failing).toEqual(['storage']);
  });
});
