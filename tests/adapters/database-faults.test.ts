// Database and Redis faults, recovered by the instance itself: a server reaches PostgreSQL (or
// Redis) through a TCP proxy that can black-hole it, make its host vanish under the pooled
// connections (a failover), or refuse and close connections. Requests must fail within the
// deadline with a retryable INTERNAL_SERVER_ERROR (HTTP 503), /readyz must say `database`
// meanwhile, and the instance must serve again by itself once the database is back.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE_TIMEOUTS } from '../../src/db/index.ts';
import { orderedPair } from '../../src/services/social/index.ts';
import { CreateEventDocument, MeDocument, PresenceDocument, SearchUsersDocument } from '../generated/graphql.ts';
import { createUser, gql, gqlOk, postQuery, wsClient, wsQuery, wsRequest } from '../helpers/client.ts';
import type { GqlResult, TestUser } from '../helpers/client.ts';
import { createEvent, eventInput } from '../helpers/events.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer, testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';

/** The deadlines of the fast server: short, so the suite is quick. */
const FAST = { queryMs: 1_500, connectMs: 1_000 };
/** Targets: a request fails within this while the database is black-holed … */
const FAIL_WITHIN_MS = 5_000;
/** … and the instance serves again within this once the database is back. */
const RECOVER_WITHIN_MS = 30_000;

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = Date.now();
  const value = await work();
  return { ms: Date.now() - started, value };
}

