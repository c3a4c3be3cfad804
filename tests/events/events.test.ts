// Event lifecycle, attendance, invitations, interactions and auto-matching over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderedPair } from '../../src/services/social/index.ts';
import {
  AddEventCommentDocument,
  CancelEventDocument,
  CreateEventDocument,
  DeclineInvitationDocument,
  DeleteEventCommentDocument,
  DeleteEventDocument,
  EventDocument,
  InviteToEventDocument,
  JoinEventDocument,
  LeaveEventDocument,
  LikeEventDocument,
  MyEventsDocument,
  ShareEventDocument,
  UnlikeEventDocument,
  UpdateEventDocument,
  UpdateProfileDocument,
} from '../generated/graphql.ts';
import { codes, createUser, gql } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { BERLIN, certify, createEvent, eventInput, passTime } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
let host: TestUser;
let guest: TestUser;
let stranger: TestUser;

beforeAll(async () => {
  server = await startTestServer();
  [host, guest, stranger] = [await createUser(server), await createUser(server), await createUser(server)];
  await certify(server, host);
});
afterAll(async () => {
  await server?.close();
});

const unknownId = '00000000-0000-4000-8000-000000000000';

describe('creating events', () => {
  it('creates a private event for anyone and normalizes its input', async () => {
    const event = await createEvent(server, guest, {
      title: '  Thesis sprint  ',
      interestTags: [' Writing', 'writing', 'LaTeX '],
      maxParticipants: 4,
      type: 'STUDY',
    });
    expect(event).toMatchObject({
      title: 'Thesis sprint',
      interestTags: ['writing', 'latex'],
      isPublic: false,
      status: 'PUBLISHED',
      type: 'STUDY',
      maxParticipants: 4,
      attendeeCount: 1,
      spotsLeft: 3,
      version: 1,
      viewerIsHost: true,
      host: { id: guest.id },
    });
  });

  it('lets only certified users have public events', async () => {
    const refused = await guest.gql(CreateEventDocument, { input: eventInput({ isPublic: true }) });
    expect(codes(refused)).toEqual(['FORBIDDEN']);
    const own = await createEvent(server, guest);
    const madePublic = await guest.gql(UpdateEventDocument, { id: own.id, input: { isPublic: true } });
    expect(codes(madePublic)).toEqual(['FORBIDDEN']);
    expect((await createEvent(server, host, { isPublic: true })).isPublic).toBe(true);
  });

  it('needs a signed-in user', async () => {
    expect(codes(await gql(server, CreateEventDocument, { input: eventInput() }))).toEqual(['UNAUTHENTICATED']);
  });

  const now = Date.now();
  it.each([
    [{ endsAt: new Date(now + 3600_000).toISOString(), startsAt: new Date(now + 3600_000).toISOString() }, 'endsAt'],
    [{ endsAt: new Date(now).toISOString(), startsAt: new Date(now + 3600_000).toISOString() }, 'endsAt'],
    [{ latitude: 90.5 }, 'latitude'],
    [{ longitude: -180.5 }, 'longitude'],
    [{ title: '   ' }, 'title'],
    [{ title: 't'.repeat(256) }, 'title'],
    [{ description: 'd'.repeat(5001) }, 'description'],
    [{ maxParticipants: 0 }, 'maxParticipants'],
    [{ maxParticipants: 1001 }, 'maxParticipants'],
    [{ interestTags: ['x'.repeat(51)] }, 'interestTags'],
    [{ status: 'CANCELLED' as const }, 'status'],
  ])('rejects %j naming %s', async (overrides, field) => {
    const result = await guest.gql(CreateEventDocument, { input: eventInput(overrides) });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('answers NOT_FOUND for unknown invitees, and creates nothing', async () => {
    const before = await server.deps.prisma.event.count();
    const result = await guest.gql(CreateEventDocument, { input: eventInput({ invitedUserIds: [unknownId] }) });
    expect(codes(result)).toEqual(['NOT_FOUND']);
    expect(await server.deps.prisma.event.count()).toBe(before);
  });
});

describe('updating, cancelling and deleting', () => {
  it('increments the version on every change and validates against the stored event', async () => {
    const event = await createEvent(server, host, { isPublic: true, maxParticipants: 3 });
    await guest.gqlOk(JoinEventDocument, { id: event.id });
    await stranger.gqlOk(JoinEventDocument, { id: event.id });

    const { updateEvent } = await host.gqlOk(UpdateEventDocument, {
      id: event.id,
      input: { title: 'Renamed', latitude: 48.1 },
    });
    expect(updateEvent).toMatchObject({ title: 'Renamed', latitude: 48.1, longitude: BERLIN.longitude });
    // create (1) + two joins + this update
    expect(updateEvent.version).toBe(4);

    const shrink = await host.gql(UpdateEventDocument, { id: event.id, input: { maxParticipants: 2 } });
    expect(shrink.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'maxParticipants' });
    const backwards = await host.gql(UpdateEventDocument, {
      id: event.id,
      input: { endsAt: new Date(Date.now()).toISOString() },
    });
    expect(backwards.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'endsAt' });

    expect(codes(await guest.gql(UpdateEventDocument, { id: event.id, input: { title: 'Mine now' } }))).toEqual([
      'FORBIDDEN',
    ]);
    expect(codes(await host.gql(UpdateEventDocument, { id: unknownId, input: { title: 'x' } }))).toEqual(['NOT_FOUND']);
    expect(codes(await host.gql(UpdateEventDocument, { id: 'not-a-uuid', input: { title: 'x' } }))).toEqual([
      'NOT_FOUND',
    ]);
  });

  it('cancels once, refuses to reopen, and refuses joins of cancelled events', async () => {
    const event = await createEvent(server, host, { isPublic: true });
    const { cancelEvent } = await host.gqlOk(CancelEventDocument, { id: event.id });
    expect(cancelEvent).toMatchObject({ status: 'CANCELLED', version: 2 });
    expect((await host.gqlOk(CancelEventDocument, { id: event.id })).cancelEvent.version).toBe(2);
    const reopen = await host.gql(UpdateEventDocument, { id: event.id, input: { status: 'PUBLISHED' } });
    expect(reopen.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'status' });
    expect(codes(await guest.gql(JoinEventDocument, { id: event.id }))).toEqual(['CONFLICT']);
    expect(codes(await guest.gql(CancelEventDocument, { id: event.id }))).toEqual(['FORBIDDEN']);
  });

  it('deletes with everything attached, host only, and keeps reputation counts right', async () => {
    const event = await createEvent(server, host, { isPublic: true });
    await guest.gqlOk(JoinEventDocument, { id: event.id });
    await guest.gqlOk(AddEventCommentDocument, { eventId: event.id, body: 'See you there' });
    const attendedBefore = (await server.deps.prisma.reputation.findUniqueOrThrow({ where: { userId: guest.id } }))
      .eventsAttended;
    expect(codes(await guest.gql(DeleteEventDocument, { id: event.id }))).toEqual(['FORBIDDEN']);
    expect((await host.gqlOk(DeleteEventDocument, { id: event.id })).deleteEvent).toBe(event.id);
    expect((await host.gqlOk(EventDocument, { id: event.id })).event).toBeNull();
    expect(await server.deps.prisma.eventComment.count({ where: { eventId: event.id } })).toBe(0);
    const attendedAfter = (await server.deps.prisma.reputation.findUniqueOrThrow({ where: { userId: guest.id } }))
      .eventsAttended;
    expect(attendedAfter).toBe(attendedBefore - 1);
  });
});

