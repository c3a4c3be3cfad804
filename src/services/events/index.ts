// Events: lifecycle, attendance under concurrency, invitations, interactions and
// auto-matching. Every mutation commits first and publishes its change after.
import type { AppDeps } from '../../context.ts';
import { badInput, conflict, forbidden, notFound } from '../../lib/errors.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import type { Event, EventStatus, EventType } from '../../generated/prisma/client.ts';
import { joinEventChat, leaveEventChat, publishChatLeft, publishChatsLeft } from '../chat/index.ts';
import { recordEventChange } from './realtime.ts';
import type { EventChangeKind, EventSnapshot } from './realtime.ts';
import { isOpenToAll, visibleEventWhere } from './visibility.ts';
import { haversineKm, homeCellCentreSql } from './geo.ts';
import { notify, deliverNotifications } from '../notifications/index.ts';
import { friendsAmong } from '../social/index.ts';
import { blockedBetweenSql, refuseBlocked } from '../social/blocks.ts';
import { promoteFromWaitlist, pruneWaitlist, waitingUserIds } from './waitlist.ts';
import { cancelReminder, rescheduleEventReminders, scheduleReminders } from './reminders.ts';
import { isUuid, latitude, longitude, normalizeTags, text } from '../../lib/validation.ts';
import { lockLiveAccount } from '../accounts/index.ts';

type Tx = Prisma.TransactionClient;

export const EVENT_LIMITS = {
  title: 255,
  description: 5000,
  locationName: 255,
  maxParticipants: { min: 1, max: 1000, default: 10 },
  tags: { maxItems: 20, maxLength: 50 },
  comment: 2000,
  /** Users per inviteToEvent / shareEvent call. */
  recipients: 100,
  /**
   * How far in the past a new start may lie, for clocks that run a little ahead of the
   * server's. Events start in the future: ratings count only from people who joined before the
   * start (services/social), so an event made to have already begun cannot mint reputation.
   */
  startSkewMs: 5 * 60_000,
} as const;

export interface CreateEventInput {
  title: string;
  description?: string | null;
  latitude: number;
  longitude: number;
  locationName?: string | null;
  startsAt: Date;
  endsAt: Date;
  isPublic?: boolean | null;
  type?: EventType | null;
  status?: EventStatus | null;
  maxParticipants?: number | null;
  interestTags?: readonly string[] | null;
  autoMatchingEnabled?: boolean | null;
  invitedUserIds?: readonly (string | number)[] | null;
}

/** Absent or null fields stay as they are. */
export type UpdateEventInput = { [K in keyof Omit<CreateEventInput, 'invitedUserIds'>]?: CreateEventInput[K] | null };

/** A query from Pothos (select/include) to spread into the final read. */
type Query = object;

const present = <T>(value: T | null | undefined): value is T => value !== null && value !== undefined;

function checkTimes(startsAt: Date, endsAt: Date, field: 'startsAt' | 'endsAt') {
  if (Number.isNaN(startsAt.getTime()) || Number.isNaN(endsAt.getTime()))
    throw badInput(field, `${field} is not a valid time`);
  if (endsAt <= startsAt) throw badInput(field, 'endsAt must be after startsAt');
}

/** A start (new, or changed) may not lie in the past, beyond the clock-skew margin. */
function checkStartNotPast(startsAt: Date) {
  if (startsAt.getTime() < Date.now() - EVENT_LIMITS.startSkewMs)
    throw badInput('startsAt', 'startsAt must not be in the past');
}

function checkCapacity(value: number, attendeeCount = 1) {
  const { min, max } = EVENT_LIMITS.maxParticipants;
  if (!Number.isInteger(value) || value < min || value > max)
    throw badInput('maxParticipants', `maxParticipants must be between ${min} and ${max}`);
  if (value < attendeeCount) {
    throw badInput(
      'maxParticipants',
      `maxParticipants cannot be below the ${attendeeCount} people already attending (host included)`,
    );
  }
}

function idList(field: string, ids: readonly (string | number)[]): string[] {
  const unique = [...new Set(ids.map(String))];
  if (unique.length > EVENT_LIMITS.recipients)
    throw badInput(field, `${field} may hold at most ${EVENT_LIMITS.recipients} ids`);
  return unique;
}

/** Existing users among ids (deleted accounts are not); NOT_FOUND naming the first unknown one. */
async function requireUsers(tx: Tx, field: string, ids: string[]): Promise<string[]> {
  const invalid = ids.find((id) => !isUuid(id));
  if (invalid) throw notFound(`User ${invalid}`);
  const found = new Set(
    (await tx.user.findMany({ where: { id: { in: ids }, deletedAt: null }, select: { id: true } })).map((u) => u.id),
  );
  const missing = ids.find((id) => !found.has(id));
  if (missing) throw notFound(`User ${missing}`, { field });
  return ids;
}

