// Notifications over HTTP and graphql-ws: every kind produced by its real cause and delivered
// live to its recipient only (across two instances on PostgreSQL + Redis), the feed's paging,
// unreadOnly and markNotificationsRead, event visibility, and device registration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderedPair } from '../../src/services/social/index.ts';
import {
  AcceptFriendRequestDocument,
  CancelEventDocument,
  DeclineInvitationDocument,
  JoinEventDocument,
  MarkNotificationsReadDocument,
  NotificationAddedDocument,
  NotificationsDocument,
  RateUserDocument,
  RegisterDeviceDocument,
  SendFriendRequestDocument,
  ShareEventDocument,
  UnregisterDeviceDocument,
  UpdateEventDocument,
  UpdateProfileDocument,
} from '../generated/graphql.ts';
import type { DevicePlatform, NotificationAddedSubscription, NotificationsQuery } from '../generated/graphql.ts';
import { codes, createUser, gql, gqlOk, subscribe, wsClient } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent, passTime } from '../helpers/events.ts';
import { startTestServer, testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

type Live = NotificationAddedSubscription['notificationAdded'];
type FeedItem = NotificationsQuery['notifications']['edges'][number]['node'];

const HOUR = 3600_000;
const APNS_TOKEN = 'a1'.repeat(32);
const FCM_TOKEN = `dQw4w9WgXcQ:APA91b${'x'.repeat(140)}`;

async function feed(
  server: TestServer,
  user: TestUser,
  vars: { first?: number; after?: string; unreadOnly?: boolean } = {},
) {
  return (await user.gqlOk(NotificationsDocument, vars)).notifications;
}

async function listen(server: TestServer, user: TestUser) {
  const client = wsClient(server, { authorization: `Bearer ${user.accessToken}` });
  const live = await subscribe(server, client, NotificationAddedDocument);
  return {
    live,
    next: async (match: (n: Live) => boolean) => (await live.next((d) => match(d.notificationAdded))).notificationAdded,
    /** The kinds received, but those of notifications `exceptActor` caused (a fence's). */
    kinds: (exceptActor?: string) =>
      live.received
        .map((d) => d.notificationAdded)
        .filter((n) => !exceptActor || n.actor?.id !== exceptActor)
        .map((n) => n.kind),
    close: async () => {
      live.stop();
      await client.dispose();
    },
  };
}

type Listener = Awaited<ReturnType<typeof listen>>;

/**
 * Waits until each user's listener has received everything published to them so far, and
 * returns the id of the user it made for that: a friend request from that user to each is
 * published after all of it, and a recipient's stream delivers in the order things were
 * published to them. The requests and their notifications are deleted again, so that feeds
 * hold what the test made alone.
 */
async function fence(server: TestServer, users: TestUser[], of: (u: TestUser) => Listener): Promise<string> {
  const fencer = await createUser(server);
  for (const user of users) await fencer.gqlOk(SendFriendRequestDocument, { userId: user.id });
  for (const user of users)
    await of(user).next((n) => n.kind === 'FRIEND_REQUEST_RECEIVED' && n.actor?.id === fencer.id);
  await server.deps.prisma.notification.deleteMany({ where: { actorId: fencer.id } });
  await server.deps.prisma.friendRequest.deleteMany({ where: { fromId: fencer.id } });
  return fencer.id;
}

/**
 * Each NotificationKind through its cause, made on `writer` and received on `reader` (another
 * instance when they differ) by its recipient only, with actor, event and text.
 */
async function everyKind(writer: TestServer, reader: TestServer) {
  const [ana, ben, cleo, dan, eve, host] = await Promise.all(Array.from({ length: 6 }, () => createUser(writer)));
  await certify(writer, host);
  const tag = `nk${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  await gqlOk(writer, UpdateProfileDocument, { input: { interests: [tag] } }, { token: dan.accessToken });

  const listeners = Object.fromEntries(
    await Promise.all([ana, ben, cleo, dan, eve, host].map(async (u) => [u.id, await listen(reader, u)] as const)),
  );
  const of = (u: TestUser) => listeners[u.id]!;
  try {
    // Friend request received, then accepted.
    const { sendFriendRequest } = await gqlOk(
      writer,
      SendFriendRequestDocument,
      { userId: ben.id },
      { token: ana.accessToken },
    );
    const received = await of(ben).next((n) => n.kind === 'FRIEND_REQUEST_RECEIVED');
    expect(received).toMatchObject({ actor: { id: ana.id, username: ana.username }, event: null, readAt: null });
    expect(received.text).toContain(ana.username);
    await gqlOk(writer, AcceptFriendRequestDocument, { requestId: sendFriendRequest.id }, { token: ben.accessToken });
    const accepted = await of(ana).next((n) => n.kind === 'FRIEND_REQUEST_ACCEPTED');
    expect(accepted).toMatchObject({ actor: { id: ben.id }, event: null });
    expect(accepted.text).toContain(ben.username);

    // A private event: Cleo invited by the host, Dan auto-matched on his interest, Eve joins.
    const party = await createEvent(writer, host, {
      title: 'Rooftop party',
      invitedUserIds: [cleo.id, eve.id],
      interestTags: [tag],
      autoMatchingEnabled: true,
    });
    const invited = await of(cleo).next((n) => n.kind === 'EVENT_INVITATION');
    expect(invited).toMatchObject({ actor: { id: host.id }, event: { id: party.id, title: 'Rooftop party' } });
    expect(invited.text).toContain('Rooftop party');
    const matched = await of(dan).next((n) => n.kind === 'EVENT_INVITATION');
    expect(matched).toMatchObject({ actor: { id: host.id }, event: { id: party.id } });
    expect(matched.text).toContain('matches your interests');
    await gqlOk(writer, JoinEventDocument, { id: party.id }, { token: eve.accessToken });

    // Updated: attendees and invitees hear of it, the host who changed it does not.
    const startsAt = new Date(Date.now() + 3 * HOUR).toISOString();
    await gqlOk(
      writer,
      UpdateEventDocument,
      {
        id: party.id,
        input: { title: 'Rooftop party!', startsAt, endsAt: new Date(Date.now() + 5 * HOUR).toISOString() },
      },
      { token: host.accessToken },
    );
    for (const guest of [cleo, dan, eve]) {
      const updated = await of(guest).next((n) => n.kind === 'EVENT_UPDATED');
      expect(updated).toMatchObject({ actor: { id: host.id }, event: { id: party.id, title: 'Rooftop party!' } });
      expect(updated.text).toMatch(/Rooftop party!.*title, time/);
    }
    // Settings attendees do not see make no notification.
    await gqlOk(
      writer,
      UpdateEventDocument,
      { id: party.id, input: { autoMatchingEnabled: false } },
      { token: host.accessToken },
    );

    // Cancelled: the same people.
    await gqlOk(writer, CancelEventDocument, { id: party.id }, { token: host.accessToken });
    for (const guest of [cleo, dan, eve]) {
      const cancelled = await of(guest).next((n) => n.kind === 'EVENT_CANCELLED');
      expect(cancelled).toMatchObject({ actor: { id: host.id }, event: { id: party.id } });
      expect(cancelled.text).toContain('cancelled');
    }

    // Shared: a public event Eve shares with Ana (events are shared with friends only).
    await writer.deps.prisma.friendship.create({ data: orderedPair(eve.id, ana.id) });
    const lecture = await createEvent(writer, host, { title: 'Open lecture', isPublic: true });
    await gqlOk(writer, ShareEventDocument, { id: lecture.id, withUserIds: [ana.id] }, { token: eve.accessToken });
    const shared = await of(ana).next((n) => n.kind === 'EVENT_SHARED');
    expect(shared).toMatchObject({ actor: { id: eve.id }, event: { id: lecture.id, title: 'Open lecture' } });
    expect(shared.text).toContain(eve.username);

    // Rating: Ana and Ben met at an event that has started.
    const meetup = await createEvent(writer, host, { title: 'Coffee meetup', isPublic: true });
    for (const guest of [ana, ben])
      await gqlOk(writer, JoinEventDocument, { id: meetup.id }, { token: guest.accessToken });
    await passTime(writer, meetup.id, 2 * HOUR);
    await gqlOk(
      writer,
      RateUserDocument,
      { input: { userId: ben.id, eventId: meetup.id, score: 5 } },
      { token: ana.accessToken },
    );
    const rating = await of(ben).next((n) => n.kind === 'RATING_RECEIVED');
    expect(rating).toMatchObject({ actor: { id: ana.id }, event: { id: meetup.id, title: 'Coffee meetup' } });
    expect(rating.text).toContain('5/5');

    // Each recipient heard exactly their own, nobody heard of their own actions: once the fence
    // has reached everyone, anything else published to them would have arrived before it.
    const fencer = await fence(writer, [ana, ben, cleo, dan, eve, host], of);
    const heard = (u: TestUser) => of(u).kinds(fencer);
    expect(heard(ana).sort()).toEqual(['EVENT_SHARED', 'FRIEND_REQUEST_ACCEPTED']);
    expect(heard(ben).sort()).toEqual(['FRIEND_REQUEST_RECEIVED', 'RATING_RECEIVED']);
    expect(heard(cleo)).toEqual(['EVENT_INVITATION', 'EVENT_UPDATED', 'EVENT_CANCELLED']);
    expect(heard(dan)).toEqual(['EVENT_INVITATION', 'EVENT_UPDATED', 'EVENT_CANCELLED']);
    expect(heard(eve)).toEqual(['EVENT_INVITATION', 'EVENT_UPDATED', 'EVENT_CANCELLED']);
    expect(heard(host)).toEqual([]);
    for (const l of Object.values(listeners)) expect(l.live.errors).toEqual([]);

    // The feed holds the same rows.
    const cleoFeed = await feed(writer, cleo);
    expect(cleoFeed.edges.map((e) => e.node.kind)).toEqual(['EVENT_CANCELLED', 'EVENT_UPDATED', 'EVENT_INVITATION']);
    return { cleo, party };
  } finally {
    for (const l of Object.values(listeners)) await l.close();
  }
}

describe('notifications on one instance', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('creates every kind through its cause and delivers it live to its recipient only', async () => {
    const { cleo, party } = await everyKind(server, server);
    // Declining a private event's invitation hides the event, in old notifications too.
    await cleo.gqlOk(DeclineInvitationDocument, { eventId: party.id });
    const after = await feed(server, cleo);
    expect(after.edges.map((e) => e.node.event)).toEqual([null, null, null]);
    expect(after.edges[0]?.node.text).toContain('Rooftop party!');
  });

  it('shows the event only to viewers who may see it', async () => {
    const [host, guest, stranger] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    const secret = await createEvent(server, host, { title: 'Secret', invitedUserIds: [guest.id] });
    // A notification about a private event reaching someone who is not a member (as when
    // a rating's event is private): its event stays hidden.
    await server.deps.prisma.notification.create({
      data: { recipientId: stranger.id, kind: 'EVENT_SHARED', actorId: host.id, eventId: secret.id, text: 'x' },
    });
    expect((await feed(server, guest)).edges[0]?.node.event).toEqual({ id: secret.id, title: 'Secret' });
    expect((await feed(server, stranger)).edges[0]?.node).toMatchObject({
      kind: 'EVENT_SHARED',
      event: null,
      actor: { id: host.id },
    });
  });

  it('pages the feed newest first, filters unread, and marks only the viewer’s own as read', async () => {
    const [me, other] = await Promise.all([createUser(server), createUser(server)]);
    const senders = await Promise.all(Array.from({ length: 7 }, () => createUser(server)));
    for (const sender of senders) await sender.gqlOk(SendFriendRequestDocument, { userId: me.id });
    await gqlOk(server, SendFriendRequestDocument, { userId: other.id }, { token: senders[0]!.accessToken });

    const all: FeedItem[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await feed(server, me, { first: 3, after });
      all.push(...page.edges.map((e) => e.node));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor!;
    }
    expect(all.map((n) => n.actor?.id)).toEqual([...senders].reverse().map((s) => s.id));
    expect(new Set(all.map((n) => n.id)).size).toBe(7);
    const created = all.map((n) => Date.parse(n.createdAt));
    expect([...created].sort((a, b) => b - a)).toEqual(created);

    const theirs = (await feed(server, other)).edges[0]!.node;
    const { markNotificationsRead: two } = await me.gqlOk(MarkNotificationsReadDocument, {
      ids: [all[0]!.id, all[1]!.id, theirs.id],
    });
    expect(two).toBe(2);
    // Already read: nothing changes.
    expect((await me.gqlOk(MarkNotificationsReadDocument, { ids: [all[0]!.id] })).markNotificationsRead).toBe(0);
    expect((await me.gqlOk(MarkNotificationsReadDocument, { ids: [] })).markNotificationsRead).toBe(0);
    expect((await feed(server, other)).edges[0]!.node.readAt).toBeNull();

    const unread = await feed(server, me, { unreadOnly: true });
    expect(unread.edges.map((e) => e.node.id)).toEqual(all.slice(2).map((n) => n.id));
    const page = await feed(server, me, {
      unreadOnly: true,
      first: 2,
      after: (await feed(server, me, { unreadOnly: true, first: 2 })).pageInfo.endCursor!,
    });
    expect(page.edges.map((e) => e.node.id)).toEqual(all.slice(4, 6).map((n) => n.id));
    expect((await feed(server, me)).edges.slice(0, 2).every((e) => e.node.readAt !== null)).toBe(true);

    // Omitted ids: all of the viewer's, and no one else's.
    expect((await me.gqlOk(MarkNotificationsReadDocument, {})).markNotificationsRead).toBe(5);
    expect((await feed(server, me, { unreadOnly: true })).edges).toEqual([]);
    expect((await feed(server, other, { unreadOnly: true })).edges).toHaveLength(1);
  });

  it('refuses anonymous callers, bad ids, bad cursors and page sizes', async () => {
    const me = await createUser(server);
    expect(codes(await gql(server, NotificationsDocument, {}))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await gql(server, MarkNotificationsReadDocument, {}))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await gql(server, RegisterDeviceDocument, { platform: 'IOS', token: APNS_TOKEN }))).toEqual([
      'UNAUTHENTICATED',
    ]);
    const anonymous = wsClient(server);
    // subscribe() returns once the server established or refused the subscription.
    const refused = await subscribe(server, anonymous, NotificationAddedDocument);
    expect(JSON.stringify(refused.errors)).toContain('UNAUTHENTICATED');
    await anonymous.dispose();

    const token = { token: me.accessToken };
    expect(
      (await gql(server, MarkNotificationsReadDocument, { ids: ['nope'] }, token)).errors?.[0]?.extensions,
    ).toMatchObject({ code: 'BAD_USER_INPUT', field: 'ids' });
    const tooMany = Array.from({ length: 501 }, () => crypto.randomUUID());
    expect(
      (await gql(server, MarkNotificationsReadDocument, { ids: tooMany }, token)).errors?.[0]?.extensions,
    ).toMatchObject({ code: 'BAD_USER_INPUT', field: 'ids' });
    expect(codes(await gql(server, NotificationsDocument, { first: 101 }, token))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await gql(server, NotificationsDocument, { after: 'bm90LWEtY3Vyc29y' }, token))).toEqual([
      'BAD_USER_INPUT',
    ]);
  });

  describe('devices', () => {
    const register = (user: TestUser, platform: DevicePlatform, token: string) =>
      user.gql(RegisterDeviceDocument, { platform, token });
    const devicesOf = async (user: TestUser) =>
      (
        await server.deps.prisma.device.findMany({
          where: { userId: user.id },
          select: { platform: true, token: true },
        })
      ).sort((x, y) => x.platform.localeCompare(y.platform));

    it('registers, moves and unregisters tokens', async () => {
      const [ana, ben] = await Promise.all([createUser(server), createUser(server)]);
      const web = { endpoint: 'https://push.example.com/send/abc', keys: { auth: 'YXV0aA', p256dh: 'BPx-key_1' } };
      expect((await register(ana, 'IOS', APNS_TOKEN.toUpperCase())).data?.registerDevice).toBe(true);
      expect((await register(ana, 'ANDROID', FCM_TOKEN)).data?.registerDevice).toBe(true);
      expect((await register(ana, 'WEB', `  ${JSON.stringify(web)}  `)).data?.registerDevice).toBe(true);
      // The same subscription written differently is the same token.
      expect(
        (
          await register(
            ana,
            'WEB',
            JSON.stringify({ keys: { p256dh: 'BPx-key_1', auth: 'YXV0aA' }, endpoint: web.endpoint }),
          )
        ).errors,
      ).toBeUndefined();
      expect(await devicesOf(ana)).toEqual([
        { platform: 'ANDROID', token: FCM_TOKEN },
        { platform: 'IOS', token: APNS_TOKEN },
        {
          platform: 'WEB',
          token: JSON.stringify({ endpoint: web.endpoint, keys: { p256dh: 'BPx-key_1', auth: 'YXV0aA' } }),
        },
      ]);

      // A token belongs to one user at a time: registering it moves it, with nothing queued for the old owner.
      const device = await server.deps.prisma.device.findUniqueOrThrow({ where: { token: APNS_TOKEN } });
      const notification = await server.deps.prisma.notification.create({
        data: { recipientId: ana.id, kind: 'FRIEND_REQUEST_RECEIVED', text: 'x' },
      });
      await server.deps.prisma.pushJob.create({
        data: { notificationId: notification.id, deviceId: device.id, nextAttemptAt: new Date(Date.now() + HOUR) },
      });
      expect((await register(ben, 'IOS', APNS_TOKEN)).data?.registerDevice).toBe(true);
      expect(await devicesOf(ben)).toEqual([{ platform: 'IOS', token: APNS_TOKEN }]);
      expect((await devicesOf(ana)).map((d) => d.platform)).toEqual(['ANDROID', 'WEB']);
      expect(await server.deps.prisma.pushJob.count({ where: { deviceId: device.id } })).toBe(0);

      // Only the owner unregisters; as registered, in any case for APNs.
      expect((await ana.gqlOk(UnregisterDeviceDocument, { token: APNS_TOKEN })).unregisterDevice).toBe(false);
      expect((await ben.gqlOk(UnregisterDeviceDocument, { token: APNS_TOKEN.toUpperCase() })).unregisterDevice).toBe(
        true,
      );
      expect((await ana.gqlOk(UnregisterDeviceDocument, { token: JSON.stringify(web) })).unregisterDevice).toBe(true);
      expect((await ana.gqlOk(UnregisterDeviceDocument, { token: FCM_TOKEN })).unregisterDevice).toBe(true);
      expect(await devicesOf(ana)).toEqual([]);
      expect(await devicesOf(ben)).toEqual([]);
    });

    it('keeps the 20 most recently registered devices of a user', async () => {
      const me = await createUser(server);
      for (let i = 0; i < 22; i++)
        expect((await register(me, 'IOS', i.toString(16).padStart(2, '0').repeat(32))).errors).toBeUndefined();
      const kept = await devicesOf(me);
      expect(kept).toHaveLength(20);
      expect(kept.map((d) => d.token)).not.toContain('00'.repeat(32));
      expect(kept.map((d) => d.token)).toContain('15'.repeat(32));
    });

    it.each([
      ['IOS', ''],
      ['IOS', '   '],
      ['IOS', 'a1'.repeat(31)],
      ['IOS', `${'a1'.repeat(32)}f`],
      ['IOS', 'zz'.repeat(32)],
      ['IOS', 'a1'.repeat(600)],
      ['ANDROID', 'short'],
      ['ANDROID', `${'x'.repeat(40)} space`],
      ['ANDROID', `${'x'.repeat(40)}/slash`],
      ['ANDROID', 'x'.repeat(1025)],
      ['ANDROID', `${'x'.repeat(40)}\u0000`],
      ['WEB', 'http://push.example.com/insecure'],
      ['WEB', 'not a url'],
      ['WEB', '{"endpoint":"https://push.example.com/x"}'],
      ['WEB', '{"endpoint":"https://push.example.com/x","keys":{"p256dh":"a b","auth":"c"}}'],
      ['WEB', '{not json'],
      ['WEB', `https://push.example.com/${'x'.repeat(1024)}`],
    ] as const)('refuses a malformed %s token (%#)', async (platform, token) => {
      const me = await createUser(server);
      expect((await register(me, platform, token)).errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'token',
      });
      expect(await devicesOf(me)).toEqual([]);
    });

    it('refuses over-long tokens on unregister too', async () => {
      const me = await createUser(server);
      expect(
        (await me.gql(UnregisterDeviceDocument, { token: 'x'.repeat(1025) })).errors?.[0]?.extensions,
      ).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'token',
      });
    });
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('notifications across two instances', () => {
  const instances = twoInstances();

  it('delivers every kind made on one instance to subscribers of the other', async () => {
    const [a, b] = [instances.a(), instances.b()];
    await everyKind(a, b);
  });
});