describe('attendance', () => {
  it('joins idempotently, counts the host, and leaves', async () => {
    const event = await createEvent(server, host, { isPublic: true, maxParticipants: 2 });
    const joined = await guest.gqlOk(JoinEventDocument, { id: event.id });
    expect(joined.joinEvent).toMatchObject({ attendeeCount: 2, spotsLeft: 0, viewerIsAttending: true, version: 2 });
    const again = await guest.gqlOk(JoinEventDocument, { id: event.id });
    expect(again.joinEvent).toMatchObject({ attendeeCount: 2, version: 2 });

    const full = await stranger.gql(JoinEventDocument, { id: event.id });
    expect(codes(full)).toEqual(['CONFLICT']);
    const own = await host.gql(JoinEventDocument, { id: event.id });
    expect(own.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });

    const left = await guest.gqlOk(LeaveEventDocument, { id: event.id });
    expect(left.leaveEvent).toMatchObject({ attendeeCount: 1, viewerIsAttending: false, version: 3 });
    expect((await guest.gqlOk(LeaveEventDocument, { id: event.id })).leaveEvent.version).toBe(3);
    await stranger.gqlOk(JoinEventDocument, { id: event.id });
  });

  it('refuses joining an ended event', async () => {
    const event = await createEvent(server, host, { isPublic: true });
    await passTime(server, event.id, 4 * 3600_000);
    expect(codes(await guest.gql(JoinEventDocument, { id: event.id }))).toEqual(['CONFLICT']);
  });

  it('maintains eventsHosted and eventsAttended in the same transaction', async () => {
    const someone = await createUser(server);
    const rep = () => server.deps.prisma.reputation.findUniqueOrThrow({ where: { userId: someone.id } });
    const event = await createEvent(server, someone);
    expect((await rep()).eventsHosted).toBe(1);
    await someone.gqlOk(CancelEventDocument, { id: event.id });
    expect((await rep()).eventsHosted).toBe(0);
    const other = await createEvent(server, host, { isPublic: true });
    await someone.gqlOk(JoinEventDocument, { id: other.id });
    expect((await rep()).eventsAttended).toBe(1);
    await someone.gqlOk(LeaveEventDocument, { id: other.id });
    expect((await rep()).eventsAttended).toBe(0);
  });
});

