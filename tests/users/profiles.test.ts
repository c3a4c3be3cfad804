import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTokenIssuer } from '../../src/auth/tokens.ts';
import {
  MeDocument,
  SearchUsersDocument,
  TrustLevelsDocument,
  UpdateProfileDocument,
  UserByIdDocument,
  UserByNameDocument,
} from '../generated/graphql.ts';
import { codes, countStatements, createUser, gql, gqlOk, sessionIdOf, uniqueName } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
let viewer: TestUser;
beforeAll(async () => {
  server = await startTestServer();
  viewer = await createUser(server);
});
afterAll(async () => {
  await server?.close();
});

describe('finding users', () => {
  it('looks users up by id or case-insensitive username, and answers null for unknown ones', async () => {
    const user = await createUser(server, { fullName: 'Lookup Person' });
    expect((await gqlOk(server, UserByIdDocument, { id: user.id })).user?.fullName).toBe('Lookup Person');
    expect((await gqlOk(server, UserByNameDocument, { username: user.username.toUpperCase() })).user?.id).toBe(user.id);
    expect((await gqlOk(server, UserByIdDocument, { id: '00000000-0000-4000-8000-000000000000' })).user).toBeNull();
    expect((await gqlOk(server, UserByIdDocument, { id: 'not-a-uuid' })).user).toBeNull();
    expect((await gqlOk(server, UserByNameDocument, { username: 'no such user!' })).user).toBeNull();
    const neither = await gql(server, UserByIdDocument, {});
    expect(codes(neither)).toEqual(['BAD_USER_INPUT']);
  });

  it('searches by prefix and substring of username and full name, page by page', async () => {
    const tag = uniqueName('zq').replace(/_/g, '');
    const made = [];
    for (let i = 0; i < 5; i++)
      made.push(await createUser(server, { username: `${tag}${i}`, fullName: `Person ${i}` }));
    made.push(await createUser(server, { fullName: `Mx ${tag.toUpperCase()} Surname` }));
    made.push(await createUser(server, { username: `pre_${tag}_post` }));

    const seen: string[] = [];
    let after: string | null | undefined;
    for (let page = 0; page < 5; page++) {
      const { searchUsers } = await gqlOk(server, SearchUsersDocument, { query: tag.slice(1), first: 3, after });
      seen.push(...searchUsers.edges.map((e) => e.node.id));
      if (!searchUsers.pageInfo.hasNextPage) break;
      after = searchUsers.pageInfo.endCursor;
    }
    expect(seen.sort()).toEqual(made.map((u) => u.id).sort());
  });

  it('treats LIKE wildcards in the query literally', async () => {
    const { searchUsers } = await gqlOk(server, SearchUsersDocument, { query: '%', first: 5 });
    expect(searchUsers.edges).toEqual([]);
    const underscore = await gqlOk(server, SearchUsersDocument, { query: '_', first: 100 });
    for (const edge of underscore.searchUsers.edges)
      expect(`${edge.node.username}${edge.node.fullName}`).toContain('_');
  });

  it('rejects empty, oversized and out-of-range search input', async () => {
    expect((await gql(server, SearchUsersDocument, { query: '   ' })).errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'query',
    });
    expect(codes(await gql(server, SearchUsersDocument, { query: 'x'.repeat(101) }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await gql(server, SearchUsersDocument, { query: 'a', first: 101 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await gql(server, SearchUsersDocument, { query: 'a', first: -1 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await gql(server, SearchUsersDocument, { query: 'a', after: 'garbage' }))).toEqual(['BAD_USER_INPUT']);
  });

  it('costs the same number of SQL statements for 3 users as for 30, nested reputation included', async () => {
    const tag = uniqueName('nq').replace(/_/g, '');
    await Promise.all(Array.from({ length: 30 }, (_, i) => createUser(server, { username: `${tag}${i}` })));
    const few = await countStatements(server, () => gqlOk(server, SearchUsersDocument, { query: tag, first: 3 }));
    const many = await countStatements(server, () => gqlOk(server, SearchUsersDocument, { query: tag, first: 30 }));
    expect(few).toBeGreaterThan(0);
    expect(many).toBe(few);
  });

  it('lists the seeded trust levels', async () => {
    const { trustLevels } = await gqlOk(server, TrustLevelsDocument, {});
    expect(trustLevels).toEqual([
      { level: 1, title: 'Newcomer', requiredRatings: 0, minAverageRating: 0 },
      { level: 2, title: 'Participant', requiredRatings: 3, minAverageRating: 3 },
      { level: 3, title: 'Trusted Member', requiredRatings: 10, minAverageRating: 3.5 },
      { level: 4, title: 'Event Expert', requiredRatings: 25, minAverageRating: 4 },
      { level: 5, title: 'Community Leader', requiredRatings: 50, minAverageRating: 4.5 },
    ]);
  });
});

describe('updateProfile', () => {
  it('needs a signed-in user', async () => {
    expect(codes(await gql(server, UpdateProfileDocument, { input: { bio: 'hi' } }))).toEqual(['UNAUTHENTICATED']);
  });

  it.each([
    [{ bio: 'b'.repeat(2001) }, 'bio'],
    [{ fullName: 'f'.repeat(151) }, 'fullName'],
    [{ year: 'y'.repeat(31) }, 'year'],
    [{ interests: Array.from({ length: 31 }, (_, i) => `tag${i}`) }, 'interests'],
    [{ interests: ['t'.repeat(51)] }, 'interests'],
    [{ skills: [{ name: '', level: 'high' }] }, 'skills.name'],
    [{ skills: Array.from({ length: 31 }, (_, i) => ({ name: `s${i}`, level: 'x' })) }, 'skills'],
    [{ preferredRadiusKm: 0 }, 'preferredRadiusKm'],
    [{ preferredRadiusKm: 501 }, 'preferredRadiusKm'],
    [{ homeLatitude: 91, homeLongitude: 0 }, 'homeLatitude'],
    [{ homeLatitude: 10, homeLongitude: -181 }, 'homeLongitude'],
    [{ homeLatitude: 10 }, 'homeLongitude'],
  ])('rejects %j naming %s, and changes nothing', async (input, field) => {
    const before = await viewer.gqlOk(MeDocument, {});
    const result = await viewer.gql(UpdateProfileDocument, { input });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(await viewer.gqlOk(MeDocument, {})).toEqual(before);
  });

  it('clears the home location with nulls', async () => {
    await viewer.gqlOk(UpdateProfileDocument, { input: { homeLatitude: 1, homeLongitude: 2 } });
    const { updateProfile } = await viewer.gqlOk(UpdateProfileDocument, {
      input: { homeLatitude: null, homeLongitude: null },
    });
    expect(updateProfile.settings).toMatchObject({ homeLatitude: null, homeLongitude: null });
  });
});

describe('WebSocket sessions', () => {
  it('closes a connection with 4403 when its access token expires', async () => {
    const short = await createTokenIssuer(server.config.jwtSecret!, 1).sign(
      viewer.id,
      'USER',
      sessionIdOf(viewer.accessToken),
    );
    // Not lazy: the socket stays open with no operation running, as a map screen's would.
    const client = createClient({
      url: server.wsUrl,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${short.token}` },
    });
    const closed = new Promise<number>((resolve) =>
      client.on('closed', (event) => resolve((event as { code: number }).code)),
    );
    const started = Date.now();
    expect(await closed).toBe(4403);
    expect(Date.now() - started).toBeLessThan(5_000);
    await client.dispose();
  });
});
