// Waitlists, as clients use them over HTTP and graphql-ws: a first-come queue for a full event;
// every way a spot frees (a guest leaves, capacity is raised, an attending invitee declines)
// promotes the first in line in the same transaction, into the attendees and the event chat,
// with WAITLIST_PROMOTED live and by push; cancelling empties the queue with a notification;
// positions stay exact and capacity holds under concurrent joins and leaves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelEventDocument,
  DeclineInvitationDocument,
  EventChatDocument,
  EventWaitlistDocument,
  JoinEventDocument,
  JoinWaitlistDocument,
  LeaveEventDocument,
  LeaveWaitlistDocument,
  MyEventsChangedDocument,
  NotificationAddedDocument,
  NotificationsDocument,
  RegisterDeviceDocument,
  UpdateEventDocument,
} from '../generated/graphql.ts';
import { codes, createUser, gql, subscribe } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { eventually } from '../helpers/eventually.ts';
import { generatePushKeys, pushEnv, startFakeApns, startFakeFcm } from '../helpers/push.ts';
import type { FakeFcm, FakeProvider } from '../helpers/push.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
let host: TestUser;
let apns: FakeProvider;
let fcm: FakeFcm;

beforeAll(async () => {
  const keys = await generatePushKeys();
  [apns, fcm] = await Promise.all([startFakeApns(keys), startFakeFcm(keys)]);
  server = await startTestServer({ env: pushEnv(keys, apns, fcm) });
  host = await createUser(server);
  await certify(server, host);
});
afterAll(async () => {
  await server?.close();
  await apns?.close();
  await fcm?.close();
});

const users = (n: number) => Promise.all(Array.from({ length: n }, () => createUser(server)));
const seen = async (user: TestUser, id: string) => (await user.gqlOk(EventWaitlistDocument, { id })).event!;
/** A public event with `guests` places besides the host, filled by new users. */
async function fullEvent(guests: number, overrides: Parameters<typeof createEvent>[2] = {}) {
  const event = await createEvent(server, host, { isPublic: true, maxParticipants: guests + 1, ...overrides });
  const attendees = await users(guests);
  for (const a of attendees) await a.gqlOk(JoinEventDocument, { id: event.id });
  return { event, attendees };
}
const notificationKinds = async (user: TestUser) =>
  (await user.gqlOk(NotificationsDocument, { first: 50 })).notifications.edges.map((e) => e.node.kind);
/** Attendee rows, the stored count and the capacity, read from the database. */
async function stored(eventId: string) {
  const event = await server.deps.prisma.event.findUniqueOrThrow({ where: { id: eventId } });
  const attendees = await server.deps.prisma.eventAttendee.count({ where: { eventId } });
  const waiting = await server.deps.prisma.eventWaitlistEntry.findMany({ where: { eventId }, orderBy: { id: 'asc' } });
  return { event, attendees, waiting: waiting.map((w) => w.userId) };
}

describe('joining and leaving the waitlist', () => {
  it('queues people in order once the event is full, and keeps a place when joining again', async () => {
    const { event } = await fullEvent(1);
    const [ann, bob, cat] = await users(3);
    expect(codes(await ann!.gql(JoinEventDocument, { id: event.id }))).toEqual(['CONFLICT']);

    const joined = (await ann!.gqlOk(JoinWaitlistDocument, { eventId: event.id })).joinWaitlist;
    expect(joined).toMatchObject({
      waitlistCount: 1,
      viewerWaitlistPosition: 1,
      viewerIsAttending: false,
      spotsLeft: 0,
    });
    await bob!.gqlOk(JoinWaitlistDocument, { eventId: event.id });
    await cat!.gqlOk(JoinWaitlistDocument, { eventId: event.id });
    // Again: harmless, same place.
    expect((await ann!.gqlOk(JoinWaitlistDocument, { eventId: event.id })).joinWaitlist.viewerWaitlistPosition).toBe(1);
    expect(await seen(cat!, event.id)).toMatchObject({ waitlistCount: 3, viewerWaitlistPosition: 3 });
    // Everyone sees the count; only those waiting have a position.
    expect(await seen(host, event.id)).toMatchObject({ waitlistCount: 3, viewerWaitlistPosition: null });
    expect((await gql(server, EventWaitlistDocument, { id: event.id })).data?.event).toMatchObject({
      waitlistCount: 3,
      viewerWaitlistPosition: null,
    });

    const left = (await bob!.gqlOk(LeaveWaitlistDocument, { eventId: event.id })).leaveWaitlist;
    expect(left).toMatchObject({ waitlistCount: 2, viewerWaitlistPosition: null });
    expect(await seen(cat!, event.id)).toMatchObject({ viewerWaitlistPosition: 2 });
    // Leaving again: harmless.
    expect((await bob!.gqlOk(LeaveWaitlistDocument, { eventId: event.id })).leaveWaitlist.waitlistCount).toBe(2);
  });

  it('refuses with clear codes: free spots, attendees, hosts, cancelled, hidden or unknown events, anonymous callers', async () => {
    const [walker] = await users(1);
    const open = await createEvent(server, host, { isPublic: true, maxParticipants: 5 });
    expect(codes(await walker!.gql(JoinWaitlistDocument, { eventId: open.id }))).toEqual(['CONFLICT']);

    const { event, attendees } = await fullEvent(1);
    expect(codes(await attendees[0]!.gql(JoinWaitlistDocument, { eventId: event.id }))).toEqual(['CONFLICT']);
    const hosted = await host.gql(JoinWaitlistDocument, { eventId: event.id });
    expect(codes(hosted)).toEqual(['BAD_USER_INPUT']);

    const secret = await createEvent(server, host, { isPublic: false, maxParticipants: 1 });
    for (const eventId of [secret.id, '00000000-0000-4000-8000-000000000000', 'nope']) {
      expect(codes(await walker!.gql(JoinWaitlistDocument, { eventId }))).toEqual(['NOT_FOUND']);
      expect(codes(await walker!.gql(LeaveWaitlistDocument, { eventId }))).toEqual(['NOT_FOUND']);
    }
    expect(codes(await gql(server, JoinWaitlistDocument, { eventId: event.id }))).toEqual(['UNAUTHENTICATED']);

    await host.gqlOk(CancelEventDocument, { id: event.id });
    expect(codes(await walker!.gql(JoinWaitlistDocument, { eventId: event.id }))).toEqual(['CONFLICT']);
    expect((await walker!.gql(JoinWaitlistDocument, { eventId: event.id })).errors?.[0]?.message).toMatch(/cancelled/);
  });
});

