// Who sees a user's presence and friends list (the user and their friends only), and what keeps
// shareEvent and invitations from becoming spam (friends only, one notification per share,
// per-user limits), driven over HTTP as clients would.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateEventDocument,
  FriendsDocument,
  InviteToEventDocument,
  MeDocument,
  PresenceDocument,
  RegisterDeviceDocument,
  ShareEventDocument,
  UsersPrivacyDocument,
} from '../generated/graphql.ts';
import { codes, countStatements, createUser, gql, uniqueName, wsRequest } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent, eventInput } from '../helpers/events.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer, testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';
import { befriend } from '../helpers/social.ts';

describe('presence and friends lists', () => {
  let server: TestServer;
  let ana: TestUser;
  let ben: TestUser;
  let cleo: TestUser;
  const lastSeenAt = new Date('2026-01-02T03:04:05.000Z');
  let socket: ReturnType<TestUser['ws']>;

  beforeAll(async () => {
    server = await startTestServer();
    [ana, ben, cleo] = [await createUser(server), await createUser(server), await createUser(server)];
    await befriend(server, ana, ben);
    await server.deps.prisma.user.update({ where: { id: ana.id }, data: { lastSeenAt } });
    socket = ana.ws({ stayConnected: true });
    await wsRequest(socket, MeDocument, {});
    await eventually(async () => (await ana.gqlOk(PresenceDocument, { id: ana.id })).user?.isOnline, {
      what: 'ana online',
    });
  });
  afterAll(async () => {
    await socket?.dispose();
    await server?.close();
  });

  it('shows isOnline and lastSeenAt to the user and their friends only', async () => {
    for (const viewer of [ana, ben]) {
      const { user } = await viewer.gqlOk(PresenceDocument, { id: ana.id });
      expect(user).toEqual({ id: ana.id, isOnline: true, lastSeenAt: lastSeenAt.toISOString() });
    }
    const strangers = [
      await cleo.gql(PresenceDocument, { id: ana.id }),
      await gql(server, PresenceDocument, { id: ana.id }),
    ];
    for (const result of strangers) {
      expect(result.errors).toBeUndefined();
      expect(result.data?.user).toEqual({ id: ana.id, isOnline: false, lastSeenAt: null });
    }
  });

  it('shows the friends list to the user and their friends; others get friendCount and an empty list', async () => {
    const list = async (viewer: TestUser | null) => {
      const result = viewer
        ? await viewer.gql(FriendsDocument, { userId: ana.id })
        : await gql(server, FriendsDocument, { userId: ana.id });
      expect(result.errors).toBeUndefined();
      const user = result.data!.user!;
      return { friendCount: user.friendCount, friends: user.friends.edges.map((e) => e.node.id) };
    };
    expect(await list(ana)).toEqual({ friendCount: 1, friends: [ben.id] });
    expect(await list(ben)).toEqual({ friendCount: 1, friends: [ben.id] });
    expect(await list(cleo)).toEqual({ friendCount: 1, friends: [] });
    expect(await list(null)).toEqual({ friendCount: 1, friends: [] });
  });

  it('applies the rule per user in a list without a statement per user', async () => {
    const tag = uniqueName('pv').slice(0, 12);
    const make = (n: number, prefix: string) =>
      Promise.all(Array.from({ length: n }, (_, i) => createUser(server, { username: `${tag}${prefix}${i}` })));
    const few = await make(2, 'a');
    const many = await make(8, 'b');
    // Cleo is a friend of one user in each group, so both groups mix visible and hidden users.
    await befriend(server, cleo, few[0]!);
    await befriend(server, cleo, many[0]!);
    const read = async (prefix: string) => {
      const result = await cleo.gql(UsersPrivacyDocument, { query: `${tag}${prefix}`, first: 20 });
      expect(result.errors).toBeUndefined();
      return result.data!.searchUsers.edges.map((e) => e.node);
    };
    const manyNodes = await read('b');
    expect(manyNodes).toHaveLength(8);
    for (const node of manyNodes) {
      const friend = node.id === many[0]!.id;
      expect(node.friendshipStatus).toBe(friend ? 'FRIENDS' : 'NONE');
      expect(node.friends.edges.map((e) => e.node.id)).toEqual(friend ? [cleo.id] : []);
      expect(node.friendCount).toBe(friend ? 1 : 0);
    }
    const fewStatements = await countStatements(server, () => read('a'));
    const manyStatements = await countStatements(server, () => read('b'));
    // The friends list of the one visible user in each group is its own statement either way.
    expect(manyStatements).toBe(fewStatements);
  });
});

