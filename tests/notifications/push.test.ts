// Push delivery from the outbox against local fakes of APNs (HTTP/2) and FCM (HTTP + OAuth2
// token endpoint): the request shape, retries with backoff, removal of dead tokens, exactly-once
// delivery with workers racing, recovery after a restart, a hanging or unreachable provider,
// and the configuration's checks.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import type { App } from '../../src/app.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createPushSenders, createPushWorker } from '../../src/push/index.ts';
import type { PushWorker } from '../../src/push/index.ts';
import {
  MarkNotificationsReadDocument,
  RegisterDeviceDocument,
  SendFriendRequestDocument,
} from '../generated/graphql.ts';
import type { DevicePlatform } from '../generated/graphql.ts';
import { createUser, gqlOk } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { eventually } from '../helpers/eventually.ts';
import type { EventuallyOptions } from '../helpers/eventually.ts';
import { APNS, FCM, generatePushKeys, pushEnv, startFakeApns, startFakeFcm } from '../helpers/push.ts';
import type { FakeFcm, FakeProvider, PushKeys } from '../helpers/push.ts';
import { startTestServer, testDatabaseUrl } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

/** Deliveries go through the push worker's polls and retries: a longer default deadline. */
const waitFor = <T>(check: () => T | Promise<T>, opts: EventuallyOptions = {}) =>
  eventually(check, { timeoutMs: 15_000, ...opts });

let seq = 0;
/** A fresh APNs token (64 hex) or FCM token. */
const apnsToken = () => `${(Date.now() * 1000 + seq++).toString(16)}`.padStart(64, 'c');
const fcmToken = () => `fcm-${Date.now().toString(36)}-${seq++}:APA91b${'q'.repeat(100)}`;

const register = (server: TestServer, user: TestUser, platform: DevicePlatform, token: string) =>
  gqlOk(server, RegisterDeviceDocument, { platform, token }, { token: user.accessToken });

/** Sends a friend request from a new user to `to`: one FRIEND_REQUEST_RECEIVED notification. */
async function poke(server: TestServer, to: TestUser): Promise<string> {
  const from = await createUser(server);
  await gqlOk(server, SendFriendRequestDocument, { userId: to.id }, { token: from.accessToken });
  const row = await server.deps.prisma.notification.findFirstOrThrow({
    where: { recipientId: to.id, actorId: from.id },
    select: { id: true },
  });
  return row.id;
}

const jobsOf = (server: TestServer, notificationId: string) =>
  server.deps.prisma.pushJob.findMany({ where: { notificationId }, include: { device: { select: { token: true } } } });

let keys: PushKeys;
let apns: FakeProvider;
let fcm: FakeFcm;

beforeAll(async () => {
  keys = await generatePushKeys();
  apns = await startFakeApns(keys);
  fcm = await startFakeFcm(keys);
});

afterAll(async () => {
  await apns?.close();
  await fcm?.close();
});

afterEach(() => {
  // Whatever a test did, the requests reaching the fakes were well-formed.
  expect(apns.problems).toEqual([]);
  expect(fcm.problems).toEqual([]);
  apns.respond = () => ({ status: 200 });
  fcm.respond = () => ({ status: 200 });
});

