import { builder } from '../../builder.ts';
import * as social from '../../services/social/index.ts';
import { FriendRequest, RateUserInput } from './types.ts';

builder.mutationFields((t) => {
  const signedIn = { signedIn: true } as const;
  const requestId = () => t.arg.id({ required: true, description: 'The request’s UUID.' });
  return {
    sendFriendRequest: t.withAuth(signedIn).field({
      type: FriendRequest,
      description:
        'Asks a user to be friends. If they already asked the viewer, this accepts their request instead (and returns it; friendshipStatus is then FRIENDS).',
      args: { userId: t.arg.id({ required: true, description: 'Who to ask.' }) },
      resolve: (_root, args, ctx) => social.sendFriendRequest(ctx.deps, ctx.viewer.id, String(args.userId)),
    }),
    acceptFriendRequest: t.withAuth(signedIn).prismaField({
      type: 'User',
      description: 'Accepts a request sent to the viewer; returns the new friend.',
      args: { requestId: requestId() },
      resolve: (query, _root, args, ctx) =>
        social.acceptFriendRequest(ctx.deps, ctx.viewer.id, String(args.requestId), query),
    }),
    declineFriendRequest: t.withAuth(signedIn).id({
      description: 'Declines a request sent to the viewer; returns its id.',
      args: { requestId: requestId() },
      resolve: (_root, args, ctx) => social.declineFriendRequest(ctx.deps, ctx.viewer.id, String(args.requestId)),
    }),
    cancelFriendRequest: t.withAuth(signedIn).id({
      description: 'Withdraws a request the viewer sent; returns its id.',
      args: { requestId: requestId() },
      resolve: (_root, args, ctx) => social.cancelFriendRequest(ctx.deps, ctx.viewer.id, String(args.requestId)),
    }),
    removeFriend: t.withAuth(signedIn).id({
      description: 'Ends a friendship; returns the former friend’s id.',
      args: { userId: t.arg.id({ required: true, description: 'The friend.' }) },
      resolve: (_root, args, ctx) => social.removeFriend(ctx.deps, ctx.viewer.id, String(args.userId)),
    }),
    blockUser: t.withAuth(signedIn).boolean({
      description:
        'Blocked users cannot message (in a direct chat), invite, befriend or rate the viewer, nor see their private data, and the viewer them; friendship and pending requests between them end. Group and event chats both are in stay as they are. Blocking again is harmless.',
      args: { userId: t.arg.id({ required: true, description: 'Who to block.' }) },
      resolve: (_root, args, ctx) => social.blockUser(ctx.deps, ctx.viewer.id, String(args.userId)),
    }),
    unblockUser: t.withAuth(signedIn).boolean({
      description:
        'Lifts the viewer’s block; they may connect again, but the friendship the block ended does not come back. Harmless when not blocked.',
      args: { userId: t.arg.id({ required: true, description: 'Who to unblock.' }) },
      resolve: (_root, args, ctx) => social.unblockUser(ctx.deps, ctx.viewer.id, String(args.userId)),
    }),
    rateUser: t.withAuth(signedIn).prismaField({
      type: 'Rating',
      description:
        'Rates someone the viewer attended or hosted a started event with; once per person and event. Updates their reputation and trust level.',
      args: { input: t.arg({ type: RateUserInput, required: true, description: 'The rating.' }) },
      resolve: (query, _root, { input }, ctx) =>
        social.rateUser(
          ctx.deps,
          ctx.viewer.id,
          {
            userId: String(input.userId),
            eventId: input.eventId ? String(input.eventId) : null,
            score: input.score,
            reference: input.reference,
          },
          query,
        ),
    }),
  };
});
