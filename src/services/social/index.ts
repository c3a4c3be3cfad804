// Friend requests, friendships and ratings with the reputation they feed. No GraphQL here.
import type { AppDeps } from '../../context.ts';
import { badInput, conflict, forbidden, isUniqueViolation, notFound } from '../../lib/errors.ts';
import type { FriendRequest, Prisma } from '../../generated/prisma/client.ts';
import { visibleEventWhere } from '../events/visibility.ts';
import { notify, deliverNotifications } from '../notifications/index.ts';
import type { NotificationRef } from '../notifications/index.ts';
import { isUuid, text } from '../../lib/validation.ts';
import { refuseBlocked } from './blocks.ts';

type Tx = Prisma.TransactionClient;
type Query = object;

/** The ordered pair a friendship or a request between two users is stored under. */
export const orderedPair = (a: string, b: string) => (a < b ? { userAId: a, userBId: b } : { userAId: b, userBId: a });

export type FriendshipStatus = 'SELF' | 'NONE' | 'FRIENDS' | 'REQUEST_SENT' | 'REQUEST_RECEIVED';

/** The user with this id; NOT_FOUND naming the field otherwise (malformed ids and deleted accounts included). */
export async function requireUser(
  tx: Tx | AppDeps['prisma'],
  id: string,
  field = 'userId',
): Promise<{ id: string; username: string }> {
  const user = isUuid(id)
    ? await tx.user.findFirst({ where: { id, deletedAt: null }, select: { id: true, username: true } })
    : null;
  if (!user) throw notFound('User', { field });
  return user;
}

async function areFriends(tx: Tx, a: string, b: string): Promise<boolean> {
  return (await tx.friendship.count({ where: orderedPair(a, b) })) > 0;
}

/** Makes two users friends and closes the request, notifying the requester. */
async function befriend(tx: Tx, request: FriendRequest, accepterName: string): Promise<NotificationRef[]> {
  await tx.friendRequest.delete({ where: { id: request.id } });
  await tx.friendship.createMany({ data: [orderedPair(request.fromId, request.toId)], skipDuplicates: true });
  return notify(tx, [
    {
      recipientId: request.fromId,
      kind: 'FRIEND_REQUEST_ACCEPTED',
      actorId: request.toId,
      text: `${accepterName} accepted your friend request`,
    },
  ]);
}

/**
 * Sends a request, or, when the other user already asked the viewer, accepts theirs (and
 * returns it). Two users asking each other at the same moment collide on the pair's unique
 * key; the loser retries and finds the other's request to accept.
 */
export async function sendFriendRequest(deps: AppDeps, viewerId: string, userId: string): Promise<FriendRequest> {
  if (userId === viewerId) throw badInput('userId', 'You cannot befriend yourself');
  const target = await requireUser(deps.prisma, userId);
  for (let attempt = 0; ; attempt++) {
    try {
      const { request, notified } = await deps.prisma.$transaction(async (tx) => {
        await refuseBlocked(tx, viewerId, [target.id], 'userId');
        if (await areFriends(tx, viewerId, target.id)) throw conflict('You are already friends', { field: 'userId' });
        const existing = await tx.friendRequest.findUnique({
          where: { userAId_userBId: orderedPair(viewerId, target.id) },
        });
        if (existing?.fromId === viewerId)
          throw conflict('You already sent this user a friend request', { field: 'userId' });
        const me = await tx.user.findUniqueOrThrow({ where: { id: viewerId }, select: { username: true } });
        if (existing) {
          // Their request, accepted: it is answered with as it was.
          return { request: existing, notified: await befriend(tx, existing, me.username) };
        }
        const created = await tx.friendRequest.create({
          data: { fromId: viewerId, toId: target.id, ...orderedPair(viewerId, target.id) },
        });
        const notified = await notify(tx, [
          {
            recipientId: target.id,
            kind: 'FRIEND_REQUEST_RECEIVED',
            actorId: viewerId,
            text: `${me.username} sent you a friend request`,
          },
        ]);
        return { request: created, notified };
      });
      deliverNotifications(deps, notified);
      return request;
    } catch (error) {
      if (isUniqueViolation(error) && attempt < 2) continue;
      throw error;
    }
  }
}

async function findRequest(tx: Tx, requestId: string): Promise<FriendRequest> {
  const request = isUuid(requestId) ? await tx.friendRequest.findUnique({ where: { id: requestId } }) : null;
  if (!request) throw notFound('Friend request (it may have been accepted, declined or cancelled)');
  return request;
}

