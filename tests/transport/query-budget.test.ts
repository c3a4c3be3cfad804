// What one client may spend on reads: a query budget per address (anonymous) and per user,
// shared by HTTP and graphql-ws, and a deadline on executing one query.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, createUser, postQuery, wsClient, wsQuery, wsRequest } from '../helpers/client.ts';
import { createEvent, insertBulkEvents } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';
import { LikeEventDocument, MeDocument } from '../generated/graphql.ts';
import { rawUpload } from '../helpers/images.ts';
import { FLOOD_TIMES } from '../../src/transport/pipeline.ts';
import { SHAPE_LIMITS } from '../../src/transport/limits.ts';

const PUBLIC_QUERY =
  '{ eventsInBounds(bounds: { south: 52.3, west: 13.1, north: 52.7, east: 13.7 }) { edges { node { id } } } }';

describe('the query budget, per address and per user, across HTTP and graphql-ws', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: { RATE_LIMIT_QUERIES_PER_IP: '4/60', RATE_LIMIT_QUERIES_PER_USER: '6/60' },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers RATE_LIMITED (HTTP 429, retryAfterSeconds) past the anonymous budget of an address', async () => {
    for (let i = 0; i < 3; i++) expect((await postQuery(server, PUBLIC_QUERY)).body.errors).toBeUndefined();
    // The same budget over a socket.
    expect((await wsQuery(server, PUBLIC_QUERY)).errors).toBeUndefined();
    const limited = await postQuery(server, PUBLIC_QUERY);
    expect(limited.status).toBe(429);
    expect(limited.body.data).toBeUndefined();
    expect(limited.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect((limited.body.errors?.[0]?.extensions as { retryAfterSeconds?: number }).retryAfterSeconds).toBeGreaterThan(
      0,
    );
    expect((await wsQuery(server, PUBLIC_QUERY)).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  });

  it('counts IPv6 clients per /64, since one can pick a new address in it for every request', async () => {
    // The test client is a trusted proxy (loopback), so X-Forwarded-For names the client.
    const from = async (address: string) => {
      const res = await fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        body: JSON.stringify({ query: PUBLIC_QUERY }),
      });
      return res.status;
    };
    const sameNetwork = ['2001:db8:7:1::1', '2001:db8:7:1:ffff::2', '2001:0db8:0007:0001:0:0:0:3', '2001:db8:7:1::4'];
    for (const address of sameNetwork) expect(await from(address)).toBe(200);
    expect(await from('2001:db8:7:1:abcd::5')).toBe(429);
    expect(await from('2001:db8:7:2::1')).toBe(200);
  });

  it('gives a signed-in user a budget of their own, apart from the address and from mutations', async () => {
    // The address above has spent its anonymous budget; the user signs up (a mutation) from it.
    const user = await createUser(server);
    const other = await createUser(server);
    for (let i = 0; i < 5; i++) {
      expect((await postQuery(server, PUBLIC_QUERY, user.accessToken)).body.errors).toBeUndefined();
    }
    expect((await wsQuery(server, PUBLIC_QUERY, { token: user.accessToken })).errors).toBeUndefined();
    expect((await postQuery(server, PUBLIC_QUERY, user.accessToken)).body.errors?.[0]?.extensions?.code).toBe(
      'RATE_LIMITED',
    );
    expect((await wsQuery(server, PUBLIC_QUERY, { token: user.accessToken })).errors?.[0]?.extensions?.code).toBe(
      'RATE_LIMITED',
    );
    // Mutations have their own budget; another user is not affected.
    const event = await createEvent(server, user);
    await user.gqlOk(LikeEventDocument, { id: event.id });
    expect((await postQuery(server, PUBLIC_QUERY, other.accessToken)).body.errors).toBeUndefined();
  });
});