export const snapshot = (e: Event): EventSnapshot => ({
  hostId: e.hostId,
  isPublic: e.isPublic,
  status: e.status,
  latitude: e.latitude,
  longitude: e.longitude,
  type: e.type,
  startsAt: e.startsAt,
  interestTags: e.interestTags,
});

/** Host, attendees and pending invitees: who hears of a change through myEventsChanged. */
async function memberIds(tx: Tx | AppDeps['prisma'], event: Pick<Event, 'id' | 'hostId'>): Promise<string[]> {
  const [attendees, invitees] = await Promise.all([
    tx.eventAttendee.findMany({ where: { eventId: event.id }, select: { userId: true } }),
    tx.eventInvitation.findMany({ where: { eventId: event.id, declinedAt: null }, select: { userId: true } }),
  ]);
  return [event.hostId, ...attendees.map((a) => a.userId), ...invitees.map((i) => i.userId)];
}

/**
 * Records a change for the map and the event's members, in the change's own transaction (the
 * caller tells deps.changes once it committed). `formerMembers` are those whose membership the
 * change ended (a leaver, a decliner; everyone, for a deletion): they hear of it too, and when
 * the event was not open to all the message names who could see it just before, since the rows
 * no longer do, so that whoever lost sight gets the change with event null.
 */
async function announce(
  tx: Tx,
  kind: EventChangeKind,
  before: Event | null,
  after: Event | null,
  formerMembers: string[] = [],
) {
  const current = (after ?? before)!;
  const members = after ? await memberIds(tx, after) : [];
  const audience = new Set([...members, ...formerMembers]);
  const endedPrivately = formerMembers.length > 0 && before !== null && !isOpenToAll(before);
  await recordEventChange(
    tx,
    {
      kind,
      eventId: current.id,
      version: current.version,
      occurredAt: new Date(),
      before: before && snapshot(before),
      after: after && snapshot(after),
      ...(endedPrivately ? { formerViewers: [...audience] } : {}),
    },
    audience,
  );
}

/** The event if the viewer may see it, else NOT_FOUND (existence of private events never leaks). */
async function visibleEvent(tx: Tx, viewerId: string, id: string): Promise<Event> {
  if (!isUuid(id)) throw notFound('Event');
  const event = await tx.event.findFirst({ where: { id, ...visibleEventWhere(viewerId) } });
  if (!event) throw notFound('Event');
  return event;
}

/** Locks the event row for a host-only change: NOT_FOUND when invisible, FORBIDDEN when not the host. */
async function lockForHost(tx: Tx, viewerId: string, id: string): Promise<Event> {
  if (!isUuid(id)) throw notFound('Event');
  await tx.$queryRaw`SELECT 1 FROM events WHERE id = ${id}::uuid FOR UPDATE`;
  const event = await visibleEvent(tx, viewerId, id);
  if (event.hostId !== viewerId) throw forbidden('Only the host can change this event');
  return event;
}

async function requireCertified(tx: Tx, userId: string) {
  const user = await tx.user.findUnique({ where: { id: userId }, select: { isCertified: true } });
  if (!user?.isCertified) throw forbidden('Only certified users may have public events');
}

/**
 * Invites users who want auto-invitations, share an interest with the event and live within
 * their radius of it (when their home is known), best reputation first, up to the spots left.
 * "Where they live" is the centre of their home's cell (`homeCell`), and the host sees these
 * invitations only once accepted: together, no sequence of events places a home closer than
 * its cell.
 */
async function autoMatch(tx: Tx, event: Event): Promise<void> {
  if (!event.autoMatchingEnabled || event.status !== 'PUBLISHED' || event.interestTags.length === 0) return;
  const spots = event.maxParticipants - event.attendeeCount;
  if (spots <= 0) return;
  const home = homeCellCentreSql(Prisma.sql`u.home_latitude`, Prisma.sql`u.home_longitude`);
  const distance = haversineKm(
    home.latitude,
    home.longitude,
    Prisma.sql`${event.latitude}`,
    Prisma.sql`${event.longitude}`,
  );
  const matches = await tx.$queryRaw<Array<{ id: string }>>`
    SELECT u.id FROM users u
    LEFT JOIN reputations r ON r.user_id = u.id
    WHERE u.auto_invite_enabled
      AND u.id <> ${event.hostId}::uuid
      AND u.interests && ${event.interestTags}::text[]
      AND (u.home_latitude IS NULL OR u.home_longitude IS NULL OR ${distance} <= u.preferred_radius_km)
      AND NOT EXISTS (SELECT 1 FROM event_attendees a WHERE a.event_id = ${event.id}::uuid AND a.user_id = u.id)
      AND NOT EXISTS (SELECT 1 FROM event_invitations i WHERE i.event_id = ${event.id}::uuid AND i.user_id = u.id)
      AND NOT ${blockedBetweenSql(Prisma.sql`u.id`, Prisma.sql`${event.hostId}::uuid`)}
    ORDER BY COALESCE(r.average_rating, 0) DESC, COALESCE(r.total_ratings, 0) DESC, u.id
    LIMIT ${spots}`;
  if (!matches.length) return;
  await tx.eventInvitation.createMany({
    data: matches.map((m) => ({ eventId: event.id, userId: m.id, isAutoMatched: true })),
    skipDuplicates: true,
  });
  await notify(
    tx,
    matches.map((m) => ({
      recipientId: m.id,
      kind: 'EVENT_INVITATION',
      actorId: event.hostId,
      eventId: event.id,
      text: `You're invited to "${event.title}" — it matches your interests`,
    })),
  );
}

