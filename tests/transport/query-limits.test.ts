// One set of query limits for HTTP and graphql-ws: depth, aliases, tokens and cost, refused in
// validation before anything runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUERY_LIMITS } from '../../src/transport/limits.ts';
import { createUser, postQuery, wsQuery } from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

/** me { friends { edges { node { friends { … } } } } } nested until the given depth. */
function deepQuery(levels: number): string {
  let inner = 'id';
  for (let i = 0; i < levels; i++) inner = `friends { edges { node { ${inner} } } }`;
  return `{ me { ${inner} } }`;
}

/** A full map-screen page: events with host, avatars, attendees, counts and viewer flags. */
const mapPage = (alias = 'map') =>
  `${alias}: eventsInBounds(bounds: { south: 52.3, west: 13.1, north: 52.7, east: 13.7 }, first: 500) { edges { cursor node { id title latitude longitude startsAt endsAt type status attendeeCount spotsLeft likeCount commentCount viewerIsAttending viewerHasLiked host { id username avatarUrl reputation { averageRating } } attendees(first: 10) { edges { node { id username avatarUrl } } } } } pageInfo { hasNextPage endCursor } }`;

const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: me { id }`).join(' ')} }`;

/** Runs a raw query over graphql-ws and returns the errors' codes and messages. */
const wsErrors = async (server: TestServer, query: string) => (await wsQuery(server, query)).errors ?? [];

describe('query limits, identical on HTTP and graphql-ws', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each([
    ['depth', deepQuery(4), /depth/i],
    ['aliases', aliases(QUERY_LIMITS.aliases + 1), /alias/i],
    ['tokens', `{ me { ${'id '.repeat(QUERY_LIMITS.tokens)} } }`, /token/i],
    ['cost', `{ ${Array.from({ length: 5 }, (_, i) => mapPage(`p${i}`)).join(' ')} }`, /cost/i],
  ])('rejects a query over the %s limit before running it', async (_name, query, message) => {
    const http = await postQuery(server, query);
    expect(http.status).toBe(400);
    // Rejected in validation: nothing executed, so no data at all.
    expect(http.body.data).toBeUndefined();
    expect(http.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(http.body.errors?.map((e) => e.message).join(' ')).toMatch(message);
    const ws = await wsErrors(server, query);
    expect(ws[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(ws.map((e) => e.message).join(' ')).toMatch(message);
  });

  it('accepts queries within the limits', async () => {
    const user = await createUser(server);
    expect((await postQuery(server, deepQuery(3), user.accessToken)).body.errors).toBeUndefined();
    expect((await postQuery(server, aliases(QUERY_LIMITS.aliases), user.accessToken)).body.errors).toBeUndefined();
    expect(await wsErrors(server, aliases(QUERY_LIMITS.aliases))).toEqual([]);
    // What a map screen asks for stays within the cost limit (five of them at once do not).
    expect((await postQuery(server, `{ ${mapPage()} }`, user.accessToken)).body.errors).toBeUndefined();
  });
});