describe('promotion', () => {
  it('gives a guest’s spot to the first in line: attendee, in the event chat, told live and by push', async () => {
    const { event, attendees } = await fullEvent(1);
    const [first, second] = await users(2);
    const token = `${Date.now().toString(16)}`.padStart(64, 'a');
    await first!.gqlOk(RegisterDeviceDocument, { platform: 'IOS', token });
    await first!.gqlOk(JoinWaitlistDocument, { eventId: event.id });
    await second!.gqlOk(JoinWaitlistDocument, { eventId: event.id });

    const ws = first!.ws({ stayConnected: true });
    try {
      const notifications = await subscribe(server, ws, NotificationAddedDocument);
      const mine = await subscribe(server, ws, MyEventsChangedDocument);

      const after = (await attendees[0]!.gqlOk(LeaveEventDocument, { id: event.id })).leaveEvent;
      // The leaver's answer already shows the spot taken: promotion was in the same transaction.
      expect(after.attendeeCount).toBe(2);
      expect(await seen(host, event.id)).toMatchObject({ attendeeCount: 2, spotsLeft: 0, waitlistCount: 1 });

      const told = await notifications.next((n) => n.notificationAdded.kind === 'WAITLIST_PROMOTED');
      expect(told.notificationAdded.event?.id).toBe(event.id);
      const change = await mine.next((c) => c.myEventsChanged.eventId === event.id);
      expect(change.myEventsChanged.kind).toBe('ATTENDEES_CHANGED');
      const push = await eventually(() => apns.requests.find((r) => r.token === token), {
        what: 'the push to the promoted user',
        timeoutMs: 15_000,
      });
      expect(push.body).toMatchObject({ kind: 'WAITLIST_PROMOTED', aps: { alert: { title: 'You got a spot' } } });
    } finally {
      await ws.dispose();
    }
    expect(await seen(first!, event.id)).toMatchObject({ viewerIsAttending: true, viewerWaitlistPosition: null });
    expect(await seen(second!, event.id)).toMatchObject({ viewerIsAttending: false, viewerWaitlistPosition: 1 });
    const chat = (await first!.gqlOk(EventChatDocument, { id: event.id })).event?.chat;
    expect(chat?.members.map((m) => m.id)).toContain(first!.id);
    expect(await notificationKinds(second!)).not.toContain('WAITLIST_PROMOTED');
  });

  it('fills a raised capacity from the head of the line, in order', async () => {
    const { event } = await fullEvent(1);
    const line = await users(4);
    for (const u of line) await u.gqlOk(JoinWaitlistDocument, { eventId: event.id });
    const updated = (await host.gqlOk(UpdateEventDocument, { id: event.id, input: { maxParticipants: 5 } }))
      .updateEvent;
    expect(updated).toMatchObject({ attendeeCount: 5, spotsLeft: 0 });
    const states = await Promise.all(line.map((u) => seen(u, event.id)));
    expect(states.map((s) => s.viewerIsAttending)).toEqual([true, true, true, false]);
    expect(states[3]).toMatchObject({ viewerWaitlistPosition: 1, waitlistCount: 1 });
    for (const u of line.slice(0, 3)) expect(await notificationKinds(u)).toContain('WAITLIST_PROMOTED');
  });

  it('gives the spot of an attending invitee who declines to the first in line', async () => {
    const invitee = (await users(1))[0]!;
    const event = await createEvent(server, host, { isPublic: true, maxParticipants: 2, invitedUserIds: [invitee.id] });
    await invitee.gqlOk(JoinEventDocument, { id: event.id });
    const [waiting] = await users(1);
    await waiting!.gqlOk(JoinWaitlistDocument, { eventId: event.id });

    await invitee.gqlOk(DeclineInvitationDocument, { eventId: event.id });
    expect(await seen(invitee, event.id)).toMatchObject({ viewerIsAttending: false });
    expect(await seen(waiting!, event.id)).toMatchObject({ viewerIsAttending: true, attendeeCount: 2 });
  });

  it('empties the waitlist of a cancelled event and tells those waiting', async () => {
    const { event } = await fullEvent(1);
    const line = await users(2);
    for (const u of line) await u.gqlOk(JoinWaitlistDocument, { eventId: event.id });
    await host.gqlOk(CancelEventDocument, { id: event.id });
    for (const u of line) {
      expect(await seen(u, event.id)).toMatchObject({ waitlistCount: 0, viewerWaitlistPosition: null });
      expect(await notificationKinds(u)).toContain('EVENT_CANCELLED');
    }
  });

  it('drops from the line whoever can no longer see the event (made private), keeping invitees', async () => {
    const invitee = (await users(1))[0]!;
    const { event } = await fullEvent(1);
    const [stranger] = await users(1);
    await stranger!.gqlOk(JoinWaitlistDocument, { eventId: event.id });
    // The host invites one more person, who joins the line too.
    await server.deps.prisma.eventInvitation.create({ data: { eventId: event.id, userId: invitee.id } });
    await invitee.gqlOk(JoinWaitlistDocument, { eventId: event.id });
    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { isPublic: false } });
    expect((await stored(event.id)).waiting).toEqual([invitee.id]);
    expect(await seen(invitee, event.id)).toMatchObject({ viewerWaitlistPosition: 1, waitlistCount: 1 });
  });
});

