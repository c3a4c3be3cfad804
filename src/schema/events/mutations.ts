import { builder } from '../../builder.ts';
import * as events from '../../services/events/index.ts';
import * as waitlist from '../../services/events/waitlist.ts';
import { EVENT_LIMITS } from '../../services/events/index.ts';
import { CreateEventInput, UpdateEventInput } from './types.ts';

builder.mutationFields((t) => {
  const id = () => t.arg.id({ required: true, description: 'The event’s UUID.' });
  const signedIn = { signedIn: true } as const;
  return {
    createEvent: t.withAuth(signedIn).prismaField({
      type: 'Event',
      description: 'Creates an event hosted by the viewer. Public events need a certified host.',
      args: { input: t.arg({ type: CreateEventInput, required: true, description: 'The event.' }) },
      resolve: (query, _root, { input }, ctx) => events.createEvent(ctx.deps, ctx.viewer.id, input, query),
    }),
    updateEvent: t.withAuth(signedIn).prismaField({
      type: 'Event',
      description: 'Host only. Changes an event and increments its version.',
      args: { id: id(), input: t.arg({ type: UpdateEventInput, required: true, description: 'The changes.' }) },
      resolve: (query, _root, args, ctx) =>
        events.updateEvent(ctx.deps, ctx.viewer.id, String(args.id), args.input, query),
    }),
    cancelEvent: t.withAuth(signedIn).prismaField({
      type: 'Event',
      description: 'Host only. Cancels an event; cancelling again changes nothing.',
      args: { id: id() },
      resolve: (query, _root, args, ctx) => events.cancelEvent(ctx.deps, ctx.viewer.id, String(args.id), query),
    }),
    deleteEvent: t.withAuth(signedIn).id({
      description:
        'Host only. Deletes an event with its attendance, invitations, comments, likes and shares; returns its id.',
      args: { id: id() },
      resolve: (_root, args, ctx) => events.deleteEvent(ctx.deps, ctx.viewer.id, String(args.id)),
    }),
    joinEvent: t.withAuth(signedIn).prismaField({
      type: 'Event',
      description:
        'Joins a public event, or a private one the viewer is invited to. Joining twice is harmless; a full event is CONFLICT (joinWaitlist queues for a spot).',
      args: { id: id() },
      resolve: (query, _root, args, ctx) => events.joinEvent(ctx.deps, ctx.viewer.id, String(args.id), query),
    }),
    leaveEvent: t.withAuth(signedIn).prismaField({
      type: 'Event',
      description: 'Leaves an event, giving the spot to the first in its waitlist; leaving one not joined is harmless.',
      args: { id: id() },
      resolve: (query, _root, args, ctx) => events.leaveEvent(ctx.deps, ctx.viewer.id, String(args.id), query),
    }),
    joinWaitlist: t.withAuth(signedIn).prismaField({
      type: 'Event',
      description:
        'Joins the waitlist of a full event; the first in line is moved to the attendees (WAITLIST_PROMOTED) as soon as a spot frees. Joining again keeps the place. CONFLICT when the event has a free spot (joinEvent instead), is cancelled, a draft or over, or the viewer attends it.',
      args: { eventId: t.arg.id({ required: true, description: 'The event’s UUID.' }) },
      resolve: (query, _root, args, ctx) => waitlist.joinWaitlist(ctx.deps, ctx.viewer.id, String(args.eventId), query),
    }),
    leaveWaitlist: t.withAuth(signedIn).prismaField({
      type: 'Event',
      description: 'Leaves the waitlist of an event; leaving one the viewer is not on is harmless.',
      args: { eventId: t.arg.id({ required: true, description: 'The event’s UUID.' }) },
      resolve: (query, _root, args, ctx) =>
        waitlist.leaveWaitlist(ctx.deps, ctx.viewer.id, String(args.eventId), query),
    }),
    inviteToEvent: t.withAuth(signedIn).prismaField({
      type: 'Event',
      description: `Host only. Invites users (at most ${EVENT_LIMITS.recipients} per call); re-inviting someone who declined asks them again.`,
      args: {
        eventId: t.arg.id({ required: true, description: 'The event’s UUID.' }),
        userIds: t.arg.idList({ required: true, description: 'Users to invite.' }),
      },
      resolve: (query, _root, args, ctx) =>
        events.inviteToEvent(ctx.deps, ctx.viewer.id, String(args.eventId), args.userIds, query),
    }),
    declineInvitation: t.withAuth(signedIn).boolean({
      description:
        "Declines the viewer's invitation; a private event then disappears for them. An invitee who had joined leaves, giving the spot to the first in the waitlist.",
      args: { eventId: t.arg.id({ required: true, description: 'The event’s UUID.' }) },
      resolve: (_root, args, ctx) => events.declineInvitation(ctx.deps, ctx.viewer.id, String(args.eventId)),
    }),
    addEventComment: t.withAuth(signedIn).prismaField({
      type: 'EventComment',
      description: 'Comments on an event the viewer may see.',
      args: {
        eventId: t.arg.id({ required: true, description: 'The event’s UUID.' }),
        body: t.arg.string({ required: true, description: `1–${EVENT_LIMITS.comment} characters.` }),
      },
      resolve: (query, _root, args, ctx) =>
        events.addComment(ctx.deps, ctx.viewer.id, String(args.eventId), args.body, query),
    }),
    deleteEventComment: t.withAuth(signedIn).id({
      description: "Deletes a comment: the author's own, or any on the host's event. Returns its id.",
      args: { id: t.arg.id({ required: true, description: 'The comment’s UUID.' }) },
      resolve: (_root, args, ctx) => events.deleteComment(ctx.deps, ctx.viewer.id, String(args.id)),
    }),
    likeEvent: t.withAuth(signedIn).prismaField({
      type: 'Event',
      description: 'Likes an event; liking twice is harmless.',
      args: { id: id() },
      resolve: (query, _root, args, ctx) => events.setLike(ctx.deps, ctx.viewer.id, String(args.id), true, query),
    }),
    unlikeEvent: t.withAuth(signedIn).prismaField({
      type: 'Event',
      description: 'Takes a like back; harmless when not liked.',
      args: { id: id() },
      resolve: (query, _root, args, ctx) => events.setLike(ctx.deps, ctx.viewer.id, String(args.id), false, query),
    }),
    shareEvent: t.withAuth(signedIn).prismaField({
      type: 'Event',
      description: `Shares a public event with users (at most ${EVENT_LIMITS.recipients}), recording a share and a notification for each.`,
      args: { id: id(), withUserIds: t.arg.idList({ required: true, description: 'Recipients.' }) },
      resolve: (query, _root, args, ctx) =>
        events.shareEvent(ctx.deps, ctx.viewer.id, String(args.id), args.withUserIds, query),
    }),
  };
});