describe('sharing events', () => {
  let server: TestServer;
  let host: TestUser;
  let sharer: TestUser;
  let friendA: TestUser;
  let friendB: TestUser;
  let stranger: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [host, sharer, friendA, friendB, stranger] = await Promise.all(Array.from({ length: 5 }, () => createUser(server)));
    await certify(server, host);
    await befriend(server, sharer, friendA);
    await befriend(server, sharer, friendB);
    await friendA.gqlOk(RegisterDeviceDocument, { platform: 'IOS', token: randomBytes(32).toString('hex') });
  });
  afterAll(async () => {
    await server?.close();
  });

  const shareNotifications = (eventId: string, recipientId: string) =>
    server.deps.prisma.notification.count({
      where: { kind: 'EVENT_SHARED', eventId, actorId: sharer.id, recipientId },
    });

  it('refuses to share with anyone but friends, naming the field, and notifies nobody', async () => {
    const event = await createEvent(server, host, { isPublic: true });
    const result = await sharer.gql(ShareEventDocument, { id: event.id, withUserIds: [friendA.id, stranger.id] });
    expect(codes(result)).toEqual(['FORBIDDEN']);
    expect(result.errors?.[0]?.extensions?.field).toBe('withUserIds');
    expect(await shareNotifications(event.id, friendA.id)).toBe(0);
    expect(await shareNotifications(event.id, stranger.id)).toBe(0);
    expect(codes(await gql(server, ShareEventDocument, { id: event.id, withUserIds: [friendA.id] }))).toEqual([
      'UNAUTHENTICATED',
    ]);
  });

  it('makes one notification and one push job per (event, sender, recipient), however often it is shared', async () => {
    const event = await createEvent(server, host, { isPublic: true });
    const share = () => sharer.gqlOk(ShareEventDocument, { id: event.id, withUserIds: [friendA.id, friendB.id] });
    expect((await share()).shareEvent.shareCount).toBe(2);
    for (let i = 0; i < 3; i++) expect((await share()).shareEvent.shareCount).toBe(2);
    // Repeats arriving together meet on the unique key.
    await Promise.all(Array.from({ length: 5 }, share));
    expect(await shareNotifications(event.id, friendA.id)).toBe(1);
    expect(await shareNotifications(event.id, friendB.id)).toBe(1);
    expect(
      await server.deps.prisma.pushJob.count({
        where: { notification: { kind: 'EVENT_SHARED', eventId: event.id, recipientId: friendA.id } },
      }),
    ).toBe(1);
    // Another event is another share.
    const other = await createEvent(server, host, { isPublic: true });
    await sharer.gqlOk(ShareEventDocument, { id: other.id, withUserIds: [friendA.id] });
    expect(await shareNotifications(other.id, friendA.id)).toBe(1);
  });
});

/** Limits of 3 recipients per hour for shares and for invitations. */
const LIMITS = { RATE_LIMIT_SHARES_PER_USER: '3/3600', RATE_LIMIT_INVITATIONS_PER_USER: '3/3600' };

async function limitsHold(a: TestServer, b: TestServer) {
  const [host, f1, f2, f3, other] = [
    await createUser(a),
    await createUser(a),
    await createUser(a),
    await createUser(a),
    await createUser(a),
  ];
  await certify(a, host);
  for (const f of [f1, f2, f3]) await befriend(a, host, f);
  await befriend(a, other, f1);
  const event = await createEvent(a, host, { isPublic: true });
  const on = (server: TestServer, user: TestUser) => ({
    share: (ids: string[]) =>
      gql(server, ShareEventDocument, { id: event.id, withUserIds: ids }, { token: user.accessToken }),
  });

  // Shares: two recipients on A, then two more on B pass the three allowed.
  expect(codes(await on(a, host).share([f1.id, f2.id]))).toEqual([]);
  const refused = await on(b, host).share([f1.id, f3.id]);
  expect(codes(refused)).toEqual(['RATE_LIMITED']);
  expect(refused.errors?.[0]?.extensions?.retryAfterSeconds).toBeGreaterThan(0);
  expect(
    await a.deps.prisma.eventShare.count({ where: { eventId: event.id, sharedById: host.id, sharedWithId: f3.id } }),
  ).toBe(0);
  // The limit is the sender's: someone else still shares.
  expect(codes(await on(b, other).share([f1.id]))).toEqual([]);

  // Invitations: inviteToEvent and createEvent's invitedUserIds spend the same points.
  const privateEvent = await createEvent(a, host);
  const invite = (server: TestServer, ids: string[]) =>
    gql(server, InviteToEventDocument, { eventId: privateEvent.id, userIds: ids }, { token: host.accessToken });
  expect(codes(await invite(a, [f1.id, f2.id]))).toEqual([]);
  expect(codes(await invite(b, [f3.id, other.id]))).toEqual(['RATE_LIMITED']);
  expect(
    codes(
      await gql(
        b,
        CreateEventDocument,
        { input: eventInput({ invitedUserIds: [f3.id, other.id] }) },
        { token: host.accessToken },
      ),
    ),
  ).toEqual(['RATE_LIMITED']);
  expect(await a.deps.prisma.eventInvitation.count({ where: { userId: { in: [f3.id, other.id] } } })).toBe(0);
  // The limit is the inviter's: another host still invites.
  const theirs = await createEvent(a, other);
  expect(
    codes(await gql(b, InviteToEventDocument, { eventId: theirs.id, userIds: [f3.id] }, { token: other.accessToken })),
  ).toEqual([]);
}

describe('per-user limits on shares and invitations', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: LIMITS });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('count each recipient named, per sender', async () => {
    await limitsHold(server, server);
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('per-user limits across instances (PostgreSQL + Redis)', () => {
  const instances = twoInstances(LIMITS);

  it('are one budget whichever instance a client reaches', async () => {
    await limitsHold(instances.a(), instances.b());
  });
});
