import { queryFromInfo } from '@pothos/plugin-prisma';
import type { GraphQLResolveInfo } from 'graphql';
import { builder, withAuthConnection } from '../../builder.ts';
import type { Context } from '../../context.ts';
import * as search from '../../services/events/search.ts';
import { CLUSTER_LIMITS, eventClusters } from '../../services/events/clusters.ts';
import type { Page } from '../../services/events/search.ts';
import { visibleEventWhere } from '../../services/events/visibility.ts';
import { findVisibleEvent } from '../../services/events/index.ts';
import { mapPages } from './plans.ts';
import { BoundsInput, Event, EventCluster, EventConnection, EventFilter, EventRole } from './types.ts';

/**
 * Loads a page's events in one statement, with everything the query selects beneath `node`
 * (when the selection is not planned: ./plans.ts).
 */
async function toConnection(ctx: Context, info: GraphQLResolveInfo, page: Page) {
  const query = queryFromInfo({ context: ctx, info, path: ['edges', 'node'] });
  const ids = page.items.map((item) => item.id);
  const rows = ids.length ? await ctx.prisma.event.findMany({ ...query, where: { id: { in: ids } } }) : [];
  const byId = new Map(rows.map((row) => [row.id, row]));
  const edges = page.items.flatMap((item) => {
    const node = byId.get(item.id);
    return node ? [{ cursor: item.cursor, node }] : [];
  });
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.hasPreviousPage,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

const mapPaging = `Up to ${search.MAP_PAGE.max} per page (default ${search.MAP_PAGE.default}).`;
// Map queries page forwards only, with keyset cursors of their own (checked by the search service).
const mapPage = { ...search.MAP_PAGE, ownCursors: true, forwardOnly: true } as const;

builder.queryFields((t) => ({
  event: t.prismaField({
    type: 'Event',
    nullable: true,
    description: 'One event; null when it does not exist or the viewer may not see it.',
    args: { id: t.arg.id({ required: true, description: 'The event’s UUID.' }) },
    resolve: (query, _root, args, ctx) => findVisibleEvent(ctx.deps, ctx.viewer?.id, String(args.id), query),
  }),
  eventsInBounds: t.connection(
    {
      type: Event,
      paging: mapPage,
      description: `Events the viewer may see inside a viewport, by start time. ${mapPaging}`,
      args: {
        bounds: t.arg({ type: BoundsInput, required: true, description: 'The viewport.' }),
        filter: t.arg({ type: EventFilter, description: 'Conditions; by default published events only.' }),
      },
      resolve: async (_root, args, ctx, info) => toConnection(ctx, info, await mapPages.eventsInBounds(ctx, args)),
    },
    EventConnection,
  ),
  eventsNear: t.connection(
    {
      type: Event,
      paging: mapPage,
      description: `Events the viewer may see within radiusKm of a point, nearest first (great-circle distance). ${mapPaging}`,
      args: {
        latitude: t.arg.float({ required: true, description: 'Centre latitude.' }),
        longitude: t.arg.float({ required: true, description: 'Centre longitude.' }),
        radiusKm: t.arg.float({
          required: true,
          description: `Radius, more than 0 and at most ${search.MAX_RADIUS_KM} km.`,
        }),
        filter: t.arg({ type: EventFilter, description: 'Conditions; by default published events only.' }),
      },
      resolve: async (_root, args, ctx, info) => toConnection(ctx, info, await mapPages.eventsNear(ctx, args)),
    },
    EventConnection,
  ),
  searchEvents: t.connection(
    {
      type: Event,
      paging: mapPage,
      description: `Events the viewer may see whose title, description, location name or tags match the words of query, best match first. ${mapPaging}`,
      args: {
        query: t.arg.string({
          required: true,
          description: `Words to find, English-stemmed (party matches parties); "a phrase" in quotes, or between alternatives, -word to exclude. At most ${search.EVENT_SEARCH.maxLength} characters and ${search.EVENT_SEARCH.maxWords} words.`,
        }),
        bounds: t.arg({ type: BoundsInput, description: 'Only events inside this viewport; anywhere when null.' }),
        filter: t.arg({ type: EventFilter, description: 'Conditions; by default published events only.' }),
      },
      resolve: async (_root, args, ctx, info) => toConnection(ctx, info, await mapPages.searchEvents(ctx, args)),
    },
    EventConnection,
  ),
  eventClusters: t.field({
    type: [EventCluster],
    description: `Events the viewer may see in bounds, grouped for a map at this zoom (${CLUSTER_LIMITS.zoom.min}-${CLUSTER_LIMITS.zoom.max}, web-mercator): a few dozen clusters per screen, never a list of every event. Cells are 64 px squares of the zoom's 256 px tiles; bounds may span ${CLUSTER_LIMITS.maxCells} of them at most (a 2048 px square). Largest clusters first.`,
    args: {
      bounds: t.arg({ type: BoundsInput, required: true, description: 'The viewport.' }),
      zoom: t.arg.int({
        required: true,
        description: `The map's zoom, ${CLUSTER_LIMITS.zoom.min}–${CLUSTER_LIMITS.zoom.max}.`,
      }),
      filter: t.arg({ type: EventFilter, description: 'Conditions; by default published events only.' }),
    },
    resolve: async (_root, args, ctx, info) => {
      const clusters = await eventClusters(ctx.deps, ctx.viewer?.id ?? null, args.bounds, args.zoom, args.filter);
      // The lone events of single-event clusters, in one statement with what the query selects of them.
      const ids = clusters.flatMap((c) => (c.eventId ? [c.eventId] : []));
      const query = queryFromInfo({ context: ctx, info, path: ['event'] });
      const rows = ids.length ? await ctx.prisma.event.findMany({ ...query, where: { id: { in: ids } } }) : [];
      const byId = new Map(rows.map((row) => [row.id, row]));
      return clusters.map((c) => ({ ...c, event: c.eventId ? (byId.get(c.eventId) ?? null) : null }));
    },
  }),
  myEvents: t.withAuth({ signedIn: true }).prismaConnection(
    {
      type: 'Event',
      cursor: 'id',
      description: 'Events the viewer hosts, attends or is invited to, by start time.',
      args: { role: t.arg({ type: EventRole, required: true, description: 'Which of the viewer’s events.' }) },
      resolve: (query, _root, args, ctx) => {
        const viewerId = ctx.viewer.id;
        const byRole = {
          HOSTING: { hostId: viewerId },
          ATTENDING: { attendees: { some: { userId: viewerId } } },
          INVITED: { invitations: { some: { userId: viewerId, declinedAt: null } } },
        } as const;
        return ctx.prisma.event.findMany({
          ...query,
          where: { AND: [byRole[args.role], visibleEventWhere(viewerId)] },
          orderBy: [{ startsAt: 'asc' }, { id: 'asc' }],
        });
      },
    },
    withAuthConnection(EventConnection),
  ),
}));