/** Accepts a request sent to the viewer; returns the new friend. */
export async function acceptFriendRequest(deps: AppDeps, viewerId: string, requestId: string, query: Query = {}) {
  const { friendId, notified } = await deps.prisma.$transaction(async (tx) => {
    // Locks the row so two accepts of one request cannot both pass: the second finds it gone.
    if (isUuid(requestId)) await tx.$queryRaw`SELECT 1 FROM friend_requests WHERE id = ${requestId}::uuid FOR UPDATE`;
    const request = await findRequest(tx, requestId);
    if (request.toId !== viewerId) throw forbidden('Only the recipient can accept a friend request');
    const me = await tx.user.findUniqueOrThrow({ where: { id: viewerId }, select: { username: true } });
    return { friendId: request.fromId, notified: await befriend(tx, request, me.username) };
  });
  deliverNotifications(deps, notified);
  return deps.prisma.user.findUniqueOrThrow({ ...query, where: { id: friendId } });
}

export async function declineFriendRequest(deps: AppDeps, viewerId: string, requestId: string): Promise<string> {
  return closeRequest(deps, viewerId, requestId, 'toId', 'Only the recipient can decline a friend request');
}

export async function cancelFriendRequest(deps: AppDeps, viewerId: string, requestId: string): Promise<string> {
  return closeRequest(deps, viewerId, requestId, 'fromId', 'Only the sender can cancel a friend request');
}

async function closeRequest(
  deps: AppDeps,
  viewerId: string,
  requestId: string,
  side: 'fromId' | 'toId',
  refusal: string,
) {
  return deps.prisma.$transaction(async (tx) => {
    const request = await findRequest(tx, requestId);
    if (request[side] !== viewerId) throw forbidden(refusal);
    await tx.friendRequest.deleteMany({ where: { id: request.id } });
    return request.id;
  });
}

/** Blocks a user (again: harmless), ending their friendship and pending friend requests (see ./blocks.ts). */
export async function blockUser(deps: AppDeps, viewerId: string, userId: string): Promise<boolean> {
  if (userId === viewerId) throw badInput('userId', 'You cannot block yourself');
  await deps.prisma.$transaction(async (tx) => {
    await requireUser(tx, userId);
    await tx.userBlock.createMany({ data: [{ blockerId: viewerId, blockedId: userId }], skipDuplicates: true });
    const pair = orderedPair(viewerId, userId);
    await tx.friendship.deleteMany({ where: pair });
    await tx.friendRequest.deleteMany({ where: pair });
  });
  return true;
}

/** Lifts the viewer's block (none: harmless). The friendship it ended does not come back. */
export async function unblockUser(deps: AppDeps, viewerId: string, userId: string): Promise<boolean> {
  await requireUser(deps.prisma, userId);
  await deps.prisma.userBlock.deleteMany({ where: { blockerId: viewerId, blockedId: userId } });
  return true;
}

export async function removeFriend(deps: AppDeps, viewerId: string, userId: string): Promise<string> {
  if (!isUuid(userId) || userId === viewerId) throw notFound('Friendship');
  const { count } = await deps.prisma.friendship.deleteMany({ where: orderedPair(viewerId, userId) });
  if (count === 0) throw notFound('Friendship');
  return userId;
}

/** Pending requests: received (incoming true), sent (false) or both (null), newest first. */
export function friendRequests(deps: AppDeps, viewerId: string, incoming: boolean | null | undefined) {
  const where: Prisma.FriendRequestWhereInput =
    incoming === true
      ? { toId: viewerId }
      : incoming === false
        ? { fromId: viewerId }
        : { OR: [{ toId: viewerId }, { fromId: viewerId }] };
  return deps.prisma.friendRequest.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: 500 });
}

/**
 * The one rule for a user's presence (isOnline, lastSeenAt) and friends list: the user themself
 * and their friends see them; nobody else does, anonymous viewers included. It matches
 * presenceChanged, which only friends hear. The rule is decided from this selection, made with
 * the user's row (viewerId: the viewer's id, or an id that matches no row when anonymous), so a
 * page of users costs no statement per user; friendshipStatus uses the same selection, which
 * Prisma then reads once.
 */
export const socialCircleSelect = (viewerId: string) =>
  ({
    friendshipsAsA: { where: { userBId: viewerId }, select: { userBId: true } },
    friendshipsAsB: { where: { userAId: viewerId }, select: { userAId: true } },
  }) satisfies Prisma.UserSelect;

/** A user's row read with socialCircleSelect. */
export interface SocialCircleRow {
  id: string;
  friendshipsAsA: readonly unknown[];
  friendshipsAsB: readonly unknown[];
}

/** Friends with the viewer (read with socialCircleSelect). */
export const isFriendOfViewer = (user: SocialCircleRow): boolean =>
  user.friendshipsAsA.length > 0 || user.friendshipsAsB.length > 0;

/** Whether the viewer may see the user's presence and friends list (see socialCircleSelect). */
export const seesSocialCircle = (user: SocialCircleRow, viewerId: string | null | undefined): boolean =>
  !!viewerId && (user.id === viewerId || isFriendOfViewer(user));