describe('under concurrency', () => {
  it('numbers 50 concurrent joiners 1…50, then 10 concurrent leaves promote exactly the first 10', async () => {
    const { event, attendees } = await fullEvent(10);
    const line = await users(50);
    await Promise.all(line.map((u) => u.gqlOk(JoinWaitlistDocument, { eventId: event.id })));
    const positions = await Promise.all(line.map(async (u) => (await seen(u, event.id)).viewerWaitlistPosition!));
    expect([...positions].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const inLine = [...line].sort((a, b) => positions[line.indexOf(a)]! - positions[line.indexOf(b)]!);
    expect((await stored(event.id)).waiting).toEqual(inLine.map((u) => u.id));

    await Promise.all(attendees.map((a) => a.gqlOk(LeaveEventDocument, { id: event.id })));
    const after = await stored(event.id);
    expect(after.event.attendeeCount).toBe(11);
    expect(after.attendees).toBe(10);
    expect(after.waiting).toEqual(inLine.slice(10).map((u) => u.id));
    const states = await Promise.all(inLine.map((u) => seen(u, event.id)));
    expect(states.slice(0, 10).every((s) => s.viewerIsAttending)).toBe(true);
    expect(states.slice(10).map((s) => s.viewerWaitlistPosition)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  }, 60_000);

  it('holds capacity when joins, waitlist joins and leaves all race', async () => {
    const { event, attendees } = await fullEvent(10);
    const crowd = await users(50);
    // As a client does: join the waitlist; if a spot is free, join the event instead.
    // (The spot may go to someone else between the two calls, or free again: try again.)
    const arrive = async (u: TestUser) => {
      for (let attempt = 0; attempt < 20; attempt++) {
        const queued = await u.gql(JoinWaitlistDocument, { eventId: event.id });
        if (!queued.errors) return 'waiting';
        expect(codes(queued)).toEqual(['CONFLICT']);
        const joined = await u.gql(JoinEventDocument, { id: event.id });
        if (!joined.errors) return 'joined';
        expect(codes(joined)).toEqual(['CONFLICT']);
      }
      throw new Error('neither queued nor joined in 20 attempts');
    };
    await Promise.all([...crowd.map(arrive), ...attendees.map((a) => a.gqlOk(LeaveEventDocument, { id: event.id }))]);
    const after = await stored(event.id);
    expect(after.event.attendeeCount).toBe(11);
    expect(after.attendees).toBe(10);
    expect(after.waiting).toHaveLength(40);
    const attendeeIds = new Set(
      (await server.deps.prisma.eventAttendee.findMany({ where: { eventId: event.id } })).map((a) => a.userId),
    );
    expect(after.waiting.some((id) => attendeeIds.has(id))).toBe(false);
    const positions = await Promise.all(
      after.waiting.map(
        async (id) =>
          (
            await seen(
              crowd.find((u) => u.id === id)!,
              event.id,
            )
          ).viewerWaitlistPosition,
      ),
    );
    expect(positions).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  }, 60_000);
});