/** Checks a result is the documented outage answer: retryable INTERNAL_SERVER_ERROR, 503, a request id, nothing internal. */
function expectUnavailable(result: GqlResult<unknown>, status = 503) {
  expect(result.status).toBe(status);
  expect(result.errors?.length).toBeGreaterThan(0);
  for (const error of result.errors ?? []) {
    expect(error.message).toMatch(/temporarily unavailable/);
    expect(error.extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', retryable: true });
    expect(error.extensions?.requestId).toBeTruthy();
  }
  expect(JSON.stringify(result.errors)).not.toMatch(/timeout|SELECT|ECONN|postgres|prisma/i);
}

const readiness = async (server: TestServer) => {
  const res = await fetch(`${server.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { failing: string[] } };
};

const search = (server: TestServer, user: TestUser) =>
  gql(server, SearchUsersDocument, { query: user.username.slice(0, 6) }, { token: user.accessToken });

/** Waits until a request through the server succeeds again; how long that took. */
async function recovery(server: TestServer, user: TestUser, timeoutMs = RECOVER_WITHIN_MS): Promise<number> {
  const started = Date.now();
  // Requests one after the other, as a quiet instance gets them: each may take a dead connection.
  await eventually(async () => !(await search(server, user)).errors, {
    timeoutMs,
    intervalMs: 100,
    what: 'a request to succeed after the database came back',
  });
  return Date.now() - started;
}

/**
 * Opens `count` pooled connections at once, again until the pool holds them all. Some may be
 * busy a moment with the instance's own background work (the revocation poll, the change log's
 * poll, the push worker): a busy connection dies with the host like an idle one. And one may
 * close meanwhile (a connection left suspect by an earlier fault is replaced on its next use),
 * so the pool is filled again rather than watched.
 */
async function fillPool(server: TestServer, count: number) {
  await eventually(
    async () => {
      await Promise.all(
        Array.from({ length: count }, () => server.deps.prisma.$queryRaw`SELECT 1 AS one FROM pg_sleep(0.2)`),
      );
      return (server.deps.db.poolStats()?.total ?? 0) >= count;
    },
    { timeoutMs: 5_000, intervalMs: 10, what: `${count} pooled connections` },
  );
}

describe.skipIf(!testDatabaseUrl)('database faults (PostgreSQL behind a proxy)', () => {
  let base: TestServer;
  let fast: TestServer;
  let proxy: TcpProxy;
  let user: TestUser;
  const logLines: Array<Record<string, unknown>> = [];
  beforeAll(async () => {
    base = await startTestServer();
    proxy = TcpProxy.for(testDatabaseUrl!, 5432);
    await proxy.start();
    fast = await startTestServer({
      shareWith: base,
      logLines,
      env: {
        DATABASE_URL: proxy.url(base.config.databaseUrl!),
        DATABASE_QUERY_TIMEOUT_MS: String(FAST.queryMs),
        DATABASE_CONNECT_TIMEOUT_MS: String(FAST.connectMs),
      },
    });
    user = await createUser(fast);
  });
  afterAll(async () => {
    await fast?.close();
    await base?.close();
    await proxy?.stop();
  });

  it('fails requests within the query deadline while the database is black-holed, and says so on /readyz', async () => {
    // The instance knows the session already (src/auth/sessions.ts), so the fields fail, not the sign-in.
    expect((await postQuery(fast, '{ me { id } }', user.accessToken)).status).toBe(200);
    await fillPool(fast, 3);
    proxy.mode = 'blackhole';
    try {
      logLines.length = 0;
      // Two fields that both need the database: two errors, one log line for the request.
      const query = await timed(() =>
        postQuery(fast, `{ a: me { id } b: user(id: "${user.id}") { id } }`, user.accessToken),
      );
      console.info(`black hole: a request failed in ${query.ms} ms`);
      expectUnavailable({ status: query.value.status, ...(query.value.body as Omit<GqlResult<unknown>, 'status'>) });
      expect(query.value.body.errors).toHaveLength(2);
      expect(query.ms).toBeLessThan(FAST.queryMs + 1_000);

      // A mutation runs a transaction: it fails as well, within the same deadline.
      const mutation = await timed(() =>
        gql(
          fast,
          CreateEventDocument,
          { input: eventInput({ title: 'During the black hole' }) },
          { token: user.accessToken },
        ),
      );
      expectUnavailable(mutation.value);
      expect(mutation.ms).toBeLessThan(FAST.queryMs + 1_000);

      // Anonymous over graphql-ws: the same answer, without the HTTP status.
      const ws = await timed(() =>
        wsQuery(
          fast,
          '{ eventsInBounds(bounds: { south: 52, north: 53, west: 13, east: 14 }) { edges { node { id } } } }',
        ),
      );
      expect(ws.value.errors?.[0]?.extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', retryable: true });
      expect(ws.ms).toBeLessThan(FAST.queryMs + 1_000);

      const ready = await timed(() => readiness(fast));
      expect(ready.value.status).toBe(503);
      expect(ready.value.body.failing).toEqual(['database']);
      expect(ready.ms).toBeLessThan(3_000);

      const outageLines = logLines.filter((l) => l.msg === 'dependency unavailable; request failed as retryable');
      expect(outageLines.length).toBeGreaterThan(0);
      expect(logLines.filter((l) => l.msg === 'unexpected error')).toEqual([]);
      // One line per request however many of its fields failed, without a stack.
      const requests = outageLines.map((l) => l.requestId);
      expect(requests.every(Boolean)).toBe(true);
      expect(new Set(requests).size).toBe(requests.length);
      expect(JSON.stringify(outageLines)).not.toContain('    at ');
    } finally {
      proxy.mode = 'up';
    }
    await recovery(fast, user);
    await eventually(async () => (await readiness(fast)).status === 200, { what: 'readiness after the black hole' });
  });

  it('serves again by itself after the host vanished under its pooled connections', async () => {
    await fillPool(fast, 10);
    // The old host stops answering and its connections die without a word; the new one comes up
    // at the same address, reachable on new connections only.
    proxy.mode = 'blackhole';
    proxy.reset({ silently: true });
    try {
      const during = await timed(() => search(fast, user));
      expectUnavailable(during.value);
      expect((await readiness(fast)).body.failing).toEqual(['database']);
    } finally {
      proxy.mode = 'up';
    }
    const ms = await recovery(fast, user);
    console.info(`host vanished: served again ${ms} ms after the database came back`);
    // Ten dead connections tried one by one would take ten query deadlines.
    expect(ms).toBeLessThan(3 * FAST.queryMs);
    await eventually(async () => (await readiness(fast)).status === 200, { what: 'readiness after the failover' });
  });

  it('fails fast while connections are refused or closed, and recovers', async () => {
    await fillPool(fast, 3);
    await proxy.stop();
    try {
      const refused = await timed(() => search(fast, user));
      console.info(`refused: request failed in ${refused.ms} ms`);
      expectUnavailable(refused.value);
      expect(refused.ms).toBeLessThan(FAST.connectMs + 1_000);
      expect((await readiness(fast)).status).toBe(503);
    } finally {
      await proxy.start();
    }
    await recovery(fast, user, 10_000);

    // Open connections closed under the pool (a restart of PostgreSQL): the pool drops them.
    await fillPool(fast, 3);
    proxy.reset();
    const after = await timed(() => recovery(fast, user, 10_000));
    expect(after.ms).toBeLessThan(FAST.queryMs);
  });

  describe('with the default deadlines', () => {
    let server: TestServer;
    let defaults: TcpProxy;
    beforeAll(async () => {
      defaults = TcpProxy.for(testDatabaseUrl!, 5432);
      await defaults.start();
      server = await startTestServer({
        shareWith: base,
        env: { DATABASE_URL: defaults.url(base.config.databaseUrl!) },
      });
    });
    afterAll(async () => {
      await server?.close();
      await defaults?.stop();
    });

    it('meets the targets: fails within 5 s in a black hole, serves within 30 s of the database coming back', async () => {
      expect(server.config.databaseTimeouts).toEqual(DEFAULT_DATABASE_TIMEOUTS);
      await fillPool(server, 10);
      defaults.mode = 'blackhole';
      try {
        const failed = await timed(() => search(server, user));
        console.info(`defaults, black hole: request failed in ${failed.ms} ms`);
        expectUnavailable(failed.value);
        expect(failed.ms).toBeLessThan(FAIL_WITHIN_MS);
        const ready = await timed(() => readiness(server));
        expect(ready.value.status).toBe(503);
        expect(ready.ms).toBeLessThan(FAIL_WITHIN_MS);
        defaults.reset({ silently: true });
      } finally {
        defaults.mode = 'up';
      }
      const ms = await recovery(server, user);
      console.info(`defaults, host vanished: served again ${ms} ms after the database came back`);
      expect(ms).toBeLessThan(RECOVER_WITHIN_MS);
    }, 60_000);
  });
});

describe.skipIf(!testDatabaseUrl || !testRedisUrl)('Redis black hole (PostgreSQL + Redis behind a proxy)', () => {
  // The instance under test is B, whose Redis link goes through the proxy.
  const instances = twoInstances({}, { redisProxyForB: true });

  it('answers mutations, presence and persisted queries within the deadline while Redis never answers', async () => {
    const [server, redis] = [instances.b(), instances.redis()];
    const [ana, ben] = [await createUser(server), await createUser(server)];
    await server.deps.prisma.friendship.create({ data: orderedPair(ana.id, ben.id) });
    await eventually(async () => (await readiness(server)).status === 200, { what: 'Redis connections ready' });
    redis.mode = 'blackhole';
    try {
      // The mutation limit (Redis, with the in-memory limiter as insurance) and the publish after commit.
      const mutation = await timed(() => createEvent(server, ana, { title: 'While Redis is silent' }));
      console.info(`Redis black hole: mutation answered in ${mutation.ms} ms`);
      expect(mutation.value.title).toBe('While Redis is silent');
      expect(mutation.ms).toBeLessThan(FAIL_WITHIN_MS);

      // Presence: a signed-in socket claims its user, a friend reads isOnline.
      const socket = wsClient(server, { authorization: `Bearer ${ana.accessToken}` }, { stayConnected: true });
      try {
        const connected = await timed(() => wsRequest(socket, MeDocument, {}));
        expect(connected.value.data?.me?.id).toBe(ana.id);
        expect(connected.ms).toBeLessThan(FAIL_WITHIN_MS);
        const presence = await timed(() => gqlOk(server, PresenceDocument, { id: ana.id }, { token: ben.accessToken }));
        expect(presence.value.user?.id).toBe(ana.id);
        expect(presence.ms).toBeLessThan(FAIL_WITHIN_MS);
      } finally {
        await socket.dispose();
      }

      // A persisted query's hash: the registry cannot be read, so the client is asked for the document.
      const hash = createHash('sha256').update('{ me { id } }').digest('hex');
      const apq = await timed(async () => {
        const res = await fetch(server.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ana.accessToken}` },
          body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }),
        });
        return (await res.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
      });
      expect(apq.value.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
      expect(apq.ms).toBeLessThan(FAIL_WITHIN_MS);

      expect((await readiness(server)).body.failing).toEqual(['pubsub']);
    } finally {
      redis.mode = 'up';
    }
    await eventually(async () => (await readiness(server)).status === 200, {
      timeoutMs: 15_000,
      what: 'readiness after Redis answers again',
    });
  });
});
