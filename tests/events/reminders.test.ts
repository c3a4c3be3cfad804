// Event reminders as clients see them: the reminderMinutesBefore setting, an EVENT_REMINDER
// (live over graphql-ws and by push) once per attendee and host however many instances send,
// rescheduled when the start moves or the setting changes, and none for cancelled events,
// people who left, or people who want none. Time passes as in the other suites: the event's
// times (and with them the reminders' due times) are moved into the past (passTime).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendDueReminders } from '../../src/services/events/reminders.ts';
import {
  CancelEventDocument,
  JoinEventDocument,
  LeaveEventDocument,
  MeDocument,
  NotificationAddedDocument,
  RegisterDeviceDocument,
  UpdateEventDocument,
  UpdateProfileDocument,
} from '../generated/graphql.ts';
import { codes, createUser, subscribe, wsClient } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { createEvent, passTime } from '../helpers/events.ts';
import { eventually } from '../helpers/eventually.ts';
import { generatePushKeys, pushEnv, startFakeApns, startFakeFcm } from '../helpers/push.ts';
import type { FakeFcm, FakeProvider } from '../helpers/push.ts';
import { startTestServer, testDatabaseUrl } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let server: TestServer;
/** A second instance of the same deployment, sending reminders too (PostgreSQL only). */
let other: TestServer | undefined;
let apns: FakeProvider;
let fcm: FakeFcm;

beforeAll(async () => {
  const keys = await generatePushKeys();
  [apns, fcm] = await Promise.all([startFakeApns(keys), startFakeFcm(keys)]);
  const env = pushEnv(keys, apns, fcm, { REMINDER_POLL_MS: '50' });
  server = await startTestServer({ env });
  other = testDatabaseUrl ? await startTestServer({ shareWith: server, env }) : undefined;
});
afterAll(async () => {
  await other?.close();
  await server?.close();
  await apns?.close();
  await fcm?.close();
});

const users = (n: number) => Promise.all(Array.from({ length: n }, () => createUser(server)));
/** The EVENT_REMINDERs a user has for an event, straight from the database. */
const remindersOf = (user: TestUser, eventId: string) =>
  server.deps.prisma.notification.findMany({ where: { recipientId: user.id, eventId, kind: 'EVENT_REMINDER' } });
/** An event starting `startsInMs` from now, joined by `guests`. */
async function eventWith(host: TestUser, guests: TestUser[], startsInMs: number) {
  const startsAt = new Date(Date.now() + startsInMs);
  const event = await createEvent(server, host, {
    maxParticipants: guests.length + 1,
    startsAt: startsAt.toISOString(),
    endsAt: new Date(startsAt.getTime() + 2 * HOUR).toISOString(),
    invitedUserIds: guests.map((g) => g.id),
  });
  for (const g of guests) await g.gqlOk(JoinEventDocument, { id: event.id });
  return event;
}
/** Sends what is due now on this instance too, alongside the background senders: still once each. */
const sendNow = () => Promise.all([sendDueReminders(server.deps), sendDueReminders(server.deps)]);

describe('the setting', () => {
  it('defaults to 60 minutes, takes 0 to 10080 or null, and refuses anything else naming the field', async () => {
    const [me] = await users(1);
    expect((await me!.gqlOk(MeDocument)).me?.settings?.reminderMinutesBefore).toBe(60);
    for (const value of [0, 10_080, null, 15]) {
      const { updateProfile } = await me!.gqlOk(UpdateProfileDocument, { input: { reminderMinutesBefore: value } });
      expect(updateProfile.settings?.reminderMinutesBefore).toBe(value);
    }
    // Other changes leave it alone.
    await me!.gqlOk(UpdateProfileDocument, { input: { bio: 'hi' } });
    expect((await me!.gqlOk(MeDocument)).me?.settings?.reminderMinutesBefore).toBe(15);
    for (const value of [-1, 10_081]) {
      const result = await me!.gql(UpdateProfileDocument, { input: { reminderMinutesBefore: value } });
      expect(codes(result)).toEqual(['BAD_USER_INPUT']);
      expect(result.errors?.[0]?.extensions?.field).toBe('reminderMinutesBefore');
    }
  });
});

