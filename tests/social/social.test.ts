// Friend requests, friendships, ratings and reputation over HTTP.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderedPair } from '../../src/services/social/index.ts';
import {
  AcceptFriendRequestDocument,
  CancelEventDocument,
  CancelFriendRequestDocument,
  CreateEventDocument,
  DeclineFriendRequestDocument,
  FriendRequestsDocument,
  FriendsDocument,
  InviteToEventDocument,
  JoinEventDocument,
  LeaveEventDocument,
  RatingsReceivedDocument,
  RateUserDocument,
  RemoveFriendDocument,
  SendFriendRequestDocument,
  UpdateEventDocument,
  UsersWithStatusDocument,
} from '../generated/graphql.ts';
import { codes, countStatements, createUser, gql, gqlOk, uniqueName } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent, eventInput, passTime } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const unknownId = '00000000-0000-4000-8000-000000000000';
const status = async (viewer: TestUser, userId: string) => (await viewer.gqlOk(FriendsDocument, { userId })).user!;

describe('friend requests', () => {
  it('runs the whole lifecycle: send, list, accept, both notified, remove', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const { sendFriendRequest: request } = await ana.gqlOk(SendFriendRequestDocument, { userId: ben.id });
    expect(request).toMatchObject({ from: { id: ana.id }, to: { id: ben.id } });
    expect((await status(ana, ben.id)).friendshipStatus).toBe('REQUEST_SENT');
    expect((await status(ben, ana.id)).friendshipStatus).toBe('REQUEST_RECEIVED');

    const incoming = await ben.gqlOk(FriendRequestsDocument, { incoming: true });
    expect(incoming.friendRequests.map((r) => r.id)).toEqual([request.id]);
    const sent = await ana.gqlOk(FriendRequestsDocument, { incoming: false });
    expect(sent.friendRequests.map((r) => r.id)).toEqual([request.id]);
    expect((await ben.gqlOk(FriendRequestsDocument, { incoming: false })).friendRequests).toEqual([]);

    // Only the recipient accepts.
    expect(codes(await ana.gql(AcceptFriendRequestDocument, { requestId: request.id }))).toEqual(['FORBIDDEN']);
    const { acceptFriendRequest } = await ben.gqlOk(AcceptFriendRequestDocument, { requestId: request.id });
    expect(acceptFriendRequest).toMatchObject({ id: ana.id, friendshipStatus: 'FRIENDS', friendCount: 1 });
    // A double accept: the request no longer exists.
    expect(codes(await ben.gql(AcceptFriendRequestDocument, { requestId: request.id }))).toEqual(['NOT_FOUND']);

    expect(
      await server.deps.prisma.notification.count({
        where: { recipientId: ben.id, kind: 'FRIEND_REQUEST_RECEIVED', actorId: ana.id },
      }),
    ).toBe(1);
    expect(
      await server.deps.prisma.notification.count({
        where: { recipientId: ana.id, kind: 'FRIEND_REQUEST_ACCEPTED', actorId: ben.id },
      }),
    ).toBe(1);
    // Stored once per pair.
    expect(await server.deps.prisma.friendship.count({ where: orderedPair(ana.id, ben.id) })).toBe(1);

    const friends = await status(ben, ben.id);
    expect(friends.friendshipStatus).toBe('SELF');
    expect(friends.friends.edges.map((e) => e.node.id)).toEqual([ana.id]);

    expect((await ben.gqlOk(RemoveFriendDocument, { userId: ana.id })).removeFriend).toBe(ana.id);
    expect((await status(ana, ben.id)).friendshipStatus).toBe('NONE');
    expect(codes(await ben.gql(RemoveFriendDocument, { userId: ana.id }))).toEqual(['NOT_FOUND']);
  });

  it('accepts theirs when you ask someone who already asked you', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const first = await ana.gqlOk(SendFriendRequestDocument, { userId: ben.id });
    const mutual = await ben.gqlOk(SendFriendRequestDocument, { userId: ana.id });
    expect(mutual.sendFriendRequest).toMatchObject({
      id: first.sendFriendRequest.id,
      from: { id: ana.id },
      to: { id: ben.id },
    });
    expect((await status(ana, ben.id)).friendshipStatus).toBe('FRIENDS');
    expect(await server.deps.prisma.friendRequest.count({ where: orderedPair(ana.id, ben.id) })).toBe(0);
  });

  it('makes friends, not two crossed requests, when both ask at the same moment', async () => {
    for (let round = 0; round < 5; round++) {
      const [ana, ben] = [await createUser(server), await createUser(server)];
      const results = await Promise.all([
        ana.gql(SendFriendRequestDocument, { userId: ben.id }),
        ben.gql(SendFriendRequestDocument, { userId: ana.id }),
      ]);
      expect(results.flatMap((r) => codes(r))).toEqual([]);
      expect(await server.deps.prisma.friendship.count({ where: orderedPair(ana.id, ben.id) })).toBe(1);
      expect(await server.deps.prisma.friendRequest.count({ where: orderedPair(ana.id, ben.id) })).toBe(0);
    }
  });

  it('declines and cancels, each by the right side', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const req = (await ana.gqlOk(SendFriendRequestDocument, { userId: ben.id })).sendFriendRequest;
    expect(codes(await ana.gql(DeclineFriendRequestDocument, { requestId: req.id }))).toEqual(['FORBIDDEN']);
    expect(codes(await ben.gql(CancelFriendRequestDocument, { requestId: req.id }))).toEqual(['FORBIDDEN']);
    expect((await ben.gqlOk(DeclineFriendRequestDocument, { requestId: req.id })).declineFriendRequest).toBe(req.id);
    expect(codes(await ben.gql(AcceptFriendRequestDocument, { requestId: req.id }))).toEqual(['NOT_FOUND']);

    const again = (await ana.gqlOk(SendFriendRequestDocument, { userId: ben.id })).sendFriendRequest;
    expect((await ana.gqlOk(CancelFriendRequestDocument, { requestId: again.id })).cancelFriendRequest).toBe(again.id);
    expect((await status(ana, ben.id)).friendshipStatus).toBe('NONE');
  });

  it('refuses self-requests, duplicates, requests to friends and to unknown users', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const self = await ana.gql(SendFriendRequestDocument, { userId: ana.id });
    expect(self.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'userId' });
    expect(codes(await ana.gql(SendFriendRequestDocument, { userId: unknownId }))).toEqual(['NOT_FOUND']);
    expect(codes(await ana.gql(SendFriendRequestDocument, { userId: 'nope' }))).toEqual(['NOT_FOUND']);
    const req = (await ana.gqlOk(SendFriendRequestDocument, { userId: ben.id })).sendFriendRequest;
    expect(codes(await ana.gql(SendFriendRequestDocument, { userId: ben.id }))).toEqual(['CONFLICT']);
    await ben.gqlOk(AcceptFriendRequestDocument, { requestId: req.id });
    expect(codes(await ana.gql(SendFriendRequestDocument, { userId: ben.id }))).toEqual(['CONFLICT']);
    expect(codes(await gql(server, SendFriendRequestDocument, { userId: ben.id }))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await ben.gql(AcceptFriendRequestDocument, { requestId: unknownId }))).toEqual(['NOT_FOUND']);
  });

  it('pages through friends', async () => {
    const hub = await createUser(server);
    const made: string[] = [];
    for (let i = 0; i < 7; i++) {
      const friend = await createUser(server);
      await server.deps.prisma.friendship.create({ data: orderedPair(hub.id, friend.id) });
      made.push(friend.id);
    }
    const seen: string[] = [];
    let after: string | null | undefined;
    do {
      const { user } = await hub.gqlOk(FriendsDocument, { userId: hub.id, first: 3, after });
      seen.push(...user!.friends.edges.map((e) => e.node.id));
      after = user!.friends.pageInfo.hasNextPage ? user!.friends.pageInfo.endCursor : null;
    } while (after);
    expect(seen.sort()).toEqual(made.sort());
    expect((await status(hub, hub.id)).friendCount).toBe(7);
  });

  it('tells the viewer’s relation to 100 users in a constant number of statements', async () => {
    const viewer = await createUser(server);
    const tag = uniqueName('fs').replace(/_/g, '');
    // Rows, not sign-ups: only the viewer signs in, and 100 registrations (an argon2 hash and a
    // round trip each) cost far more than the queries measured here.
    const users = Array.from({ length: 100 }, (_, i) => ({
      id: randomUUID(),
      username: `${tag}${String(i).padStart(3, '0')}`,
      passwordHash: 'x',
    }));
    await server.deps.prisma.user.createMany({ data: users });
    await server.deps.prisma.friendship.create({ data: orderedPair(viewer.id, users[0]!.id) });
    await server.deps.prisma.friendRequest.create({
      data: { fromId: viewer.id, toId: users[1]!.id, ...orderedPair(viewer.id, users[1]!.id) },
    });
    await server.deps.prisma.friendRequest.create({
      data: { fromId: users[2]!.id, toId: viewer.id, ...orderedPair(viewer.id, users[2]!.id) },
    });

    const run = (first: number) => viewer.gqlOk(UsersWithStatusDocument, { query: tag, first });
    // The instance reads a session once, then keeps it (src/auth/sessions.ts): warm it first.
    await run(1);
    const few = await countStatements(server, () => run(5));
    const many = await countStatements(server, () => run(100));
    expect(many).toBe(few);

    const statuses = new Map((await run(100)).searchUsers.edges.map((e) => [e.node.id, e.node.friendshipStatus]));
    expect(statuses.get(users[0]!.id)).toBe('FRIENDS');
    expect(statuses.get(users[1]!.id)).toBe('REQUEST_SENT');
    expect(statuses.get(users[2]!.id)).toBe('REQUEST_RECEIVED');
    expect(statuses.get(users[3]!.id)).toBe('NONE');
    expect(statuses.size).toBe(100);
  });
});