describe('push delivery', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: pushEnv(keys, apns, fcm) });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('delivers a notification to every push device of the recipient, in the shape each provider expects', async () => {
    const me = await createUser(server);
    const [ios, android] = [apnsToken(), fcmToken()];
    await register(server, me, 'IOS', ios);
    await register(server, me, 'ANDROID', android);
    await register(server, me, 'WEB', 'https://push.example.com/send/abc');

    const first = await poke(server, me);
    // A push job per push device, none for the web one (stored only).
    expect((await jobsOf(server, first)).map((j) => j.device.token).sort()).toEqual([android, ios].sort());
    const toIos = await waitFor(() => apns.requests.find((r) => r.token === ios), { what: 'the APNs request' });
    const toAndroid = await waitFor(() => fcm.requests.find((r) => r.token === android), { what: 'the FCM request' });

    const notification = await server.deps.prisma.notification.findUniqueOrThrow({ where: { id: first } });
    expect(toIos.headers).toMatchObject({
      'apns-topic': APNS.topic,
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-id': first,
    });
    expect(toIos.jwt).toMatchObject({ iss: APNS.teamId });
    expect(toIos.body).toEqual({
      aps: { alert: { title: 'Friend request', body: notification.text }, badge: 1, sound: 'default' },
      notificationId: first,
      kind: 'FRIEND_REQUEST_RECEIVED',
    });
    expect(toAndroid.body).toEqual({
      message: {
        token: android,
        notification: { title: 'Friend request', body: notification.text },
        data: { notificationId: first, kind: 'FRIEND_REQUEST_RECEIVED' },
        android: { priority: 'HIGH', ttl: '86400s' },
      },
    });
    await waitFor(
      async () =>
        (await jobsOf(server, first)).every((j) => j.status === 'SENT' && j.attempts === 1 && j.lastError === null),
      {
        what: 'both jobs SENT',
      },
    );

    // The next push reuses the provider token (APNs) and the cached access token (FCM); the badge counts unread.
    const exchanges = fcm.issued.length;
    const second = await poke(server, me);
    const again = await waitFor(() => apns.requests.find((r) => r.body.notificationId === second));
    await waitFor(() =>
      fcm.requests.find((r) => (r.body.message as { data: { notificationId: string } }).data.notificationId === second),
    );
    expect(again.headers.authorization).toBe(toIos.headers.authorization);
    expect((again.body.aps as { badge: number }).badge).toBe(2);
    expect(fcm.issued.length).toBe(exchanges);
    await me.gqlOk(MarkNotificationsReadDocument, {});
    const third = await poke(server, me);
    expect(
      ((await waitFor(() => apns.requests.find((r) => r.body.notificationId === third))).body.aps as { badge: number })
        .badge,
    ).toBe(1);
  });

  it('retries a 500 with growing delays, and gives up after the last attempt', async () => {
    const me = await createUser(server);
    const [flaky, dead, busy] = [apnsToken(), apnsToken(), fcmToken()];
    for (const token of [flaky, dead]) await register(server, me, 'IOS', token);
    await register(server, me, 'ANDROID', busy);
    const seen = new Map<string, number>();
    const count = (token: string) => {
      const n = (seen.get(token) ?? 0) + 1;
      seen.set(token, n);
      return n;
    };
    apns.respond = (r) => {
      const n = count(r.token);
      if (r.token === dead || n <= 2) return { status: 500, body: { reason: 'InternalServerError' } };
      return { status: 200 };
    };
    fcm.respond = (r) =>
      count(r.token) === 1
        ? {
            status: 503,
            body: { error: { code: 503, status: 'UNAVAILABLE', message: 'try later' } },
            headers: { 'retry-after': '0' },
          }
        : { status: 200 };

    const id = await poke(server, me);
    const jobs = await waitFor(
      async () => {
        const rows = await jobsOf(server, id);
        return rows.length === 3 && rows.every((j) => j.status !== 'PENDING') && rows;
      },
      { what: 'every job finished' },
    );
    const byToken = Object.fromEntries(jobs.map((j) => [j.device.token, j]));
    expect(byToken[flaky]).toMatchObject({ status: 'SENT', attempts: 3, lastError: null });
    expect(byToken[busy]).toMatchObject({ status: 'SENT', attempts: 2 });
    expect(byToken[dead]).toMatchObject({ status: 'FAILED', attempts: 4, lastError: 'APNs 500 InternalServerError' });
    expect(seen.get(dead)).toBe(4);

    // Backoff: base 50 ms doubling, with ±20 % jitter: at least 40, 80, 160 ms between attempts.
    const times = apns.requests.filter((r) => r.token === dead).map((r) => r.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(50 * 2 ** i * 0.8 - 5));
    // The device stays: a provider failing is not the token's fault.
    expect(await server.deps.prisma.device.count({ where: { token: dead } })).toBe(1);
  });

  it('removes devices whose tokens the provider reports invalid, and only those', async () => {
    const me = await createUser(server);
    const tokens = {
      gone: apnsToken(),
      bad: apnsToken(),
      fine: apnsToken(),
      unregistered: fcmToken(),
      invalid: fcmToken(),
      payload: fcmToken(),
    };
    for (const [name, token] of Object.entries(tokens))
      await register(
        server,
        me,
        name === 'unregistered' || name === 'invalid' || name === 'payload' ? 'ANDROID' : 'IOS',
        token,
      );
    apns.respond = (r) =>
      r.token === tokens.gone
        ? { status: 410, body: { reason: 'Unregistered', timestamp: Date.now() } }
        : r.token === tokens.bad
          ? { status: 400, body: { reason: 'BadDeviceToken' } }
          : { status: 200 };
    const fcmError = (code: number, status: string, message: string, extra: object[] = []) => ({
      status: code,
      body: {
        error: {
          code,
          status,
          message,
          details: [
            {
              '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError',
              errorCode: status === 'NOT_FOUND' ? 'UNREGISTERED' : status,
            },
            ...extra,
          ],
        },
      },
    });
    fcm.respond = (r) =>
      r.token === tokens.unregistered
        ? fcmError(404, 'NOT_FOUND', 'Requested entity was not found.')
        : r.token === tokens.invalid
          ? fcmError(400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token', [
              {
                '@type': 'type.googleapis.com/google.rpc.BadRequest',
                fieldViolations: [{ field: 'message.token', description: 'Invalid registration token' }],
              },
            ])
          : fcmError(400, 'INVALID_ARGUMENT', 'Invalid value at message.data', [
              {
                '@type': 'type.googleapis.com/google.rpc.BadRequest',
                fieldViolations: [{ field: 'message.data', description: 'bad' }],
              },
            ]);

    const id = await poke(server, me);
    await waitFor(
      async () => {
        const rows = await jobsOf(server, id);
        return rows.length === 2 && rows.every((j) => j.status !== 'PENDING');
      },
      { what: 'the dead devices removed and the others finished' },
    );
    const left = await server.deps.prisma.device.findMany({ where: { userId: me.id }, select: { token: true } });
    expect(left.map((d) => d.token).sort()).toEqual([tokens.fine, tokens.payload].sort());
    const [fine, payload] = [
      (await jobsOf(server, id)).find((j) => j.device.token === tokens.fine),
      (await jobsOf(server, id)).find((j) => j.device.token === tokens.payload),
    ];
    expect(fine?.status).toBe('SENT');
    // A refused message is not retried, and its device is kept.
    expect(payload).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(payload?.lastError).toContain('INVALID_ARGUMENT');
  });

  it('delivers each job exactly once while several workers race for them', async () => {
    // A server of its own: every loop sending pushes, its own included, is stopped before the
    // count, so that a duplicate would have been sent by then.
    const server = await startTestServer({ env: pushEnv(keys, apns, fcm) });
    const logger = pino({ level: 'silent' });
    // Two more loops on the same database, claiming two jobs at a time, beside the server's own.
    const workers: PushWorker[] = [0, 1].map(() =>
      createPushWorker({
        prisma: server.deps.prisma,
        senders: createPushSenders(server.config.push),
        logger,
        maxAttempts: 4,
        retryBaseMs: 50,
        pollMs: 10,
        leaseMs: 30_000,
        batchSize: 2,
      }),
    );
    // On PostgreSQL, a second instance of the API races too.
    const other = testDatabaseUrl
      ? await startTestServer({ shareWith: server, env: pushEnv(keys, apns, fcm, { PUSH_POLL_MS: '10' }) })
      : undefined;
    let stopped: Promise<void> | undefined;
    // Each worker's stop() finishes its sends in flight; so does each server's.
    const stopAll = () =>
      (stopped ??= (async () => {
        await Promise.all(workers.map((w) => w.stop()));
        await other?.close();
        await server.close();
      })());
    try {
      for (const w of workers) w.start();
      apns.respond = () => ({ status: 200, delayMs: 20 });
      fcm.respond = () => ({ status: 200, delayMs: 20 });
      const me = await createUser(server);
      const tokens = Array.from({ length: 10 }, (_, i) => (i % 2 ? apnsToken() : fcmToken()));
      for (const token of tokens) await register(server, me, token.startsWith('fcm') ? 'ANDROID' : 'IOS', token);
      const ids = await Promise.all(Array.from({ length: 8 }, () => poke(server, me)));

      const mine = () => [
        ...apns.requests
          .filter((r) => ids.includes(String(r.body.notificationId)))
          .map((r) => `${String(r.body.notificationId)}/${r.token}`),
        ...fcm.requests
          .filter((r) => ids.includes((r.body.message as { data: { notificationId: string } }).data.notificationId))
          .map((r) => `${(r.body.message as { data: { notificationId: string } }).data.notificationId}/${r.token}`),
      ];
      await waitFor(() => mine().length >= 80, { what: '80 pushes at the providers', timeoutMs: 25_000 });
      await waitFor(
        async () =>
          (await server.deps.prisma.pushJob.count({ where: { notificationId: { in: ids }, status: 'SENT' } })) === 80,
        {
          what: '80 jobs SENT',
        },
      );
      expect(
        await server.deps.prisma.pushJob.aggregate({
          where: { notificationId: { in: ids } },
          _max: { attempts: true },
        }),
      ).toEqual({ _max: { attempts: 1 } });
      // A duplicate would come after the 80th push: once nothing sends any more, it has been sent.
      await stopAll();
      const sent = mine();
      expect(sent.length - new Set(sent).size).toBe(0); // duplicates
      expect(sent).toHaveLength(80);
    } finally {
      await stopAll();
    }
  });
});

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('push faults', () => {
  it('keeps queued jobs across a restart while the provider is unreachable, then delivers them', async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    const first = await startTestServer({
      env: pushEnv(keys, { url: down }, { url: down }, { PUSH_MAX_ATTEMPTS: '50' }),
    });
    let second: App | undefined;
    try {
      const me = await createUser(first);
      const [ios, android] = [apnsToken(), fcmToken()];
      await register(first, me, 'IOS', ios);
      await register(first, me, 'ANDROID', android);
      const ids = [await poke(first, me), await poke(first, me)];
      // Tried and failed: the provider cannot be reached.
      await waitFor(
        async () => {
          const jobs = await first.deps.prisma.pushJob.findMany({ where: { notificationId: { in: ids } } });
          return (
            jobs.length === 4 &&
            jobs.every((j) => j.status === 'PENDING' && j.attempts >= 1 && j.lastError?.includes('unreachable'))
          );
        },
        { what: 'failed attempts against the unreachable provider' },
      );
      await first.stop();

      // Another process on the same database, with the provider back.
      const config = loadConfig({ ...configEnvOf(first), ...pushEnv(keys, apns, fcm) });
      second = await createApp(config, pino({ level: 'silent' }));
      const prisma = second.deps.prisma;
      await waitFor(
        async () => (await prisma.pushJob.count({ where: { notificationId: { in: ids }, status: 'SENT' } })) === 4,
        {
          what: 'the queued jobs delivered after the restart',
        },
      );
      for (const id of ids) {
        expect(apns.requests.filter((r) => r.body.notificationId === id && r.token === ios)).toHaveLength(1);
        expect(
          fcm.requests.filter(
            (r) => (r.body.message as { data: { notificationId: string } }).data.notificationId === id,
          ),
        ).toHaveLength(1);
      }
    } finally {
      await second?.stop();
      await first.close();
    }
  });

  it('never makes a mutation or other pushes wait for a provider request that hangs, and retries it after the timeout', async () => {
    const server = await startTestServer({ env: pushEnv(keys, apns, fcm, { PUSH_TIMEOUT_MS: '6000' }) });
    try {
      const me = await createUser(server);
      const ios = apnsToken();
      await register(server, me, 'IOS', ios);
      const senders = await Promise.all([0, 1, 2].map(() => createUser(server)));
      let stuck: string | undefined;
      apns.respond = (r) => (r.body.notificationId === stuck ? { status: 200, hang: true } : { status: 200 });

      const first = await createUser(server);
      stuck = (
        await first
          .gqlOk(SendFriendRequestDocument, { userId: me.id })
          .then(() =>
            server.deps.prisma.notification.findFirstOrThrow({ where: { recipientId: me.id, actorId: first.id } }),
          )
      ).id;
      // The first attempt is stuck at the provider ...
      await waitFor(() => apns.requests.some((r) => r.body.notificationId === stuck), { what: 'the hanging request' });
      // ... while the API answers mutations that queue more pushes, and those are delivered.
      const more = await Promise.all(
        senders.map(async (from) => {
          await from.gqlOk(SendFriendRequestDocument, { userId: me.id });
          return (
            await server.deps.prisma.notification.findFirstOrThrow({ where: { recipientId: me.id, actorId: from.id } })
          ).id;
        }),
      );
      for (const id of more)
        await waitFor(async () => (await jobsOf(server, id))[0]?.status === 'SENT', { what: 'the later pushes' });
      // Still the first attempt, unanswered: nothing above waited for it.
      expect((await jobsOf(server, stuck))[0]).toMatchObject({ status: 'PENDING', attempts: 1, lastError: null });

      // The provider never answers it: after the timeout the job is tried again, and delivered.
      const stuckId = stuck;
      stuck = undefined;
      const done = await waitFor(async () => (await jobsOf(server, stuckId)).find((j) => j.status === 'SENT'), {
        what: 'the retry after the timeout',
      });
      expect(done.attempts).toBe(2);
      expect(apns.requests.filter((r) => r.body.notificationId === stuckId)).toHaveLength(2);
    } finally {
      await server.close();
    }
  });
});

