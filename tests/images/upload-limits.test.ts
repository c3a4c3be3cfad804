// Uploads against a hostile client, over raw sockets: stalled and trickling bodies are cut by
// the idle and total timeouts without the server holding their bytes in memory, slow headers
// by headersTimeout; concurrent uploads are capped per user and per instance before any body
// is read; and the temporary file of an upload is gone however the upload ends.
import { existsSync, watch } from 'node:fs';
import { readdir, readlink, stat } from 'node:fs/promises';
import type http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, createUser } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { eventually } from '../helpers/eventually.ts';
import { jpeg, rawUpload, uploadImage, uploadOk } from '../helpers/images.ts';
import type { RawUpload } from '../helpers/images.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';
import { uploadTempDir } from '../../src/services/images/index.ts';

const MB = 1024 * 1024;

/** A full collection, so that garbage does not count as held: global.gc, or V8's own made reachable. */
const gc: () => void =
  (globalThis as { gc?: () => void }).gc ??
  (() => {
    v8.setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  })();

/**
 * Memory this process holds after a full collection: what is live (V8's heap, and Buffers and
 * other memory outside it), and the resident set. RSS also keeps what the allocator has not
 * returned to the system: the 64 KB read buffers 225 MB passed through, freed but retained.
 */
function held() {
  gc();
  gc();
  const { rss, heapUsed, external } = process.memoryUsage();
  return { rss, live: heapUsed + external };
}

const tempFiles = async (server: TestServer) => readdir(uploadTempDir(server.config.dataDir)).catch(() => []);

/** The server's side of every request from now on, until `stop()`. */
function serverRequests(server: TestServer) {
  const seen: http.IncomingMessage[] = [];
  const onRequest = (req: http.IncomingMessage) => seen.push(req);
  server.server.httpServer.on('request', onRequest);
  return { seen, stop: () => server.server.httpServer.off('request', onRequest) };
}

