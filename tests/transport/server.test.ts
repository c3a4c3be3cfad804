// The HTTP front: health, readiness, request ids, CORS and graceful shutdown.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MeDocument } from '../generated/graphql.ts';
import { createUser, wsRequest } from '../helpers/client.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

describe('health, readiness and requests', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { CORS_ORIGINS: 'https://app.pinit.example,http://localhost:5173' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('reports liveness and readiness of every part', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      failing: [],
      checks: { database: 'ok', pubsub: 'ok', storage: 'ok' },
    });
  });

  // Here rather than on a server of its own: one query is not worth a start-up.
  it('answers queries over HTTP with a token', async () => {
    const user = await createUser(server);
    expect((await user.gqlOk(MeDocument, {})).me?.id).toBe(user.id);
  });

  it('answers 503 naming the failing part', async () => {
    const original = server.deps.storage.ping.bind(server.deps.storage);
    server.deps.storage.ping = async () => {
      throw new Error('bucket unreachable');
    };
    try {
      const res = await fetch(`${server.url}/readyz`);
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body.failing).toEqual(['storage']);
      expect(body.checks.storage).toBe('failing');
      // Details (hosts, addresses) go to the log, not to whoever polls /readyz.
      expect(JSON.stringify(body)).not.toContain('bucket unreachable');
    } finally {
      server.deps.storage.ping = original;
    }
  });

  it('puts a request id on every response, keeping a sane incoming one', async () => {
    const fresh = await fetch(`${server.url}/healthz`);
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'client-trace-1234' } });
    expect(kept.headers.get('x-request-id')).toBe('client-trace-1234');
    const replaced = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(replaced.headers.get('x-request-id')).not.toBe('bad id with spaces');
  });

  it('allows CORS only for listed origins', async () => {
    const preflight = (origin: string) =>
      fetch(server.graphqlUrl, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,authorization',
        },
      });
    const allowed = await preflight('https://app.pinit.example');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.pinit.example');
    const denied = await preflight('https://evil.example');
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('graceful shutdown', () => {
  it('closes WebSockets with 1001, finishes, and stops accepting requests', async () => {
    const server = await startTestServer();
    const user = await createUser(server);
    const client = user.ws();
    await wsRequest(client, MeDocument, {});
    // A raw socket shows the close code the server sends.
    const raw = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    await once(raw, 'open');
    raw.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    await once(raw, 'message');
    const closed = once(raw, 'close');

    await server.close();
    const [code] = (await closed) as [number];
    expect(code).toBe(1001);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    await client.dispose();
  });
});

describe('shutdown under load', () => {
  it('lets operations whose clients hung up finish before the pools close', async () => {
    const logLines: Array<Record<string, unknown>> = [];
    const server = await startTestServer({ logLines });
    const user = await createUser(server);
    // Logins are slow (argon2id); abort them client-side mid-flight, then shut down at once.
    const aborter = new AbortController();
    const statementsBefore = server.deps.db.statements.count;
    const inFlight = Array.from({ length: 12 }, () =>
      fetch(server.graphqlUrl, {
        method: 'POST',
        signal: aborter.signal,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: `mutation { login(username: "${user.username}", password: "${user.password}") { accessToken } }`,
        }),
      }).catch(() => undefined),
    );
    // Each login looks its user up, then hashes (and a finished one writes its session): twelve
    // statements mean the logins are running, and not all of them can be done.
    await eventually(() => server.deps.db.statements.count >= statementsBefore + 12, {
      what: 'the logins to be running',
    });
    aborter.abort();
    await server.close();
    await Promise.all(inFlight);
    expect(logLines.filter((line) => Number(line.level) >= 50)).toEqual([]);
  });
});