describe('invitations', () => {
  it('lets invitees see and join a private event, and declining hides it', async () => {
    const invitee = await createUser(server);
    const event = await createEvent(server, host, { isPublic: false });
    expect(codes(await invitee.gql(JoinEventDocument, { id: event.id }))).toEqual(['NOT_FOUND']);

    const { inviteToEvent } = await host.gqlOk(InviteToEventDocument, {
      eventId: event.id,
      userIds: [invitee.id, host.id],
    });
    expect(inviteToEvent.invitedUsers.map((u) => u.id)).toEqual([invitee.id]);
    expect(inviteToEvent.version).toBe(2);
    expect((await invitee.gqlOk(EventDocument, { id: event.id })).event?.viewerIsInvited).toBe(true);
    expect(
      await server.deps.prisma.notification.count({
        where: { recipientId: invitee.id, kind: 'EVENT_INVITATION', eventId: event.id },
      }),
    ).toBe(1);

    expect((await invitee.gqlOk(DeclineInvitationDocument, { eventId: event.id })).declineInvitation).toBe(true);
    expect((await invitee.gqlOk(EventDocument, { id: event.id })).event).toBeNull();
    expect(codes(await stranger.gql(DeclineInvitationDocument, { eventId: event.id }))).toEqual(['NOT_FOUND']);

    // Inviting again asks again.
    await host.gqlOk(InviteToEventDocument, { eventId: event.id, userIds: [invitee.id] });
    const joined = await invitee.gqlOk(JoinEventDocument, { id: event.id });
    expect(joined.joinEvent.viewerIsAttending).toBe(true);
  });

  it('is for the host only, and NOT_FOUND for unknown users', async () => {
    const event = await createEvent(server, host, { isPublic: true });
    expect(codes(await guest.gql(InviteToEventDocument, { eventId: event.id, userIds: [stranger.id] }))).toEqual([
      'FORBIDDEN',
    ]);
    expect(codes(await host.gql(InviteToEventDocument, { eventId: event.id, userIds: [unknownId] }))).toEqual([
      'NOT_FOUND',
    ]);
    const tooMany = Array.from({ length: 101 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const result = await host.gql(InviteToEventDocument, { eventId: event.id, userIds: tooMany });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'userIds' });
  });
});