describe('stalled, trickling and slow-loris clients', () => {
  const IDLE_SECONDS = 2;
  const HEADERS_SECONDS = 2;
  let server: TestServer;
  let user: TestUser;
  beforeAll(async () => {
    server = await startTestServer({
      env: {
        // Room for the 25 stalls of one account below: this suite is about what each one costs.
        UPLOADS_MAX_CONCURRENT_PER_USER: '30',
        UPLOADS_MAX_CONCURRENT: '30',
        UPLOAD_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS),
        UPLOAD_TIMEOUT_SECONDS: '60',
        HTTP_HEADERS_TIMEOUT_SECONDS: String(HEADERS_SECONDS),
        RATE_LIMIT_UPLOADS_PER_USER: '1000/3600',
      },
    });
    user = await createUser(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it(
    'closes 25 stalled 9 MB uploads within the idle timeout, holding no copy of them in memory',
    { timeout: 120_000 },
    async () => {
      const count = 25;
      const size = 9 * MB;
      const sent = size - 64; // all but the last bytes, then silence
      const file = Buffer.alloc(size, 0x5a); // one buffer: every socket writes (views of) the same bytes
      // A warm-up round of small stalls first, so that what the baseline leaves out is the files'
      // bytes, not the first allocation of 25 requests' worth of sockets, parsers and queries.
      const warmUp = Array.from({ length: count }, () => rawUpload(server, user.accessToken, size));
      for (const upload of warmUp) upload.write(Buffer.concat([upload.head, file.subarray(0, 64 * 1024)]));
      await Promise.all(warmUp.map((upload) => upload.closed));
      await eventually(async () => (await tempFiles(server)).length === 0, { what: 'the warm-up files to go' });

      const requests = serverRequests(server);
      try {
        const before = held();
        const uploads = Array.from({ length: count }, () => rawUpload(server, user.accessToken, size));
        for (const upload of uploads) {
          upload.write(upload.head);
          upload.write(file.subarray(0, sent));
        }
        const total = uploads.reduce((sum, upload) => sum + upload.headerBytes + upload.head.length + sent, 0);
        // Every byte sent has been read by the server (the uploads are not held back by the kernel).
        await eventually(() => requests.seen.reduce((sum, req) => sum + req.socket.bytesRead, 0) >= total, {
          timeoutMs: 60_000,
          intervalMs: 50,
          what: `the server to read the ${total} bytes sent`,
        });
        const stalledAt = Date.now();
        const after = held();
        const growth = { rss: after.rss - before.rss, live: after.live - before.live };
        console.log(
          `${count} stalled uploads of ${size / MB} MB: held +${(growth.live / MB).toFixed(1)} MB (heap and buffers), ` +
            `RSS +${(growth.rss / MB).toFixed(1)} MB (${((count * sent) / MB).toFixed(0)} MB sent)`,
        );
        // Buffering them holds all 225 MB (RSS +180 MB). What stays live is the requests' state;
        // RSS may keep a few tens of MB of freed read buffers, which is the allocator, not the uploads.
        expect(growth.live).toBeLessThanOrEqual(16 * MB);
        expect(growth.rss).toBeLessThanOrEqual(48 * MB);

        let closed = 0;
        const closedAt = uploads.map((upload) => upload.closed.then((at) => ((closed += 1), at)));
        await eventually(() => closed === count, {
          timeoutMs: (IDLE_SECONDS + 5) * 1000,
          what: `the server to close all ${count} stalled uploads`,
        });
        const slowest = Math.max(...(await Promise.all(closedAt))) - stalledAt;
        console.log(`all ${count} closed ${slowest} ms after they stalled (idle timeout ${IDLE_SECONDS} s)`);
        expect(slowest).toBeLessThanOrEqual((IDLE_SECONDS + 3) * 1000);
        for (const upload of uploads) {
          const response = await upload.response;
          expect(response).toMatchObject({ status: 408, code: 'BAD_USER_INPUT' });
        }
        // Their temporary files are gone, and nothing was stored.
        await eventually(async () => (await tempFiles(server)).length === 0, { what: 'the temporary files to go' });
        expect(await server.deps.prisma.image.count({ where: { userId: user.id } })).toBe(0);
      } finally {
        requests.stop();
      }
    },
  );

  it('closes an upload that keeps trickling past the total timeout', async () => {
    // Another server: this one's total timeout must let the 225 MB above arrive on a slow machine.
    const strict = await startTestServer({
      env: { UPLOAD_IDLE_TIMEOUT_SECONDS: '2', UPLOAD_TIMEOUT_SECONDS: '3' },
    });
    try {
      const trickler = await createUser(strict);
      const upload = rawUpload(strict, trickler.accessToken, 5 * MB);
      const started = Date.now();
      upload.write(upload.head);
      // A kilobyte every 200 ms: never idle for 2 s, and never done.
      const drip = setInterval(() => upload.write(Buffer.alloc(1024, 1)), 200);
      try {
        const closedAt = await upload.closed;
        expect(closedAt - started).toBeGreaterThanOrEqual(3000);
        expect(closedAt - started).toBeLessThan(6000);
      } finally {
        clearInterval(drip);
      }
      const response = await upload.response;
      expect(response).toMatchObject({ status: 408, code: 'BAD_USER_INPUT' });
      expect(response.body).toContain('longer than 3 s');
      await eventually(async () => (await tempFiles(strict)).length === 0, { what: 'the temporary file to go' });
    } finally {
      await strict.close();
    }
  });

  it('closes a connection that never finishes its headers (slow-loris)', async () => {
    const url = new URL(server.url);
    const socket = net.connect(Number(url.port), url.hostname);
    socket.on('error', () => {});
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    const started = Date.now();
    socket.write(`POST /graphql HTTP/1.1\r\nHost: ${url.host}\r\n`);
    // One more header line every 250 ms: the connection is never idle, the headers never end.
    let n = 0;
    const drip = setInterval(() => socket.write(`x-slow-${n++}: 1\r\n`), 250);
    try {
      const closedAt = await closed;
      console.log(`slow-loris closed after ${closedAt - started} ms (headersTimeout ${HEADERS_SECONDS} s)`);
      expect(closedAt - started).toBeGreaterThanOrEqual(HEADERS_SECONDS * 1000 - 100);
      // Within the timeout plus the server's 1 s checking interval, and some slack.
      expect(closedAt - started).toBeLessThan((HEADERS_SECONDS + 2.5) * 1000);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  });

  describe('the temporary file', () => {
    let created: Set<string>;
    let watcher: ReturnType<typeof watch>;
    beforeAll(() => {
      created = new Set();
      watcher = watch(uploadTempDir(server.config.dataDir), (_event, name) => {
        if (name) created.add(String(name));
      });
    });
    afterAll(() => watcher.close());

    /** Runs an upload, checking that it made a temporary file and that none is left afterwards. */
    async function leavesNoTempFile(upload: () => Promise<unknown>) {
      const seenBefore = created.size;
      await upload();
      await eventually(() => created.size > seenBefore, { what: 'the upload to make a temporary file' });
      await eventually(async () => (await tempFiles(server)).length === 0, { what: 'the temporary file to go' });
    }

    it('is gone after a success', async () => {
      await leavesNoTempFile(async () => {
        const image = await uploadOk(server, { data: await jpeg(300, 200) }, { token: user.accessToken });
        expect(image).toMatchObject({ width: 300, height: 200 });
      });
    });

    it('is gone after a refused file (corrupt, too large)', async () => {
      const whole = await jpeg(800, 600);
      await leavesNoTempFile(async () => {
        const truncated = await uploadImage(
          server,
          { data: whole.subarray(0, whole.length >> 1) },
          { token: user.accessToken },
        );
        expect(codes(truncated)).toEqual(['BAD_USER_INPUT']);
      });
      await leavesNoTempFile(async () => {
        const tooLarge = await uploadImage(
          server,
          { data: Buffer.concat([whole, Buffer.alloc(10 * MB)]).subarray(0, 10 * MB + 1) },
          { token: user.accessToken },
        );
        expect(codes(tooLarge)).toEqual(['PAYLOAD_TOO_LARGE']);
      });
    });

    it('is gone after the client hangs up mid-file', async () => {
      const file = await jpeg(1500, 1500);
      let upload: RawUpload | undefined;
      await leavesNoTempFile(async () => {
        upload = rawUpload(server, user.accessToken, file.length);
        upload.write(upload.head);
        upload.write(file.subarray(0, file.length >> 1));
        // The file is being written to disk when the client goes.
        await eventually(
          async () => {
            const [name] = await tempFiles(server);
            return name && (await stat(path.join(uploadTempDir(server.config.dataDir), name))).size > 0;
          },
          { what: 'a temporary file with the first bytes' },
        );
        upload.destroy();
      });
    });

    it('is not held open by the image pipeline once removed', async () => {
      if (!existsSync('/proc/self/fd')) return;
      const dir = uploadTempDir(server.config.dataDir);
      const open = [];
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
        if (target.startsWith(dir)) open.push(target);
      }
      expect(open).toEqual([]);
    });
  });
});

describe('concurrent uploads', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: {
        UPLOADS_MAX_CONCURRENT_PER_USER: '2',
        UPLOADS_MAX_CONCURRENT: '3',
        // Long enough that the held uploads below are not cut while the test looks at them.
        UPLOAD_IDLE_TIMEOUT_SECONDS: '60',
        RATE_LIMIT_UPLOADS_PER_USER: '1000/3600',
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses the third upload of a user (429) and the fourth of the instance (503) before reading them, and frees a slot when one ends', async () => {
    const [alice, bob, carol] = [await createUser(server), await createUser(server), await createUser(server)];
    const file = await jpeg(400, 300);
    const half = file.length >> 1;
    const holding: RawUpload[] = [];
    /** An upload that has started arriving (its temporary file exists) and then waits. */
    const hold = async (who: TestUser) => {
      const upload = rawUpload(server, who.accessToken, file.length);
      holding.push(upload);
      upload.write(upload.head);
      upload.write(file.subarray(0, half));
      await eventually(async () => (await tempFiles(server)).length === holding.length, {
        what: `${holding.length} uploads to be receiving`,
      });
      return upload;
    };
    /** An upload of which only the headers are sent: whatever it gets is decided before its body. */
    const headersOnly = async (who: TestUser) => {
      const upload = rawUpload(server, who.accessToken, file.length);
      const response = await upload.response;
      return response;
    };
    try {
      const first = await hold(alice);
      await hold(alice);
      const third = await headersOnly(alice);
      expect(third).toMatchObject({ status: 429, code: 'RATE_LIMITED', retryAfterSeconds: 2 });
      expect(third.body).toContain('At most 2 uploads at once');

      await hold(bob);
      const overInstance = await headersOnly(carol);
      expect(overInstance).toMatchObject({ status: 503, code: 'RATE_LIMITED', retryAfterSeconds: 2 });

      // Alice's first upload completes: a slot of hers (and of the instance) is free again.
      first.write(file.subarray(half));
      first.write(first.tail);
      const done = await first.response;
      expect(done.status).toBe(200);
      expect(JSON.parse(done.body)).toMatchObject({ data: { uploadImage: { id: expect.any(String) } } });
      const again = await uploadOk(server, { data: await jpeg(40, 40) }, { token: alice.accessToken });
      expect(again.id).toEqual(expect.any(String));
    } finally {
      for (const upload of holding) upload.destroy();
    }
    // Hanging up frees the slots (and removes the files): carol now gets in.
    await eventually(async () => (await tempFiles(server)).length === 0, { what: 'the temporary files to go' });
    await eventually(
      async () => (await uploadOk(server, { data: await jpeg(40, 40) }, { token: carol.accessToken })).id,
      {
        what: "carol's upload to be taken",
      },
    );
  });
});
