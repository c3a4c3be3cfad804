// Suspension as admins and clients see it: admin only, with clear refusals; a suspended user's
// tokens stop (HTTP 401, sockets 4403), sign-in is FORBIDDEN until the end or until lifted, and
// their public events are off the map (list, search and clusters) meanwhile. Across instances:
// tests/accounts/sessions.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventClustersDocument,
  EventsInBoundsDocument,
  LoginDocument,
  MeDocument,
  SearchEventsDocument,
  SuspendUserDocument,
  SuspensionDocument,
  UnsuspendUserDocument,
} from '../generated/graphql.ts';
import { codes, createAdmin, createUser, gql, gqlOk, refusal } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
let admin: TestUser;

beforeAll(async () => {
  server = await startTestServer();
  admin = await createAdmin(server);
});
afterAll(async () => {
  await server?.close();
});

const suspend = (userId: string, until?: string | null, reason = 'harassment reports', token = admin.accessToken) =>
  gql(server, SuspendUserDocument, { userId, until, reason }, { token });
const login = (user: TestUser) => gql(server, LoginDocument, { username: user.username, password: user.password });

describe('suspendUser', () => {
  it('is for admins only and refuses oneself, past ends, empty reasons and unknown users', async () => {
    const [user, other] = await Promise.all([createUser(server), createUser(server)]);
    expect(codes(await suspend(other.id, null, 'x', user.accessToken))).toEqual(['FORBIDDEN']);
    expect(codes(await gql(server, SuspendUserDocument, { userId: other.id, reason: 'x' }))).toEqual([
      'UNAUTHENTICATED',
    ]);
    expect(codes(await gql(server, UnsuspendUserDocument, { userId: other.id }, { token: user.accessToken }))).toEqual([
      'FORBIDDEN',
    ]);
    expect(refusal(await suspend(admin.id))).toEqual({ codes: ['BAD_USER_INPUT'], field: 'userId' });
    expect(refusal(await suspend(other.id, new Date(Date.now() - 1000).toISOString()))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'until',
    });
    expect(refusal(await suspend(other.id, null, '  '))).toEqual({ codes: ['BAD_USER_INPUT'], field: 'reason' });
    expect(refusal(await suspend('00000000-0000-4000-8000-000000000000'))).toEqual({
      codes: ['NOT_FOUND'],
      field: 'userId',
    });
    // Nothing happened to the other user.
    expect((await login(other)).errors).toBeUndefined();
  });

  it('stops the user’s tokens, refuses their sign-in and takes their events off the map until lifted', async () => {
    const [user, viewer] = await Promise.all([createUser(server), createUser(server)]);
    await certify(server, user);
    const place = { latitude: -8.5, longitude: 115.2 };
    const event = await createEvent(server, user, { isPublic: true, title: 'Gamelan evening', ...place });
    const bounds = { south: -9, north: -8, west: 114.7, east: 115.7 };
    const onMap = async () => {
      const token = viewer.accessToken;
      const list = (await gqlOk(server, EventsInBoundsDocument, { bounds }, { token })).eventsInBounds.edges;
      const found = (await gqlOk(server, SearchEventsDocument, { query: 'gamelan' }, { token })).searchEvents.edges;
      const tiles = (await gqlOk(server, EventClustersDocument, { bounds, zoom: 6 }, { token })).eventClusters;
      const close = { south: -8.55, north: -8.45, west: 115.15, east: 115.25 };
      const cells = (await gqlOk(server, EventClustersDocument, { bounds: close, zoom: 12 }, { token })).eventClusters;
      return [list.length, found.length, tiles.reduce((n, c) => n + c.count, 0), cells.length];
    };
    expect(await onMap()).toEqual([1, 1, 1, 1]);

    const suspended = await suspend(user.id);
    expect(suspended.errors).toBeUndefined();
    expect(suspended.data?.suspendUser.suspendedUntil).toBe('9999-12-31T23:59:59.999Z');
    expect((await gql(server, MeDocument, {}, { token: user.accessToken })).status).toBe(401);
    const refused = await login(user);
    expect(codes(refused)).toEqual(['FORBIDDEN']);
    expect(refused.errors?.[0]?.message).toMatch(/suspended until an admin lifts it/);
    // A wrong password does not learn of the suspension.
    expect(codes(await gql(server, LoginDocument, { username: user.username, password: 'wrong password!' }))).toEqual([
      'UNAUTHENTICATED',
    ]);
    expect(await onMap()).toEqual([0, 0, 0, 0]);
    // Admins see the end; others do not.
    const seen = async (token?: string) =>
      (await gqlOk(server, SuspensionDocument, { id: user.id }, { token })).user?.suspendedUntil;
    expect(await seen(admin.accessToken)).toBe('9999-12-31T23:59:59.999Z');
    expect(await seen(viewer.accessToken)).toBeNull();
    expect(await seen()).toBeNull();

    const lifted = await gqlOk(server, UnsuspendUserDocument, { userId: user.id }, { token: admin.accessToken });
    expect(lifted.unsuspendUser.suspendedUntil).toBeNull();
    expect((await login(user)).errors).toBeUndefined();
    expect(await onMap()).toEqual([1, 1, 1, 1]);
    expect(event.id).toBeTruthy();
  });

  it('ends by itself at `until`', async () => {
    const user = await createUser(server);
    const until = new Date(Date.now() + 1_500).toISOString();
    expect((await suspend(user.id, until)).data?.suspendUser.suspendedUntil).toBe(until);
    const refused = await login(user);
    expect(refused.errors?.[0]?.message).toContain(`suspended until ${until}`);
    // One attempt after the end (repeated sign-ins would meet the login rate limit).
    await new Promise((resolve) => setTimeout(resolve, Date.parse(until) - Date.now() + 100));
    expect((await login(user)).errors).toBeUndefined();
    const { user: after } = await gqlOk(server, SuspensionDocument, { id: user.id }, { token: admin.accessToken });
    expect(after?.suspendedUntil).toBeNull();
  });
});