describe('comments, likes and shares', () => {
  it('adds comments, and lets the author or the host delete them', async () => {
    const event = await createEvent(server, host, { isPublic: true });
    const byGuest = await guest.gqlOk(AddEventCommentDocument, { eventId: event.id, body: '  Count me in  ' });
    expect(byGuest.addEventComment).toMatchObject({
      body: 'Count me in',
      author: { id: guest.id },
      event: { commentCount: 1 },
    });
    const second = await stranger.gqlOk(AddEventCommentDocument, { eventId: event.id, body: 'Me too' });

    expect(codes(await stranger.gql(DeleteEventCommentDocument, { id: byGuest.addEventComment.id }))).toEqual([
      'FORBIDDEN',
    ]);
    await guest.gqlOk(DeleteEventCommentDocument, { id: byGuest.addEventComment.id });
    await host.gqlOk(DeleteEventCommentDocument, { id: second.addEventComment.id });
    expect(codes(await host.gql(DeleteEventCommentDocument, { id: second.addEventComment.id }))).toEqual(['NOT_FOUND']);

    const empty = await guest.gql(AddEventCommentDocument, { eventId: event.id, body: '   ' });
    expect(empty.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'body' });
    const long = await guest.gql(AddEventCommentDocument, { eventId: event.id, body: 'x'.repeat(2001) });
    expect(codes(long)).toEqual(['BAD_USER_INPUT']);
    expect(codes(await gql(server, AddEventCommentDocument, { eventId: event.id, body: 'hi' }))).toEqual([
      'UNAUTHENTICATED',
    ]);
  });

  it('likes idempotently', async () => {
    const event = await createEvent(server, host, { isPublic: true });
    await guest.gqlOk(LikeEventDocument, { id: event.id });
    const twice = await guest.gqlOk(LikeEventDocument, { id: event.id });
    expect(twice.likeEvent).toMatchObject({ likeCount: 1, viewerHasLiked: true });
    const unliked = await guest.gqlOk(UnlikeEventDocument, { id: event.id });
    expect(unliked.unlikeEvent).toMatchObject({ likeCount: 0, viewerHasLiked: false });
    expect((await guest.gqlOk(UnlikeEventDocument, { id: event.id })).unlikeEvent.likeCount).toBe(0);
  });

  it('records a share and a notification per recipient, for public events only', async () => {
    // Events are shared with friends only (tests/social/privacy.test.ts has the rest of the rule).
    const [sharer, friend] = [await createUser(server), await createUser(server)];
    await server.deps.prisma.friendship.createMany({
      data: [orderedPair(sharer.id, friend.id), orderedPair(sharer.id, host.id)],
    });
    const event = await createEvent(server, host, { isPublic: true });
    const { shareEvent } = await sharer.gqlOk(ShareEventDocument, {
      id: event.id,
      withUserIds: [friend.id, host.id, friend.id],
    });
    expect(shareEvent.shareCount).toBe(2);
    expect(
      await server.deps.prisma.notification.count({
        where: { kind: 'EVENT_SHARED', eventId: event.id, actorId: sharer.id },
      }),
    ).toBe(2);
    const privateEvent = await createEvent(server, host);
    expect(codes(await host.gql(ShareEventDocument, { id: privateEvent.id, withUserIds: [stranger.id] }))).toEqual([
      'FORBIDDEN',
    ]);
  });
});