/** Every user named in an invitation counts against the inviter's limit, invited anew or not. */
async function limitInvitations(deps: AppDeps, viewerId: string, ids: readonly string[]): Promise<void> {
  if (ids.length) await deps.rateLimiter.consume('invitationsPerUser', viewerId, ids.length);
}

async function invite(tx: Tx, event: Event, inviterId: string, userIds: string[]): Promise<string[]> {
  const attending = new Set(
    (
      await tx.eventAttendee.findMany({
        where: { eventId: event.id, userId: { in: userIds } },
        select: { userId: true },
      })
    ).map((a) => a.userId),
  );
  const targets = userIds.filter((id) => id !== event.hostId && !attending.has(id));
  if (!targets.length) return [];
  // Inviting again re-opens a declined invitation.
  const open = await tx.eventInvitation.findMany({
    where: { eventId: event.id, userId: { in: targets }, declinedAt: null },
    select: { userId: true, isAutoMatched: true, acceptedAt: true },
  });
  // A pending auto-matched invitation is hidden from the host (see autoMatch): inviting that
  // user must answer as a fresh invitation does, so it becomes the host's own (the invitee was
  // told already).
  // It takes a fresh createdAt too: invitedUsers is in invitation order, and the old one would
  // place the user where their hidden invitation was made.
  const adopted = open.filter((i) => i.isAutoMatched && !i.acceptedAt).map((i) => i.userId);
  if (adopted.length) {
    await tx.eventInvitation.updateMany({
      where: { eventId: event.id, userId: { in: adopted } },
      data: { isAutoMatched: false, invitedById: inviterId, createdAt: new Date() },
    });
  }
  const pending = new Set(open.map((i) => i.userId));
  const fresh = targets.filter((id) => !pending.has(id));
  if (!fresh.length) return adopted;
  await tx.eventInvitation.deleteMany({ where: { eventId: event.id, userId: { in: fresh } } });
  await tx.eventInvitation.createMany({
    data: fresh.map((userId) => ({ eventId: event.id, userId, invitedById: inviterId })),
  });
  // A draft is the host's alone: its invitees cannot open it yet, so they are not told yet.
  if (event.status !== 'DRAFT')
    await notify(
      tx,
      fresh.map((userId) => ({
        recipientId: userId,
        kind: 'EVENT_INVITATION',
        actorId: inviterId,
        eventId: event.id,
        text: `You're invited to "${event.title}"`,
      })),
    );
  return [...adopted, ...fresh];
}

/** What attendees hear about when it changes, by the word the notification uses. */
const NOTIFIED_CHANGES = [
  ['title', 'title'],
  ['description', 'description'],
  ['startsAt', 'time'],
  ['endsAt', 'time'],
  ['latitude', 'place'],
  ['longitude', 'place'],
  ['locationName', 'place'],
] as const satisfies ReadonlyArray<readonly [keyof Event, string]>;

const sameValue = (a: unknown, b: unknown) =>
  a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;

/**
 * Tells attendees and pending invitees (never whoever made the change) that an event was
 * cancelled, or that its title, description, time or place changed.
 */
async function notifyChange(tx: Tx, before: Event, after: Event, actorId: string): Promise<void> {
  // Drafts are seen by their host only: nothing to tell anyone yet.
  if (before.status === 'DRAFT' || after.status === 'DRAFT') return;
  const cancelled = after.status === 'CANCELLED' && before.status !== 'CANCELLED';
  const changed = [
    ...new Set(NOTIFIED_CHANGES.filter(([field]) => !sameValue(before[field], after[field])).map(([, word]) => word)),
  ];
  if (!cancelled && !changed.length) return;
  const text = cancelled ? `"${after.title}" was cancelled` : `"${after.title}" was updated: new ${changed.join(', ')}`;
  // Those waiting for a spot hear of a cancellation too (their places go with it).
  const waiting = cancelled ? await waitingUserIds(tx, after.id) : [];
  const recipients = [...new Set([...(await memberIds(tx, after)), ...waiting])];
  await notify(
    tx,
    recipients.map((recipientId) => ({
      recipientId,
      kind: cancelled ? 'EVENT_CANCELLED' : 'EVENT_UPDATED',
      actorId,
      eventId: after.id,
      text,
    })),
  );
}