describe('sending', () => {
  it(`reminds every attendee and the host once${testDatabaseUrl ? ', with two instances sending' : ''}, live and by push`, async () => {
    const [host, ...guests] = await users(16);
    const event = await eventWith(host!, guests, 3 * HOUR);
    const token = `${Date.now().toString(16)}`.padStart(64, 'b');
    await guests[0]!.gqlOk(RegisterDeviceDocument, { platform: 'IOS', token });
    const listener = guests[1]!;
    // Listening on the other instance, when there is one.
    const client = wsClient(
      other ?? server,
      { authorization: `Bearer ${listener.accessToken}` },
      { stayConnected: true },
    );
    try {
      const live = await subscribe(other ?? server, client, NotificationAddedDocument);
      // Nothing is due two hours ahead of the reminder.
      await sendNow();
      expect(await remindersOf(listener, event.id)).toEqual([]);

      await passTime(server, event.id, 2 * HOUR + MINUTE);
      const told = await live.next((n) => n.notificationAdded.kind === 'EVENT_REMINDER', 10_000);
      expect(told.notificationAdded.event?.id).toBe(event.id);
      expect(told.notificationAdded.text).toMatch(/starts in 59 minutes$/);
      await sendNow();
      for (const user of [host!, ...guests]) {
        await eventually(async () => (await remindersOf(user, event.id)).length === 1, {
          what: `the reminder of ${user.username}`,
        });
      }
      const push = await eventually(() => apns.requests.find((r) => r.token === token), {
        what: 'the reminder push',
        timeoutMs: 15_000,
      });
      expect(push.body).toMatchObject({ kind: 'EVENT_REMINDER', aps: { alert: { title: 'Starting soon' } } });
      // More rounds on every instance send nothing more.
      await sendNow();
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const user of [host!, ...guests]) expect(await remindersOf(user, event.id)).toHaveLength(1);
    } finally {
      await client.dispose();
    }
  }, 60_000);

  it('follows a moved start, sending again for the new one, and follows a changed setting', async () => {
    const [host, early, late] = await users(3);
    await late!.gqlOk(UpdateProfileDocument, { input: { reminderMinutesBefore: 180 } });
    const event = await eventWith(host!, [early!, late!], 3 * HOUR);
    // Moved three hours later: at what was an hour before the start, nothing is due any more.
    const moved = new Date(Date.now() + 6 * HOUR);
    await host!.gqlOk(UpdateEventDocument, {
      id: event.id,
      input: { startsAt: moved.toISOString(), endsAt: new Date(moved.getTime() + HOUR).toISOString() },
    });
    await passTime(server, event.id, 2 * HOUR + MINUTE);
    await sendNow();
    expect(await remindersOf(early!, event.id)).toEqual([]);
    // 180 minutes before the new start has come (2 h 59 min to go): late is reminded, early not yet.
    await passTime(server, event.id, HOUR);
    await sendNow();
    // The instance's own sender may hold the row (SKIP LOCKED) as sendNow runs: it commits shortly.
    await eventually(async () => (await remindersOf(late!, event.id)).length === 1, { what: "late's reminder" });
    expect(await remindersOf(early!, event.id)).toEqual([]);
    // early now wants two hours' notice: due in 59 minutes instead of 1 h 59 min.
    await early!.gqlOk(UpdateProfileDocument, { input: { reminderMinutesBefore: 120 } });
    await passTime(server, event.id, HOUR);
    await sendNow();
    await eventually(async () => (await remindersOf(early!, event.id)).length === 1, { what: "early's reminder" });
    // Moving the start again schedules a new reminder for everyone.
    const again = new Date(Date.now() + 5 * HOUR);
    await host!.gqlOk(UpdateEventDocument, {
      id: event.id,
      input: { startsAt: again.toISOString(), endsAt: new Date(again.getTime() + HOUR).toISOString() },
    });
    await passTime(server, event.id, 2 * HOUR);
    await sendNow();
    await eventually(async () => (await remindersOf(late!, event.id)).length === 2, { what: 'a second reminder' });
  }, 60_000);

  it('sends none for a cancelled event, to someone who left, or to someone who wants none', async () => {
    const [host, leaver, quiet, guest] = await users(4);
    await quiet!.gqlOk(UpdateProfileDocument, { input: { reminderMinutesBefore: null } });
    const event = await eventWith(host!, [leaver!, quiet!], 3 * HOUR);
    await leaver!.gqlOk(LeaveEventDocument, { id: event.id });
    const cancelled = await eventWith(host!, [guest!], 3 * HOUR);
    await host!.gqlOk(CancelEventDocument, { id: cancelled.id });

    await passTime(server, event.id, 2 * HOUR + MINUTE);
    await passTime(server, cancelled.id, 2 * HOUR + MINUTE);
    await sendNow();
    await eventually(async () => (await remindersOf(host!, event.id)).length === 1, { what: "the host's reminder" });
    expect(await remindersOf(leaver!, event.id)).toEqual([]);
    expect(await remindersOf(quiet!, event.id)).toEqual([]);
    expect(await remindersOf(guest!, cancelled.id)).toEqual([]);
    expect(await remindersOf(host!, cancelled.id)).toEqual([]);
    // Claimed and settled: nothing stays due for the senders to look at again.
    const pending = await server.deps.prisma.eventReminder.count({
      where: { eventId: { in: [event.id, cancelled.id] }, sentAt: null, dueAt: { lte: new Date() } },
    });
    expect(pending).toBe(0);
  });
});