describe('an anonymous address that keeps sending past its query budget', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { RATE_LIMIT_QUERIES_PER_IP: '3/60' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  // The test client is a trusted proxy (loopback), so X-Forwarded-For names the client.
  const from = async (address: string, query: string) =>
    (
      await fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        body: JSON.stringify({ query }),
      })
    ).status;
  const MUTATION = 'mutation { logout(refreshToken: "not a token") }';

  it('counts documents refused by their shape against the budget, on HTTP and graphql-ws', async () => {
    const misshapen = `{ ${'me { id } '.repeat(SHAPE_LIMITS.repeatsPerSelectionSet + 1)} }`;
    const sender = '203.0.113.20';
    for (let i = 0; i < 3; i++) expect(await from(sender, misshapen)).toBe(400);
    expect(await from(sender, misshapen)).toBe(429);
    // graphql-ws, from the test's own address (127.0.0.1), which has spent nothing yet.
    for (let i = 0; i < 3; i++) {
      expect((await wsQuery(server, misshapen)).errors?.[0]?.message).toMatch(/selected more than/);
    }
    expect((await wsQuery(server, misshapen)).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    for (let i = 0; i < 2; i++)
      expect((await wsQuery(server, misshapen)).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    // Twice the budget tried: the socket is not parsed for any more, but closed (4429).
    const client = wsClient(server);
    const closed = new Promise<number>((resolve) => client.on('closed', (e) => resolve((e as { code: number }).code)));
    await wsRequest(client, MeDocument).catch(() => undefined);
    expect(await closed).toBe(4429);
    await client.dispose();
  });

  it(`is refused before its requests are read once it has tried ${FLOOD_TIMES}× its budget, whatever they are`, async () => {
    const flooder = '203.0.113.7';
    for (let i = 0; i < 3; i++) expect(await from(flooder, PUBLIC_QUERY)).toBe(200);
    expect(await from(flooder, PUBLIC_QUERY)).toBe(429);
    // Over its query budget, but not flooding: a mutation (signing in, say) still goes through.
    expect(await from(flooder, MUTATION)).toBe(200);
    for (let i = 0; i < 2; i++) expect(await from(flooder, PUBLIC_QUERY)).toBe(429);

    // Six attempts on a budget of three: the next request is answered from its headers alone,
    // though it declares a body it never sends.
    const raw = rawUpload(server, undefined, 100_000, {
      'content-type': 'application/json',
      'x-forwarded-for': flooder,
    });
    try {
      const answered = await Promise.race([
        raw.response,
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 3_000).unref()),
      ]);
      expect(answered).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
      expect(answered!.retryAfterSeconds).toBeGreaterThan(0);
    } finally {
      raw.destroy();
    }
    expect(await from(flooder, MUTATION)).toBe(429);
    // A made-up token does not make it someone else: it is still the address.
    const forged = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': flooder, authorization: 'Bearer not.a.token' },
      body: JSON.stringify({ query: PUBLIC_QUERY }),
    });
    expect(forged.status).toBe(429);
    // Other addresses are not affected.
    expect(await from('203.0.113.8', PUBLIC_QUERY)).toBe(200);
  });
});

describe('the execution deadline of a query', () => {
  let server: TestServer;
  // A deadline no real query meets: every field that loads something starts after it.
  beforeAll(async () => {
    server = await startTestServer({ env: { OPERATION_TIMEOUT_MS: '1' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  // The whole world's map, 500 events: whether planned (one statement, ../../src/schema/planned.ts)
  // or executed field by field (an attendees list the planner leaves to graphql-js), it takes
  // well over the deadline's millisecond.
  const mapPage = (
    extra = '',
  ) => `{ eventsInBounds(bounds: { south: -90, west: -180, north: 90, east: 180 }, first: 500) {
    edges { node { id title host { id username } attendeeCount spotsLeft likeCount commentCount ${extra} } } } }`;

  it('stops a query that runs past it, with one INTERNAL_SERVER_ERROR whose reason is DEADLINE_EXCEEDED', async () => {
    const host = await createUser(server);
    // Mutations have no deadline: their effects are committed by their root field.
    await createEvent(server, host, { title: 'Deadline' });
    await insertBulkEvents(server, host.id, 2000, { isPublic: 'true' });
    for (const result of [
      (await postQuery(server, mapPage(), host.accessToken)).body,
      (await postQuery(server, mapPage('attendees(first: 1) { edges { cursor } }'), host.accessToken)).body,
      await wsQuery(server, mapPage(), { token: host.accessToken }),
    ]) {
      // Reported once for the operation, not once per field that did not run.
      expect(result.errors).toHaveLength(1);
      expect(result.errors?.[0]).toMatchObject({
        message: expect.stringMatching(/time limit/) as string,
        extensions: { code: 'INTERNAL_SERVER_ERROR', reason: 'DEADLINE_EXCEEDED' },
      });
    }
  });

  it('leaves mutations whole: their effects are committed by their root field', async () => {
    const user = await createUser(server);
    const event = await createEvent(server, user);
    const liked = await postQuery(
      server,
      `mutation { likeEvent(id: "${event.id}") { id likeCount viewerHasLiked } }`,
      user.accessToken,
    );
    expect(codes({ errors: liked.body.errors as never })).toEqual([]);
    expect(liked.body.data).toMatchObject({ likeEvent: { id: event.id, likeCount: 1, viewerHasLiked: true } });
  });
});