/**
 * Brings the waitlist in step with a change to the event, in its transaction: a cancelled
 * event empties it (notifyChange told those waiting), a draft or private event drops whoever
 * may no longer see it, and free spots go to the first in line. Returns the event as it now is.
 */
async function settleWaitlist(tx: Tx, after: Event): Promise<Event> {
  if (after.status === 'CANCELLED') {
    await tx.eventWaitlistEntry.deleteMany({ where: { eventId: after.id } });
    return after;
  }
  await pruneWaitlist(tx, after.id);
  const promoted = await promoteFromWaitlist(tx, after.id);
  return promoted.length ? tx.event.findUniqueOrThrow({ where: { id: after.id } }) : after;
}

export async function loadEvent(deps: AppDeps, id: string, query: Query = {}) {
  return deps.prisma.event.findUniqueOrThrow({ ...query, where: { id } });
}

export async function createEvent(deps: AppDeps, viewerId: string, input: CreateEventInput, query: Query = {}) {
  const status = input.status ?? 'PUBLISHED';
  if (status === 'CANCELLED') throw badInput('status', 'A new event cannot be cancelled');
  checkTimes(input.startsAt, input.endsAt, 'endsAt');
  checkStartNotPast(input.startsAt);
  const maxParticipants = input.maxParticipants ?? EVENT_LIMITS.maxParticipants.default;
  checkCapacity(maxParticipants);
  const data = {
    hostId: viewerId,
    title: text('title', input.title, { min: 1, max: EVENT_LIMITS.title }),
    description: present(input.description)
      ? text('description', input.description, { max: EVENT_LIMITS.description })
      : '',
    locationName: present(input.locationName)
      ? text('locationName', input.locationName, { max: EVENT_LIMITS.locationName })
      : '',
    latitude: latitude('latitude', input.latitude),
    longitude: longitude('longitude', input.longitude),
    startsAt: input.startsAt,
    endsAt: input.endsAt,
    isPublic: input.isPublic ?? false,
    type: input.type ?? 'OTHER',
    status,
    maxParticipants,
    interestTags: normalizeTags('interestTags', input.interestTags ?? [], EVENT_LIMITS.tags),
    autoMatchingEnabled: input.autoMatchingEnabled ?? false,
  } satisfies Prisma.EventUncheckedCreateInput;
  const invitedIds = idList('invitedUserIds', input.invitedUserIds ?? []);
  await limitInvitations(deps, viewerId, invitedIds);

  const event = await deps.prisma.$transaction(async (tx) => {
    await lockLiveAccount(tx, viewerId);
    if (data.isPublic) await requireCertified(tx, viewerId);
    await requireUsers(tx, 'invitedUserIds', invitedIds);
    await refuseBlocked(tx, viewerId, invitedIds, 'invitedUserIds');
    const created = await tx.event.create({ data });
    // Every event has a chat of its host and attendees.
    await tx.chat.create({
      data: { kind: 'EVENT', eventId: created.id, createdById: viewerId, members: { create: [{ userId: viewerId }] } },
    });
    await tx.reputation.updateMany({ where: { userId: viewerId }, data: { eventsHosted: { increment: 1 } } });
    await scheduleReminders(tx, created.id, [viewerId]);
    await invite(tx, created, viewerId, invitedIds);
    await autoMatch(tx, created);
    await announce(tx, 'CREATED', null, created);
    return created;
  });
  deps.changes.committed();
  return loadEvent(deps, event.id, query);
}