describe('auto-matching', () => {
  /** Whom auto-matching invited to an event, as each invitee sees it: the event in their INVITED list. */
  const invitedAmong = async (eventId: string, users: TestUser[]) => {
    const lists = await Promise.all(users.map((u) => u.gqlOk(MyEventsDocument, { role: 'INVITED', first: 50 })));
    return users.filter((_, i) => lists[i]!.myEvents.edges.some((e) => e.node.id === eventId)).map((u) => u.id);
  };

  it('invites interested users within their radius, best reputation first, up to the spots left', async () => {
    const tag = `tag${Date.now().toString(36)}`;
    const profile = async (input: Record<string, unknown>, rating?: { total: number; average: number }) => {
      const user = await createUser(server);
      await user.gqlOk(UpdateProfileDocument, { input });
      if (rating) {
        await server.deps.prisma.reputation.update({
          where: { userId: user.id },
          data: { totalRatings: rating.total, averageRating: rating.average },
        });
      }
      return user;
    };
    const near = { homeLatitude: BERLIN.latitude + 0.05, homeLongitude: BERLIN.longitude };
    const star = await profile({ interests: [tag], ...near, preferredRadiusKm: 20 }, { total: 30, average: 4.9 });
    const good = await profile(
      { interests: [tag, 'other'], ...near, preferredRadiusKm: 20 },
      { total: 10, average: 4.0 },
    );
    const homeless = await profile({ interests: [tag] });
    const far = await profile({ interests: [tag], homeLatitude: 48.14, homeLongitude: 11.58, preferredRadiusKm: 50 }); // Munich
    const optedOut = await profile({ interests: [tag], ...near, autoInviteEnabled: false });
    const unrelated = await profile({ interests: ['unrelated'], ...near });
    const everyone = [star, good, homeless, far, optedOut, unrelated];

    const event = await createEvent(server, host, {
      isPublic: true,
      interestTags: [tag.toUpperCase()],
      autoMatchingEnabled: true,
      maxParticipants: 3,
    });
    expect(await invitedAmong(event.id, everyone)).toEqual([star.id, good.id]);
    expect(
      await server.deps.prisma.notification.count({ where: { kind: 'EVENT_INVITATION', eventId: event.id } }),
    ).toBe(2);
    // Until they join, the host is not told whom auto-matching found.
    expect(event.matchedUsers).toEqual([]);

    // More room on update: the next best is matched too, once.
    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { maxParticipants: 10 } });
    expect(await invitedAmong(event.id, everyone)).toEqual([star.id, good.id, homeless.id]);
    expect(
      await server.deps.prisma.notification.count({ where: { kind: 'EVENT_INVITATION', eventId: event.id } }),
    ).toBe(3);
  });

  it('shows the host a matched user once they join, and not before', async () => {
    const tag = `join${Date.now().toString(36)}`;
    const [fan, shy] = [await createUser(server), await createUser(server)];
    await Promise.all([fan, shy].map((u) => u.gqlOk(UpdateProfileDocument, { input: { interests: [tag] } })));
    const event = await createEvent(server, host, { interestTags: [tag], autoMatchingEnabled: true });
    expect(await invitedAmong(event.id, [fan, shy])).toEqual([fan.id, shy.id]);
    const seen = async () => (await host.gqlOk(EventDocument, { id: event.id })).event!;
    expect(await seen()).toMatchObject({ matchedUsers: [], invitedUsers: [] });
    // Declining such an invitation changes nothing the host can see, not even the version.
    const { version } = await seen();
    expect((await shy.gqlOk(DeclineInvitationDocument, { eventId: event.id })).declineInvitation).toBe(true);
    expect(await seen()).toMatchObject({ version, matchedUsers: [], invitedUsers: [] });

    await fan.gqlOk(JoinEventDocument, { id: event.id });
    expect(await seen()).toMatchObject({ matchedUsers: [{ id: fan.id }], invitedUsers: [{ id: fan.id }] });
    // Attendees see what the host sees.
    const { event: asFan } = await fan.gqlOk(EventDocument, { id: event.id });
    expect(asFan).toMatchObject({ matchedUsers: [{ id: fan.id }], invitedUsers: [{ id: fan.id }] });
  });

  it('answers the host inviting a pending auto-matched user as a fresh invitation, without telling them twice', async () => {
    const tag = `adopt${Date.now().toString(36)}`;
    const [matched, unmatched] = [await createUser(server), await createUser(server)];
    await matched.gqlOk(UpdateProfileDocument, { input: { interests: [tag] } });
    const event = await createEvent(server, host, { interestTags: [tag], autoMatchingEnabled: true });
    const invitations = (userId: string) =>
      server.deps.prisma.notification.count({
        where: { kind: 'EVENT_INVITATION', eventId: event.id, recipientId: userId },
      });
    expect(await invitations(matched.id)).toBe(1);

    const before = (await host.gqlOk(EventDocument, { id: event.id })).event!.version;
    const { inviteToEvent: first } = await host.gqlOk(InviteToEventDocument, {
      eventId: event.id,
      userIds: [unmatched.id],
    });
    const { inviteToEvent: second } = await host.gqlOk(InviteToEventDocument, {
      eventId: event.id,
      userIds: [matched.id],
    });
    // Both answers have the same shape: one more version, the invitee listed last, in the order
    // the host invited them (the hidden invitation came first, but that must not show).
    expect(first).toMatchObject({ version: before + 1, invitedUsers: [{ id: unmatched.id }] });
    expect(second!.version).toBe(before + 2);
    expect(second!.invitedUsers.map((u) => u.id)).toEqual([unmatched.id, matched.id]);
    expect([await invitations(matched.id), await invitations(unmatched.id)]).toEqual([1, 1]);
    // It is the host's invitation now, so auto-matching no longer claims it.
    expect((await host.gqlOk(EventDocument, { id: event.id })).event!.matchedUsers).toEqual([]);
  });

  it('matches on update when turned on later', async () => {
    const tag = `late${Date.now().toString(36)}`;
    const fan = await createUser(server);
    await fan.gqlOk(UpdateProfileDocument, { input: { interests: [tag] } });
    const event = await createEvent(server, host, { interestTags: [tag] });
    expect(await invitedAmong(event.id, [fan])).toEqual([]);
    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { autoMatchingEnabled: true } });
    expect(await invitedAmong(event.id, [fan])).toEqual([fan.id]);
  });
});
