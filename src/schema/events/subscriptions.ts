import { builder } from '../../builder.ts';
import { changeCursor } from '../../changes/index.ts';
import { AFTER_DESCRIPTION } from '../resume.ts';
import type { DeliveredChange } from '../../services/events/subscriptions.ts';
import { mapChanges, myChanges, readChangedEvent } from '../../services/events/subscriptions.ts';
import { withFreshCaches } from '../viewer.ts';
import { BoundsInput, EventChangeKind, EventFilter } from './types.ts';

const EventChange = builder.objectRef<DeliveredChange>('EventChange').implement({
  description: 'A change to an event, as one subscriber may see it.',
  fields: (t) => ({
    kind: t.field({ type: EventChangeKind, description: 'What happened.', resolve: (c) => c.message.kind }),
    eventId: t.id({ description: 'The event’s UUID.', resolve: (c) => c.message.eventId }),
    event: t.prismaField({
      type: 'Event',
      nullable: true,
      description: 'Null when deleted, or when the subscriber may no longer see it.',
      resolve: (query, change, _args, ctx) =>
        change.showEvent ? readChangedEvent(ctx.deps, ctx.viewer?.id ?? null, change, query) : null,
    }),
    version: t.int({ description: 'The event’s version after the change.', resolve: (c) => c.message.version }),
    occurredAt: t.field({ type: 'DateTime', description: 'When it happened.', resolve: (c) => c.message.occurredAt }),
    cursor: t.string({
      description: 'Where this change is in the change log: pass it as `after` to resume after it.',
      resolve: (c) => changeCursor(c.changeId),
    }),
  }),
});

builder.subscriptionFields((t) => ({
  eventChanged: t.field({
    type: EventChange,
    description:
      'Live map: changes to events the viewer may see whose location, before or after the change, lies in bounds.',
    args: {
      bounds: t.arg({ type: BoundsInput, required: true, description: 'The viewport.' }),
      filter: t.arg({ type: EventFilter, description: 'Conditions; by default published events only.' }),
      after: t.arg.string({ description: AFTER_DESCRIPTION }),
    },
    subscribe: (_root, args, ctx) => mapChanges(ctx.deps, ctx.viewer?.id ?? null, args.bounds, args.filter, args.after),
    resolve: (change, _args, ctx) => withFreshCaches(change, ctx),
    // The arguments only decide whether a change is delivered (and with or without the event);
    // what is delivered depends on nothing else of the change, so map screens on different
    // viewports share one execution per viewer and selection (src/transport/fanout.ts). A
    // replayed change is read for its subscriber as the event is now, not shared with those who
    // heard it live.
    extensions: {
      fanoutKey: ({ changeId, showEvent, page }: DeliveredChange) => (page ? null : `${changeId}:${showEvent}`),
    },
  }),
  myEventsChanged: t.withAuth({ signedIn: true }).field({
    type: EventChange,
    description: 'Changes to events the viewer hosts, attends or is invited to.',
    args: { after: t.arg.string({ description: AFTER_DESCRIPTION }) },
    subscribe: (_root, args, ctx) => myChanges(ctx.deps, ctx.viewer.id, args.after),
    resolve: (change, _args, ctx) => withFreshCaches(change, ctx),
  }),
}));