/** The variables that made a test server's config, to start another process on its database. */
function configEnvOf(server: TestServer): Record<string, string> {
  return {
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: server.config.dataDir,
    SEED_DEMO: 'false',
    LOG_LEVEL: 'silent',
    JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
    ...(server.config.databaseUrl ? { DATABASE_URL: server.config.databaseUrl } : {}),
    ...(server.config.redisUrl ? { REDIS_URL: server.config.redisUrl } : {}),
  };
}

describe('push configuration', () => {
  const base = () => ({
    APNS_KEY: keys.apnsPem,
    APNS_KEY_ID: APNS.keyId,
    APNS_TEAM_ID: APNS.teamId,
    APNS_TOPIC: APNS.topic,
  });
  const account = (over: Record<string, unknown> = {}) =>
    JSON.stringify({
      type: 'service_account',
      project_id: FCM.projectId,
      client_email: FCM.clientEmail,
      private_key: keys.fcmPem,
      ...over,
    });

  it('is off unless configured, and reads keys inline or from files', async () => {
    expect(loadConfig({}).push).toMatchObject({ apns: undefined, fcm: undefined, maxAttempts: 8 });
    const dir = await mkdtemp(join(tmpdir(), 'pinit-push-'));
    try {
      await writeFile(join(dir, 'AuthKey.p8'), keys.apnsPem);
      await writeFile(join(dir, 'service-account.json'), account());
      const config = loadConfig({
        ...base(),
        APNS_KEY: join(dir, 'AuthKey.p8'),
        FCM_SERVICE_ACCOUNT: join(dir, 'service-account.json'),
      });
      expect(config.push.apns).toMatchObject({
        keyId: APNS.keyId,
        teamId: APNS.teamId,
        topic: APNS.topic,
        url: 'https://api.push.apple.com',
      });
      expect(config.push.apns?.key).toContain('BEGIN PRIVATE KEY');
      expect(config.push.fcm).toMatchObject({
        projectId: FCM.projectId,
        url: 'https://fcm.googleapis.com',
        tokenUrl: 'https://oauth2.googleapis.com/token',
      });
      // Escaped newlines, as .env files carry them.
      expect(loadConfig({ ...base(), APNS_KEY: keys.apnsPem.replace(/\n/g, '\\n') }).push.apns?.key).toBe(
        keys.apnsPem.trim(),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [{ APNS_KEY_ID: APNS.keyId }, 'APNS_KEY must be set too'],
    [
      {
        ...({} as object),
        APNS_KEY: '/nonexistent/AuthKey.p8',
        APNS_KEY_ID: APNS.keyId,
        APNS_TEAM_ID: APNS.teamId,
        APNS_TOPIC: APNS.topic,
      },
      'APNS_KEY must hold the key',
    ],
    [{ APNS_KEY_ID: 'short' }, 'APNS_KEY_ID'],
    [{ APNS_URL: 'ftp://apple' }, 'APNS_URL'],
    [{ FCM_SERVICE_ACCOUNT: '{"project_id": "x"' }, 'FCM_SERVICE_ACCOUNT must be a service-account JSON key'],
    [{ PUSH_MAX_ATTEMPTS: '0' }, 'PUSH_MAX_ATTEMPTS'],
    [{ PUSH_RETRY_BASE_MS: 'soon' }, 'PUSH_RETRY_BASE_MS'],
  ])('stops start-up with one line naming the variable (%#)', (env, message) => {
    expect(() => loadConfig(env as Record<string, string>)).toThrow(ConfigError);
    expect(() => loadConfig(env as Record<string, string>)).toThrow(message);
  });

  it('refuses keys of the wrong kind', () => {
    expect(() => loadConfig({ ...base(), APNS_KEY: keys.fcmPem })).toThrow('APNS_KEY must be an ES256 (P-256) key');
    expect(() => loadConfig({ FCM_SERVICE_ACCOUNT: account({ private_key: keys.apnsPem }) })).toThrow(
      'must be an RSA key',
    );
    expect(() => loadConfig({ FCM_SERVICE_ACCOUNT: account({ client_email: undefined }) })).toThrow(
      'FCM_SERVICE_ACCOUNT lacks client_email',
    );
    expect(() =>
      loadConfig({ ...base(), APNS_KEY: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----' }),
    ).toThrow('APNS_KEY is not a readable private key');
  });
});