export async function updateEvent(
  deps: AppDeps,
  viewerId: string,
  id: string,
  input: UpdateEventInput,
  query: Query = {},
) {
  const after = await deps.prisma.$transaction(async (tx) => {
    const before = await lockForHost(tx, viewerId, id);
    const data: Prisma.EventUpdateInput = {};
    if (present(input.title)) data.title = text('title', input.title, { min: 1, max: EVENT_LIMITS.title });
    if (present(input.description))
      data.description = text('description', input.description, { max: EVENT_LIMITS.description });
    if (present(input.locationName))
      data.locationName = text('locationName', input.locationName, { max: EVENT_LIMITS.locationName });
    if (present(input.latitude)) data.latitude = latitude('latitude', input.latitude);
    if (present(input.longitude)) data.longitude = longitude('longitude', input.longitude);
    if (present(input.startsAt) || present(input.endsAt)) {
      const startsAt = input.startsAt ?? before.startsAt;
      const endsAt = input.endsAt ?? before.endsAt;
      checkTimes(startsAt, endsAt, present(input.endsAt) ? 'endsAt' : 'startsAt');
      // An event under way keeps its start; moving the start is moving it into the future.
      if (startsAt.getTime() !== before.startsAt.getTime()) checkStartNotPast(startsAt);
      Object.assign(data, { startsAt, endsAt });
    }
    if (present(input.type)) data.type = input.type;
    if (present(input.maxParticipants)) {
      checkCapacity(input.maxParticipants, before.attendeeCount);
      data.maxParticipants = input.maxParticipants;
    }
    if (present(input.interestTags))
      data.interestTags = normalizeTags('interestTags', input.interestTags, EVENT_LIMITS.tags);
    if (present(input.autoMatchingEnabled)) data.autoMatchingEnabled = input.autoMatchingEnabled;
    if (present(input.isPublic)) {
      if (input.isPublic && !before.isPublic) await requireCertified(tx, viewerId);
      data.isPublic = input.isPublic;
    }
    if (present(input.status) && input.status !== before.status) {
      if (before.status === 'CANCELLED') throw badInput('status', 'A cancelled event cannot be reopened');
      data.status = input.status;
      if (input.status === 'CANCELLED')
        await tx.reputation.updateMany({ where: { userId: viewerId }, data: { eventsHosted: { decrement: 1 } } });
    }
    const updated = await tx.event.update({ where: { id: before.id }, data: { ...data, version: { increment: 1 } } });
    if (updated.startsAt.getTime() !== before.startsAt.getTime()) await rescheduleEventReminders(tx, updated.id);
    // Members as they were before auto-matching: the newly matched hear of the invitation instead.
    await notifyChange(tx, before, updated, viewerId);
    // The waitlist first: spots a raised capacity frees go to those in line, not to auto-matching.
    const after = await settleWaitlist(tx, updated);
    await autoMatch(tx, after);
    // A private event re-drafted leaves its guests' sight; the membership the subscribers would
    // ask about is the draft's, which only the host sees, so say who could see it before.
    const redrafted = before.status !== 'DRAFT' && after.status === 'DRAFT' && !isOpenToAll(before);
    await announce(
      tx,
      after.status === 'CANCELLED' && before.status !== 'CANCELLED' ? 'CANCELLED' : 'UPDATED',
      before,
      after,
      redrafted ? await memberIds(tx, after) : [],
    );
    return after;
  });
  deps.changes.committed();
  return loadEvent(deps, after.id, query);
}

export async function cancelEvent(deps: AppDeps, viewerId: string, id: string, query: Query = {}) {
  const cancelled = await deps.prisma.$transaction(async (tx) => cancelLocked(tx, await lockForHost(tx, viewerId, id)));
  if (cancelled) deps.changes.committed();
  return loadEvent(deps, id, query);
}

/** Cancels an event whose row the caller locked; false when it was cancelled already. */
async function cancelLocked(tx: Tx, before: Event): Promise<boolean> {
  if (before.status === 'CANCELLED') return false;
  const after = await tx.event.update({
    where: { id: before.id },
    data: { status: 'CANCELLED', version: { increment: 1 } },
  });
  await tx.reputation.updateMany({ where: { userId: before.hostId }, data: { eventsHosted: { decrement: 1 } } });
  await notifyChange(tx, before, after, before.hostId);
  await settleWaitlist(tx, after);
  await announce(tx, 'CANCELLED', before, after);
  return true;
}

/** Someone's leaving of a chat, to tell their open streams of it after the commit (publishChatsLeft). */
export type ChatExit = { userId: string; chatId: string };

export async function deleteEvent(deps: AppDeps, viewerId: string, id: string): Promise<string> {
  const exits = await deps.prisma.$transaction(async (tx) => removeLocked(tx, await lockForHost(tx, viewerId, id)));
  deps.changes.committed();
  await publishChatsLeft(deps, exits);
  return id;
}

/**
 * Deletes an event whose row the caller locked, announced to everyone who could see it; its
 * chat goes with it (a cascade), so its members' streams of it must end: those are returned.
 */
async function removeLocked(tx: Tx, before: Event): Promise<ChatExit[]> {
  const members = await memberIds(tx, before);
  const chat = await tx.chat.findUnique({
    where: { eventId: before.id },
    select: { id: true, members: { select: { userId: true } } },
  });
  if (before.status !== 'CANCELLED') {
    await tx.reputation.updateMany({ where: { userId: before.hostId }, data: { eventsHosted: { decrement: 1 } } });
  }
  await tx.$executeRaw`UPDATE reputations SET events_attended = events_attended - 1
    WHERE user_id IN (SELECT user_id FROM event_attendees WHERE event_id = ${before.id}::uuid) AND events_attended > 0`;
  await tx.event.delete({ where: { id: before.id } });
  await announce(tx, 'DELETED', { ...before, version: before.version + 1 }, null, members);
  return chat ? chat.members.map((m) => ({ userId: m.userId, chatId: chat.id })) : [];
}