describe('ratings and reputation', () => {
  let host: TestUser;
  beforeAll(async () => {
    host = await createUser(server);
    await certify(server, host);
  });

  /** A public event that started an hour ago and ends in an hour, with these guests joined before it began. */
  async function metAt(guests: TestUser[], maxParticipants = 50) {
    const event = await createEvent(server, host, { isPublic: true, maxParticipants });
    await Promise.all(guests.map((guest) => guest.gqlOk(JoinEventDocument, { id: event.id })));
    await passTime(server, event.id, 2 * 3600_000);
    return event;
  }

  const rate = (rater: TestUser, userId: string, eventId: string | null, score: number, reference?: string) =>
    rater.gql(RateUserDocument, { input: { userId, eventId, score, reference } });

  it('lets people who met rate each other once per event, and notifies the rated', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const event = await metAt([ana, ben]);
    const result = await rate(ana, ben.id, event.id, 4, '  Great study partner  ');
    expect(result.errors).toBeUndefined();
    expect(result.data?.rateUser).toMatchObject({
      score: 4,
      reference: 'Great study partner',
      from: { id: ana.id },
      to: { id: ben.id, reputation: { totalRatings: 1, averageRating: 4, trustLevel: { level: 1 } } },
      event: { id: event.id },
    });
    expect(
      await server.deps.prisma.notification.count({
        where: { recipientId: ben.id, kind: 'RATING_RECEIVED', actorId: ana.id },
      }),
    ).toBe(1);
    // The guest rates the host too: hosting counts as taking part.
    expect((await rate(ana, host.id, event.id, 5)).errors).toBeUndefined();
    expect((await rate(host, ana.id, event.id, 5)).errors).toBeUndefined();

    const again = await rate(ana, ben.id, event.id, 5);
    expect(codes(again)).toEqual(['CONFLICT']);

    const { user } = await gqlOk(server, RatingsReceivedDocument, { userId: ben.id });
    expect(user?.ratingsReceived.edges.map((e) => e.node)).toEqual([
      { id: result.data!.rateUser.id, score: 4, from: { id: ana.id }, event: { id: event.id, title: event.title } },
    ]);
  });

  it.each([[0], [6], [-1]])('rejects a score of %d', async (score) => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const event = await metAt([ana, ben]);
    expect((await rate(ana, ben.id, event.id, score)).errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'score',
    });
  });

  it('rejects a non-integer score, a long reference, yourself, and a missing event', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const event = await metAt([ana, ben]);
    const fractional = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ana.accessToken}` },
      body: JSON.stringify({
        query: 'mutation($i: RateUserInput!) { rateUser(input: $i) { id } }',
        variables: { i: { userId: ben.id, eventId: event.id, score: 4.5 } },
      }),
    });
    expect((await fractional.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect((await rate(ana, ben.id, event.id, 3, 'x'.repeat(2001))).errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'reference',
    });
    expect((await rate(ana, ana.id, event.id, 3)).errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'userId',
    });
    expect((await rate(ana, ben.id, null, 3)).errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'eventId',
    });
    expect(codes(await rate(ana, unknownId, event.id, 3))).toEqual(['NOT_FOUND']);
    expect(codes(await rate(ana, ben.id, unknownId, 3))).toEqual(['NOT_FOUND']);
  });

  it('refuses ratings without shared attendance, before the start, and for cancelled events, with clear messages', async () => {
    const [ana, ben, cleo] = [await createUser(server), await createUser(server), await createUser(server)];
    const event = await metAt([ana, ben]);
    const stranger = await rate(cleo, ben.id, event.id, 3);
    expect(codes(stranger)).toEqual(['FORBIDDEN']);
    expect(stranger.errors?.[0]?.message).toMatch(/attended or hosted/);
    expect(codes(await rate(ana, cleo.id, event.id, 3))).toEqual(['FORBIDDEN']);
    // Someone who left no longer counts as having attended.
    await ben.gqlOk(LeaveEventDocument, { id: event.id });
    expect(codes(await rate(ana, ben.id, event.id, 3))).toEqual(['FORBIDDEN']);

    const future = await createEvent(server, host, { isPublic: true });
    await ana.gqlOk(JoinEventDocument, { id: future.id });
    const early = await rate(ana, host.id, future.id, 5);
    expect(codes(early)).toEqual(['FORBIDDEN']);
    expect(early.errors?.[0]?.message).toMatch(/started/);

    const called = await metAt([ana]);
    await host.gqlOk(CancelEventDocument, { id: called.id });
    expect(codes(await rate(ana, host.id, called.id, 5))).toEqual(['FORBIDDEN']);
  });

  it('keeps totals exact when 30 people rate one person at the same moment', async () => {
    const rated = await createUser(server);
    const raters = await Promise.all(Array.from({ length: 30 }, () => createUser(server)));
    const event = await metAt([rated, ...raters]);
    const scores = raters.map((_, i) => (i % 5) + 1);
    const results = await Promise.all(raters.map((r, i) => rate(r, rated.id, event.id, scores[i]!)));
    expect(results.flatMap((r) => codes(r))).toEqual([]);

    const rows = await server.deps.prisma.rating.findMany({ where: { ratedId: rated.id } });
    const rep = await server.deps.prisma.reputation.findUniqueOrThrow({ where: { userId: rated.id } });
    const sum = rows.reduce((s, r) => s + r.score, 0);
    expect(rows).toHaveLength(30);
    expect(rep.totalRatings).toBe(30);
    expect(rep.ratingSum).toBe(sum);
    expect(rep.averageRating).toBeCloseTo(sum / 30, 10);
    // 30 ratings averaging 3.0: Participant (3+ at 3.0); Trusted Member needs 3.5.
    expect(rep.trustLevelId).toBe(2);
  });

  it('moves the trust level up and down as ratings cross the thresholds', async () => {
    const rated = await createUser(server);
    const raters = await Promise.all(Array.from({ length: 8 }, () => createUser(server)));
    const event = await metAt([rated, ...raters]);
    const levels: number[] = [];
    for (const [i, score] of [5, 5, 5, 1, 1, 1, 1, 5].entries()) {
      const result = await rate(raters[i]!, rated.id, event.id, score);
      levels.push(result.data!.rateUser.to.reputation.trustLevel!.level);
    }
    // 5,5 → Newcomer; 3×5 → Participant; averages 4, 3.4, 3.0 stay; 19/7 < 3 drops; 24/8 = 3.0 rises again.
    expect(levels).toEqual([1, 1, 2, 2, 2, 2, 1, 2]);
    const { user } = await gqlOk(server, RatingsReceivedDocument, { userId: rated.id, first: 3 });
    expect(user?.reputation).toMatchObject({ totalRatings: 8, averageRating: 3, trustLevel: { level: 2 } });
    expect(user?.ratingsReceived.pageInfo.hasNextPage).toBe(true);
  });

  it('hides the event of a rating from viewers who may not see it', async () => {
    const [ana, ben, cleo] = [await createUser(server), await createUser(server), await createUser(server)];
    const privateEvent = await createEvent(server, host, { invitedUserIds: [ana.id, ben.id] });
    await ana.gqlOk(JoinEventDocument, { id: privateEvent.id });
    await ben.gqlOk(JoinEventDocument, { id: privateEvent.id });
    await passTime(server, privateEvent.id, 2 * 3600_000);
    expect((await rate(ana, ben.id, privateEvent.id, 5)).errors).toBeUndefined();

    const asBen = await ben.gqlOk(RatingsReceivedDocument, { userId: ben.id });
    expect(asBen.user?.ratingsReceived.edges[0]?.node.event?.id).toBe(privateEvent.id);
    const asCleo = await cleo.gqlOk(RatingsReceivedDocument, { userId: ben.id });
    expect(asCleo.user?.ratingsReceived.edges[0]?.node.event).toBeNull();
    const anonymous = await gqlOk(server, RatingsReceivedDocument, { userId: ben.id });
    expect(anonymous.user?.ratingsReceived.edges[0]?.node.event).toBeNull();
  });
});

describe('reputation that reflects real meetings', () => {
  const MINUTE = 60_000;
  const at = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
  const rate = (rater: TestUser, userId: string, eventId: string) =>
    rater.gql(RateUserDocument, { input: { userId, eventId, score: 5 } });

  it('refuses events that start in the past, beyond a clock-skew margin of 5 minutes', async () => {
    const host = await createUser(server);
    const past = await host.gql(CreateEventDocument, {
      input: eventInput({ startsAt: at(-10 * MINUTE), endsAt: at(60 * MINUTE) }),
    });
    expect(past.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'startsAt' });
    // A phone whose clock runs a minute ahead still creates "now".
    const skewed = await host.gql(CreateEventDocument, {
      input: eventInput({ startsAt: at(-MINUTE), endsAt: at(60 * MINUTE) }),
    });
    expect(skewed.errors).toBeUndefined();

    const event = (await host.gqlOk(CreateEventDocument, { input: eventInput() })).createEvent;
    const moved = await host.gql(UpdateEventDocument, { id: event.id, input: { startsAt: at(-10 * MINUTE) } });
    expect(moved.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'startsAt' });
    // An event under way may still be edited, its start sent back unchanged.
    await passTime(server, event.id, 2 * 3600_000);
    const started = await server.deps.prisma.event.findUniqueOrThrow({ where: { id: event.id } });
    const edited = await host.gql(UpdateEventDocument, {
      id: event.id,
      input: { title: 'Still on', startsAt: started.startsAt.toISOString() },
    });
    expect(edited.errors).toBeUndefined();
  });

  it('counts a rating only from someone who joined before the event started', async () => {
    const [host, early, late] = [await createUser(server), await createUser(server), await createUser(server)];
    await certify(server, host);
    const event = await createEvent(server, host, { isPublic: true });
    await early.gqlOk(JoinEventDocument, { id: event.id });
    await passTime(server, event.id, 2 * 3600_000);
    // The sock puppet joins the event under way, to rate its host at once.
    await late.gqlOk(JoinEventDocument, { id: event.id });
    const puppet = await rate(late, host.id, event.id);
    expect(codes(puppet)).toEqual(['FORBIDDEN']);
    expect(puppet.errors?.[0]?.message).toMatch(/joined before/);
    expect(codes(await rate(early, host.id, event.id))).toEqual([]);
    expect(codes(await rate(host, early.id, event.id))).toEqual([]);
    const rep = await server.deps.prisma.reputation.findUniqueOrThrow({ where: { userId: host.id } });
    expect(rep.totalRatings).toBe(1);
  });

  it('limits the ratings one rater gives a day (RATE_LIMIT_RATINGS_PER_USER)', async () => {
    const limited = await startTestServer({ env: { RATE_LIMIT_RATINGS_PER_USER: '2/86400' } });
    try {
      const host = await createUser(limited);
      const [rater, ...others] = await Promise.all(Array.from({ length: 4 }, () => createUser(limited)));
      const event = await createEvent(limited, host);
      await host.gqlOk(InviteToEventDocument, { eventId: event.id, userIds: [rater!.id, ...others.map((o) => o.id)] });
      for (const guest of [rater!, ...others]) await guest.gqlOk(JoinEventDocument, { id: event.id });
      await passTime(limited, event.id, 2 * 3600_000);
      const results = [];
      for (const other of others) results.push(codes(await rate(rater!, other.id, event.id)));
      expect(results).toEqual([[], [], ['RATE_LIMITED']]);
      // Someone else's budget is their own.
      expect(codes(await rate(others[0]!, rater!.id, event.id))).toEqual([]);
    } finally {
      await limited.close();
    }
  });
});
