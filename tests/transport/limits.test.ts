// The general mutation limit (on Redis, or in memory), connections per user, production error
// hygiene, metrics and faults. The query limits (depth, aliases, tokens, cost) are
// tests/transport/query-limits.test.ts, the WebSocket timers tests/transport/ws-limits.test.ts:
// they do not depend on the backend, so they run once.
import { once } from 'node:events';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LikeEventDocument, MeDocument, SearchUsersDocument } from '../generated/graphql.ts';
import { codes, createUser, gql, postQuery, scrape, wsQuery, wsRequest } from '../helpers/client.ts';
import { createEvent } from '../helpers/events.ts';
import { startTestServer, testDatabaseUrl, testRedisUrl } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';

/** Runs a raw query over graphql-ws and returns the errors' codes and messages. */
const wsErrors = async (server: TestServer, query: string) => (await wsQuery(server, query)).errors ?? [];

describe('the general mutation limit and connections per user', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: { RATE_LIMIT_MUTATIONS_PER_USER: '5/60', WS_MAX_CONNECTIONS_PER_USER: '2' },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers RATE_LIMITED (HTTP 429) past the per-user mutation budget, on HTTP and graphql-ws together', async () => {
    const user = await createUser(server);
    const event = await createEvent(server, user); // 1
    for (let i = 0; i < 2; i++) await user.gqlOk(LikeEventDocument, { id: event.id }); // 2, 3
    const client = user.ws();
    try {
      const overWsOk = await wsRequest(client, LikeEventDocument, { id: event.id }); // 4
      expect(overWsOk.errors).toBeUndefined();
      await user.gqlOk(LikeEventDocument, { id: event.id }); // 5
      const limited = await user.gql(LikeEventDocument, { id: event.id });
      expect(limited.status).toBe(429);
      expect(codes(limited)).toEqual(['RATE_LIMITED']);
      const wsLimited = await wsRequest(client, LikeEventDocument, { id: event.id }).catch((errors: unknown) => ({
        errors,
      }));
      expect(JSON.stringify(wsLimited)).toContain('RATE_LIMITED');
      // Queries are not mutations.
      expect((await user.gqlOk(MeDocument, {})).me?.id).toBe(user.id);
    } finally {
      await client.dispose();
    }
  });

  it('closes a user’s connection past the per-user cap with 4429', async () => {
    const user = await createUser(server);
    const open = [0, 1].map(() => user.ws({ stayConnected: true }));
    try {
      for (const c of open) await wsRequest(c, MeDocument, {});
      const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
      await once(socket, 'open');
      socket.send(
        JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${user.accessToken}` } }),
      );
      const [code] = await once(socket, 'close');
      expect(code).toBe(4429);
    } finally {
      for (const c of open) await c.dispose();
    }
  });
});

describe('production error hygiene and metrics', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { NODE_ENV: 'production', STORAGE: 'disk' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('gives no field suggestions in production, over HTTP or graphql-ws', async () => {
    const http = await postQuery(server, '{ mee { id } }');
    expect(http.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(http.body.errors?.[0]?.message).not.toMatch(/Did you mean/);
    const ws = await wsErrors(server, '{ me { usernam } }');
    expect(ws[0]?.message).not.toMatch(/Did you mean/);
  });

  it('serves Prometheus metrics for operations, errors, sockets, pub/sub lag and the pool', async () => {
    const user = await createUser(server);
    await user.gqlOk(SearchUsersDocument, { query: 'a' });
    await gql(server, MeDocument, {}, { token: 'not-a-token' });
    const client = createClient({
      url: server.wsUrl,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => {},
    });
    await wsRequest(client, MeDocument, {});
    const text = await scrape(server);
    await client.dispose();
    expect(text).toMatch(/pinit_graphql_operations_total\{[^}]*operation="SearchUsers"[^}]*\} [1-9]/);
    expect(text).toMatch(/pinit_graphql_operation_duration_seconds_count\{[^}]*transport="ws"[^}]*\} [1-9]/);
    expect(text).toMatch(/pinit_ws_connections [1-9]/);
    expect(text).toContain('pinit_ws_subscriptions');
    expect(text).toContain('pinit_pubsub_delivery_lag_seconds_bucket');
    expect(text).toContain('pinit_db_pool_waiting');
    expect(text).toContain('pinit_process_resident_memory_bytes');
  });

  it('counts errors by code', async () => {
    await postQuery(server, '{ nope }');
    const text = await scrape(server);
    expect(text).toMatch(/pinit_graphql_errors_total\{code="BAD_USER_INPUT",transport="http"\} [1-9]/);
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('faults (PostgreSQL + Redis behind proxies)', () => {
  let server: TestServer;
  let base: TestServer;
  let redis: TcpProxy;
  let postgres: TcpProxy;
  beforeAll(async () => {
    redis = TcpProxy.for(testRedisUrl!, 6379);
    await redis.start();
    postgres = TcpProxy.for(testDatabaseUrl!, 5432);
    await postgres.start();
    base = await startTestServer();
    // A second instance on the same database, reaching PostgreSQL and Redis through the proxies.
    server = await startTestServer({
      shareWith: base,
      env: { DATABASE_URL: postgres.url(base.config.databaseUrl!), REDIS_URL: redis.url(testRedisUrl!) },
    });
  });
  afterAll(async () => {
    await server?.close();
    await base?.close();
    await redis?.stop();
    await postgres?.stop();
  });

  it('keeps queries and mutations working while Redis is down, and nothing crashes', async () => {
    const user = await createUser(server);
    await redis.stop();
    try {
      const started = Date.now();
      const event = await createEvent(server, user, { title: 'During the outage' });
      expect(event.title).toBe('During the outage');
      expect((await user.gqlOk(MeDocument, {})).me?.id).toBe(user.id);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await redis.start();
    }
    // Ready again once the clients have reconnected by themselves.
    await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, {
      what: 'readiness after Redis returns',
    });
  });

  it('fails requests cleanly while the database is unreachable, then recovers', async () => {
    const user = await createUser(server);
    await postgres.stop();
    try {
      const started = Date.now();
      const result = await user.gql(SearchUsersDocument, { query: 'a' });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(codes(result)).toEqual(['INTERNAL_SERVER_ERROR']);
      expect(result.errors?.[0]?.extensions?.requestId).toBeTruthy();
      expect(JSON.stringify(result.errors)).not.toMatch(/SELECT|ECONNREFUSED|postgres/i);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    } finally {
      await postgres.start();
    }
    await eventually(async () => !(await user.gql(SearchUsersDocument, { query: 'a' })).errors, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'a query to succeed once the database is back',
    });
  });
});