/** Locks an event for a change by the system (moderation, account deletion): NOT_FOUND when gone. */
async function lockAny(tx: Tx, id: string): Promise<Event> {
  const [event] = await tx.$queryRaw<Array<{ id: string }>>`SELECT id FROM events WHERE id = ${id}::uuid FOR UPDATE`;
  if (!event) throw notFound('Event');
  return tx.event.findUniqueOrThrow({ where: { id } });
}

/** Moderation: removes an event whoever hosts it, in the caller's transaction. */
export async function removeEventInTx(tx: Tx, id: string): Promise<ChatExit[]> {
  return removeLocked(tx, await lockAny(tx, id));
}

/**
 * Account deletion, in its transaction: the user's hosted events that have not ended are
 * cancelled (attendees notified, waitlists emptied), and they leave the events they attend
 * (freeing the spots of those not over for the waitlists) and the waitlists they are in.
 */
export async function withdrawFromEventsInTx(tx: Tx, userId: string): Promise<ChatExit[]> {
  const hosted = await tx.event.findMany({
    where: { hostId: userId, status: { not: 'CANCELLED' }, endsAt: { gt: new Date() } },
    select: { id: true },
    orderBy: { id: 'asc' },
  });
  for (const { id } of hosted) await cancelLocked(tx, await lockAny(tx, id));
  // Events that have ended only lose the attendance (one statement each way, however many):
  // nobody waits for their spots, and nothing about them is live any more.
  const now = new Date();
  await tx.$executeRaw`UPDATE events SET attendee_count = attendee_count - 1
    WHERE id IN (SELECT event_id FROM event_attendees WHERE user_id = ${userId}::uuid)
      AND host_id <> ${userId}::uuid AND ends_at <= ${now}`;
  await tx.eventAttendee.deleteMany({ where: { userId, event: { endsAt: { lte: now } } } });
  const attended = await tx.eventAttendee.findMany({
    where: { userId, event: { hostId: { not: userId }, endsAt: { gt: now } } },
    select: { eventId: true },
    orderBy: { eventId: 'asc' },
  });
  const exits: ChatExit[] = [];
  for (const { eventId } of attended) {
    const left = await leaveLocked(tx, await lockAny(tx, eventId), userId);
    if (left) exits.push({ userId, chatId: left });
  }
  await tx.eventWaitlistEntry.deleteMany({ where: { userId } });
  return exits;
}

export async function joinEvent(deps: AppDeps, viewerId: string, id: string, query: Query = {}) {
  const changed = await deps.prisma.$transaction(async (tx) => {
    await lockLiveAccount(tx, viewerId);
    const event = await visibleEvent(tx, viewerId, id);
    if (event.hostId === viewerId) throw badInput('id', 'You host this event; hosts attend their own events already');
    const inserted = await tx.$executeRaw`
      INSERT INTO event_attendees (event_id, user_id) VALUES (${event.id}::uuid, ${viewerId}::uuid) ON CONFLICT DO NOTHING`;
    if (inserted === 0) return null; // already attending: joining is idempotent
    if (event.status === 'CANCELLED') throw conflict('This event was cancelled');
    if (event.status === 'DRAFT') throw conflict('This event is not published yet');
    if (event.endsAt <= new Date()) throw conflict('This event has ended');
    // The conditional update holds capacity under concurrency: the row lock serializes
    // joiners and the count check rejects whoever comes after the last seat.
    const seated = await tx.$executeRaw`
      UPDATE events SET attendee_count = attendee_count + 1, version = version + 1, updated_at = now()
      WHERE id = ${event.id}::uuid AND attendee_count < max_participants AND status = 'PUBLISHED'`;
    if (seated === 0) throw conflict('This event is full; joinWaitlist queues for a spot');
    await tx.eventWaitlistEntry.deleteMany({ where: { eventId: event.id, userId: viewerId } });
    await scheduleReminders(tx, event.id, [viewerId]);
    await tx.reputation.updateMany({ where: { userId: viewerId }, data: { eventsAttended: { increment: 1 } } });
    await tx.eventInvitation.updateMany({
      where: { eventId: event.id, userId: viewerId, declinedAt: null, acceptedAt: null },
      data: { acceptedAt: new Date() },
    });
    await joinEventChat(tx, event.id, event.hostId, viewerId);
    await announce(tx, 'ATTENDEES_CHANGED', event, await tx.event.findUniqueOrThrow({ where: { id: event.id } }));
    return true;
  });
  if (changed) deps.changes.committed();
  return loadEvent(deps, id, query);
}