/** Those of ids who are friends of userId, in one statement. */
export async function friendsAmong(tx: Tx | AppDeps['prisma'], userId: string, ids: readonly string[]) {
  if (!ids.length) return new Set<string>();
  const rows = await tx.friendship.findMany({
    where: {
      OR: [
        { userAId: userId, userBId: { in: [...ids] } },
        { userBId: userId, userAId: { in: [...ids] } },
      ],
    },
    select: { userAId: true, userBId: true },
  });
  return new Set(rows.map((r) => (r.userAId === userId ? r.userBId : r.userAId)));
}

/** Users who are friends of userId. */
export const friendsOf = (userId: string): Prisma.UserWhereInput => ({
  OR: [{ friendshipsAsA: { some: { userBId: userId } } }, { friendshipsAsB: { some: { userAId: userId } } }],
});

export const RATING_LIMITS = { reference: 2000, score: { min: 1, max: 5 } } as const;

export interface RateUserInput {
  userId: string;
  eventId?: string | null;
  score: number;
  reference?: string | null;
}

/**
 * Rates someone met at an event: both took part, the rater having hosted or joined before the start,, the
 * event has started and was not cancelled, at most once per rated user and event, and at most
 * RATE_LIMIT_RATINGS_PER_USER ratings a day per rater. The rating and the rated user's totals, average and trust
 * level change in one transaction; the totals are updated by one atomic statement, so ratings
 * arriving together never lose an update.
 */
export async function rateUser(deps: AppDeps, viewerId: string, input: RateUserInput, query: Query = {}) {
  const { min, max } = RATING_LIMITS.score;
  if (!Number.isInteger(input.score) || input.score < min || input.score > max) {
    throw badInput('score', `score must be a whole number from ${min} to ${max}`);
  }
  const reference = input.reference ? text('reference', input.reference, { max: RATING_LIMITS.reference }) : '';
  if (input.userId === viewerId) throw badInput('userId', 'You cannot rate yourself');
  if (!input.eventId) throw badInput('eventId', 'Ratings are about an event you both attended: give its eventId');
  const eventId = input.eventId;

  const { ratingId, notified } = await deps.prisma
    .$transaction(async (tx) => {
      const rated = await requireUser(tx, input.userId);
      await refuseBlocked(tx, viewerId, [rated.id], 'userId');
      const event = isUuid(eventId)
        ? await tx.event.findFirst({
            where: { id: eventId, ...visibleEventWhere(viewerId) },
            select: { id: true, title: true, hostId: true, startsAt: true, status: true },
          })
        : null;
      if (!event) throw notFound('Event', { field: 'eventId' });
      if (event.status === 'CANCELLED') throw forbidden('This event was cancelled; there is nothing to rate');
      if (event.startsAt > new Date()) throw forbidden('You can rate people once the event has started');
      const joined = new Map(
        (
          await tx.eventAttendee.findMany({
            where: { eventId: event.id, userId: { in: [viewerId, rated.id] } },
            select: { userId: true, joinedAt: true },
          })
        ).map((a) => [a.userId, a.joinedAt]),
      );
      const took = (id: string) => id === event.hostId || joined.has(id);
      if (!took(viewerId) || !took(rated.id))
        throw forbidden('You can only rate someone you attended or hosted this event with');
      // A rater who joined once the event was under way (a sock puppet joining to rate) does not count.
      if (viewerId !== event.hostId && joined.get(viewerId)! >= event.startsAt)
        throw forbidden('You can rate people only for events you joined before they started');
      // Last, so refused attempts cost nothing; a failed transaction keeps the point spent.
      await deps.rateLimiter.consume('ratingsPerUser', viewerId);

      const rating = await tx.rating.create({
        data: { raterId: viewerId, ratedId: rated.id, eventId: event.id, score: input.score, reference },
        select: { id: true },
      });
      await tx.$executeRaw`
        UPDATE reputations r SET
          total_ratings = r.total_ratings + 1,
          rating_sum = r.rating_sum + ${input.score},
          average_rating = (r.rating_sum + ${input.score})::float8 / (r.total_ratings + 1),
          trust_level = (
            SELECT max(t.level) FROM trust_levels t
            WHERE t.required_ratings <= r.total_ratings + 1
              AND t.min_average_rating <= (r.rating_sum + ${input.score})::float8 / (r.total_ratings + 1))
        WHERE r.user_id = ${rated.id}::uuid`;
      const notified = await notify(tx, [
        {
          recipientId: rated.id,
          kind: 'RATING_RECEIVED',
          actorId: viewerId,
          eventId: event.id,
          text: `You were rated ${input.score}/5 for "${event.title}"`,
        },
      ]);
      return { ratingId: rating.id, notified };
    })
    .catch((error: unknown) => {
      if (isUniqueViolation(error)) throw conflict('You already rated this user for this event', { field: 'userId' });
      throw error;
    });
  deliverNotifications(deps, notified);
  return deps.prisma.rating.findUniqueOrThrow({ ...query, where: { id: ratingId } });
}
