import { queryFromInfo } from '@pothos/plugin-prisma';
import type { GraphQLResolveInfo } from 'graphql';
import { viewerIdOf } from '../viewer.ts';
import { builder } from '../../builder.ts';
import type { Context } from '../../context.ts';
import { isVisibleTo, visibilitySelect } from '../../services/events/visibility.ts';
import {
  friendsOf,
  isFriendOfViewer,
  RATING_LIMITS,
  seesSocialCircle,
  socialCircleSelect,
} from '../../services/social/index.ts';
import type { SocialCircleRow, FriendshipStatus as Status } from '../../services/social/index.ts';
import type { FriendRequest as FriendRequestRow } from '../../generated/prisma/client.ts';
import { Event } from '../events/types.ts';
import { User, UserConnection } from '../users/types.ts';

export const FriendshipStatus = builder.enumType('FriendshipStatus', {
  description: "The viewer's relation to a user.",
  values: {
    SELF: { description: 'The viewer themself.' },
    NONE: { description: 'Not friends, no pending request (always, for anonymous viewers).' },
    FRIENDS: { description: 'Friends.' },
    REQUEST_SENT: { description: 'The viewer asked this user; waiting for an answer.' },
    REQUEST_RECEIVED: { description: 'This user asked the viewer; acceptFriendRequest answers.' },
  } as const,
});

/** Loads one side of a request with what the query selects beneath it (Prisma batches these). */
const requestSide =
  (side: 'fromId' | 'toId') => (request: FriendRequestRow, _args: object, ctx: Context, info: GraphQLResolveInfo) =>
    ctx.prisma.user.findUniqueOrThrow({ ...queryFromInfo({ context: ctx, info }), where: { id: request[side] } });

// A plain object type rather than a Prisma one: sendFriendRequest may answer with a request it
// just accepted, whose row no longer exists to load relations from.
export const FriendRequest = builder.objectRef<FriendRequestRow>('FriendRequest').implement({
  description: 'A pending friend request.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The request’s UUID.' }),
    from: t.field({ type: User, description: 'Who asked.', resolve: requestSide('fromId') }),
    to: t.field({ type: User, description: 'Who was asked.', resolve: requestSide('toId') }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was sent.' }),
  }),
});

export const Rating = builder.prismaObject('Rating', {
  description: 'A score one user gave another after meeting at an event.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The rating’s UUID.' }),
    from: t.relation('rater', { description: 'Who rated.' }),
    to: t.relation('rated', { description: 'Who was rated.' }),
    event: t.field({
      type: Event,
      nullable: true,
      description: 'The event they met at; null when the viewer may not see it (or it was deleted).',
      select: (_args, ctx, nestedSelection) => ({
        event: nestedSelection({ select: visibilitySelect(viewerIdOf(ctx)) }),
      }),
      // The event carries what the query selected beneath it (plus the visibility fields).
      resolve: (rating, _args, ctx) =>
        rating.event && isVisibleTo(rating.event, ctx.viewer?.id) ? (rating.event as never) : null,
    }),
    score: t.exposeInt('score', { description: `${RATING_LIMITS.score.min} to ${RATING_LIMITS.score.max}.` }),
    reference: t.exposeString('reference', {
      description: `What they wrote, up to ${RATING_LIMITS.reference} characters; may be empty.`,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was given.' }),
  }),
});

export const RatingConnection = builder.connectionObject(
  { type: Rating, name: 'RatingConnection', description: 'A page of ratings.' },
  { name: 'RatingEdge', description: 'A rating in a page of ratings.' },
);

builder.prismaObjectFields('User', (t) => ({
  friendCount: t.int({
    description: 'How many friends the user has.',
    select: { _count: { select: { friendshipsAsA: true, friendshipsAsB: true } } },
    resolve: (user) => user._count.friendshipsAsA + user._count.friendshipsAsB,
  }),
  friends: t.prismaConnection(
    {
      type: 'User',
      cursor: 'id',
      description:
        "The user's friends, in id order. Only the user and their friends see it; for anyone else (anonymous viewers included) it is empty, and friendCount is what they get.",
      // prismaConnection passes `select` on to the field (it selects on the parent user, as on
      // any field of a Prisma object), but its option type does not say so: hence the casts.
      select: ((_args: unknown, ctx: Context) => socialCircleSelect(viewerIdOf(ctx))) as never,
      resolve: (query, user, _args, ctx) => {
        if (!seesSocialCircle(user as typeof user & SocialCircleRow, ctx.viewer?.id)) return [];
        return ctx.prisma.user.findMany({ ...query, where: friendsOf(user.id) });
      },
    },
    UserConnection,
  ),
  friendshipStatus: t.field({
    type: FriendshipStatus,
    description: "The viewer's relation to this user.",
    // Selected with the user, so a list of users costs no extra statement per user.
    select: (_args, ctx) => {
      const viewer = viewerIdOf(ctx);
      return {
        ...socialCircleSelect(viewer),
        friendRequestsReceived: { where: { fromId: viewer }, select: { id: true } },
        friendRequestsSent: { where: { toId: viewer }, select: { id: true } },
      };
    },
    resolve: (user, _args, ctx): Status => {
      if (!ctx.viewer) return 'NONE';
      if (user.id === ctx.viewer.id) return 'SELF';
      if (isFriendOfViewer(user)) return 'FRIENDS';
      if (user.friendRequestsReceived.length) return 'REQUEST_SENT';
      if (user.friendRequestsSent.length) return 'REQUEST_RECEIVED';
      return 'NONE';
    },
  }),
  isBlockedByViewer: t.boolean({
    description: 'Whether the viewer has blocked this user (false for anonymous viewers).',
    select: (_args, ctx) => ({ blockedBy: { where: { blockerId: viewerIdOf(ctx) }, select: { blockerId: true } } }),
    resolve: (user) => user.blockedBy.length > 0,
  }),
  ratingsReceived: t.relatedConnection(
    'ratingsReceived',
    {
      description: 'Ratings the user received, newest first.',
      cursor: 'id',
      query: { orderBy: { id: 'desc' } },
    },
    RatingConnection,
  ),
}));

export const RateUserInput = builder.inputType('RateUserInput', {
  description: 'A rating of someone met at an event.',
  fields: (t) => ({
    userId: t.id({ required: true, description: 'Who is rated.' }),
    eventId: t.id({ description: 'The event both attended or hosted; required.' }),
    score: t.int({ required: true, description: `${RATING_LIMITS.score.min} to ${RATING_LIMITS.score.max}.` }),
    reference: t.string({ description: `A few words, up to ${RATING_LIMITS.reference} characters.` }),
  }),
});