/**
 * Takes an attendee off an event (count, reputation, chat) under the event's row lock, which
 * the count's update takes. False when they were not attending; else the event chat they left
 * (for publishChatLeft), or null.
 */
async function unseat(tx: Tx, eventId: string, userId: string): Promise<string | null | false> {
  const removed = await tx.eventAttendee.deleteMany({ where: { eventId, userId } });
  if (removed.count === 0) return false;
  await tx.event.update({ where: { id: eventId }, data: { attendeeCount: { decrement: 1 } } });
  await tx.reputation.updateMany({
    where: { userId, eventsAttended: { gt: 0 } },
    data: { eventsAttended: { decrement: 1 } },
  });
  await cancelReminder(tx, eventId, userId);
  return leaveEventChat(tx, eventId, userId);
}

export async function leaveEvent(deps: AppDeps, viewerId: string, id: string, query: Query = {}) {
  const changed = await deps.prisma.$transaction(async (tx) => {
    const event = await visibleEvent(tx, viewerId, id);
    if (event.hostId === viewerId) throw badInput('id', 'Hosts cannot leave their own event; cancel it instead');
    const leftChat = await leaveLocked(tx, event, viewerId);
    return leftChat === false ? null : { leftChat };
  });
  if (changed) deps.changes.committed();
  if (changed?.leftChat) await publishChatLeft(deps, viewerId, changed.leftChat);
  return deps.prisma.event.findFirstOrThrow({ ...query, where: { id } });
}

/** An attendee leaves (the row lock taken by unseat's update), and the first in line takes the spot. */
async function leaveLocked(tx: Tx, event: Event, userId: string): Promise<string | null | false> {
  const leftChat = await unseat(tx, event.id, userId);
  if (leftChat === false) return false;
  const after = await settleWaitlist(
    tx,
    await tx.event.update({ where: { id: event.id }, data: { version: { increment: 1 } } }),
  );
  // The leaver may no longer be a member but should hear that they left.
  await announce(tx, 'ATTENDEES_CHANGED', event, after, [userId]);
  return leftChat;
}

export async function inviteToEvent(
  deps: AppDeps,
  viewerId: string,
  eventId: string,
  userIds: readonly (string | number)[],
  query: Query = {},
) {
  const ids = idList('userIds', userIds);
  await limitInvitations(deps, viewerId, ids);
  const changed = await deps.prisma.$transaction(async (tx) => {
    const before = await lockForHost(tx, viewerId, eventId);
    if (before.status === 'CANCELLED') throw conflict('This event was cancelled');
    await requireUsers(tx, 'userIds', ids);
    await refuseBlocked(tx, viewerId, ids, 'userIds');
    const invited = await invite(tx, before, viewerId, ids);
    if (!invited.length) return false;
    const after = await tx.event.update({ where: { id: before.id }, data: { version: { increment: 1 } } });
    await announce(tx, 'UPDATED', before, after);
    return true;
  });
  if (changed) deps.changes.committed();
  return loadEvent(deps, eventId, query);
}

/**
 * Declines an invitation (again: harmless). The invitations changed, so the event's version does
 * and it is announced as UPDATED, the decliner included: on a private event they lose sight. An
 * invitee who had joined leaves too (ATTENDEES_CHANGED), freeing their spot.
 */
export async function declineInvitation(deps: AppDeps, viewerId: string, eventId: string): Promise<boolean> {
  if (!isUuid(eventId)) throw notFound('Invitation');
  const changed = await deps.prisma.$transaction(async (tx) => {
    // The event's row lock, as inviting, updating and joining take it: the invitation read here
    // is the one declined (not one a concurrent adoption or join has just changed).
    await tx.$queryRaw`SELECT 1 FROM events WHERE id = ${eventId}::uuid FOR UPDATE`;
    const invitation = await tx.eventInvitation.findUnique({
      where: { eventId_userId: { eventId, userId: viewerId } },
      select: { declinedAt: true, isAutoMatched: true, acceptedAt: true },
    });
    if (!invitation) throw notFound('Invitation');
    if (invitation.declinedAt) return false;
    await tx.eventInvitation.update({
      where: { eventId_userId: { eventId, userId: viewerId } },
      data: { declinedAt: new Date() },
    });
    // Declining is not going: an invitee who had joined leaves, and the spot goes to the first
    // in line. A decliner of a private event loses sight of it, so their waitlist place goes too.
    const leftChat = await unseat(tx, eventId, viewerId);
    await pruneWaitlist(tx, eventId);
    // A pending auto-matched invitation was the invitee's alone (see autoMatch): declining it
    // changes nothing anyone else could see, so it must not show as a change either.
    if (leftChat === false && invitation.isAutoMatched && !invitation.acceptedAt) return false;
    const event = await settleWaitlist(
      tx,
      await tx.event.update({ where: { id: eventId }, data: { version: { increment: 1 } } }),
    );
    // The event's own state is the same before and after; who is invited or attends changed.
    await announce(tx, leftChat === false ? 'UPDATED' : 'ATTENDEES_CHANGED', event, event, [viewerId]);
    return { leftChat: leftChat || null };
  });
  if (changed) deps.changes.committed();
  if (changed && changed.leftChat) await publishChatLeft(deps, viewerId, changed.leftChat);
  return true;
}

