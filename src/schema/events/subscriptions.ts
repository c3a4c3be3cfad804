import { builder } from '../../builder.ts';
import { changeCursor } from '../../changes/index.ts';
import { AFTER_DESCRIPTION } from '../resume.ts';
import { SharedPromises } from '../../lib/shared-promises.ts';
import type { DeliveredChange } from '../../services/events/subscriptions.ts';
import { mapChanges, myChanges } from '../../services/events/subscriptions.ts';
import { findVisibleEvent } from '../../services/events/index.ts';
import { withFreshCaches } from '../viewer.ts';
import { BoundsInput, EventChangeKind, EventFilter } from './types.ts';

// Groups (src/transport/fanout.ts) execute once per event each, but one change reaches many groups: one
// per viewport and viewer. Groups whose selection of the event is the same (per-viewer
// conditions included, so anonymous groups on different viewports match) share one read of it.
// Keys carry the event's version, so an entry never outlives the change it was read for.
const sharedReads = new SharedPromises<unknown>(2_000);

const EventChange = builder.objectRef<DeliveredChange>('EventChange').implement({
  description: 'A change to an event, as one subscriber may see it.',
  fields: (t) => ({
    kind: t.field({ type: EventChangeKind, description: 'What happened.', resolve: (c) => c.message.kind }),
    eventId: t.id({ description: 'The event’s UUID.', resolve: (c) => c.message.eventId }),
    event: t.prismaField({
      type: 'Event',
      nullable: true,
      description: 'Null when deleted, or when the subscriber may no longer see it.',
      resolve: (query, change, _args, ctx) => {
        if (!change.showEvent) return null;
        const { eventId, version } = change.message;
        const key = `${eventId}:${version}:${ctx.viewer?.id ?? ''}:${JSON.stringify(query)}`;
        return sharedReads.get(key, async () => findVisibleEvent(ctx.deps, ctx.viewer?.id, eventId, query));
      },
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
    // viewports share one execution per viewer and selection (src/transport/fanout.ts).
    extensions: {
      fanoutKey: ({ changeId, showEvent }: DeliveredChange) => `${changeId}:${showEvent}`,
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