export async function addComment(deps: AppDeps, viewerId: string, eventId: string, body: string, query: Query = {}) {
  const trimmed = text('body', body, { min: 1, max: EVENT_LIMITS.comment });
  return deps.prisma.$transaction(async (tx) => {
    const event = await visibleEvent(tx, viewerId, eventId);
    return tx.eventComment.create({ ...query, data: { eventId: event.id, authorId: viewerId, body: trimmed } });
  });
}

export async function deleteComment(deps: AppDeps, viewerId: string, id: string): Promise<string> {
  if (!isUuid(id)) throw notFound('Comment');
  const comment = await deps.prisma.eventComment.findFirst({
    where: { id, event: visibleEventWhere(viewerId) },
    select: { id: true, authorId: true, event: { select: { hostId: true } } },
  });
  if (!comment) throw notFound('Comment');
  if (comment.authorId !== viewerId && comment.event.hostId !== viewerId)
    throw forbidden('Only the author or the host can delete a comment');
  await deps.prisma.eventComment.deleteMany({ where: { id } });
  return id;
}

export async function setLike(deps: AppDeps, viewerId: string, id: string, liked: boolean, query: Query = {}) {
  await deps.prisma.$transaction(async (tx) => {
    const event = await visibleEvent(tx, viewerId, id);
    if (liked) await tx.eventLike.createMany({ data: [{ eventId: event.id, userId: viewerId }], skipDuplicates: true });
    else await tx.eventLike.deleteMany({ where: { eventId: event.id, userId: viewerId } });
  });
  return loadEvent(deps, id, query);
}

/** Events are shared with friends only: FORBIDDEN naming withUserIds for anyone else. */
async function requireFriends(tx: Tx, viewerId: string, ids: string[]): Promise<void> {
  const friends = await friendsAmong(tx, viewerId, ids);
  if (ids.some((userId) => !friends.has(userId)))
    throw forbidden('You can share events with your friends only', { field: 'withUserIds' });
}

export async function shareEvent(
  deps: AppDeps,
  viewerId: string,
  id: string,
  withUserIds: readonly (string | number)[],
  query: Query = {},
) {
  const ids = idList('withUserIds', withUserIds).filter((userId) => userId !== viewerId);
  // Each recipient named counts, shared with before or not: the limit bounds what a sender tries.
  if (ids.length) await deps.rateLimiter.consume('sharesPerUser', viewerId, ids.length);
  const notified = await deps.prisma.$transaction(async (tx) => {
    const event = await visibleEvent(tx, viewerId, id);
    if (!event.isPublic) throw forbidden('Private events cannot be shared; the host can invite people instead');
    await requireUsers(tx, 'withUserIds', ids);
    await requireFriends(tx, viewerId, ids);
    // One share per (event, sender, recipient): a repeated share inserts nothing, so it
    // notifies nobody and queues no push job. Concurrent repeats meet on the unique key.
    const added = await tx.eventShare.createManyAndReturn({
      data: ids.map((sharedWithId) => ({ eventId: event.id, sharedById: viewerId, sharedWithId })),
      skipDuplicates: true,
      select: { sharedWithId: true },
    });
    if (!added.length) return [];
    const sharer = await tx.user.findUniqueOrThrow({ where: { id: viewerId }, select: { username: true } });
    return notify(
      tx,
      added.map(({ sharedWithId: recipientId }) => ({
        recipientId,
        kind: 'EVENT_SHARED',
        actorId: viewerId,
        eventId: event.id,
        text: `${sharer.username} shared "${event.title}" with you`,
      })),
    );
  });
  deliverNotifications(deps, notified);
  return loadEvent(deps, id, query);
}

/** Reads one event for the viewer; null when it does not exist or is not theirs to see. */
export function findVisibleEvent(deps: AppDeps, viewerId: string | null | undefined, id: string, query: Query = {}) {
  if (!isUuid(id)) return null;
  return deps.prisma.event.findFirst({ ...query, where: { id, ...visibleEventWhere(viewerId) } });
}
