import { queryFromInfo } from '@pothos/plugin-prisma';
import type { GraphQLResolveInfo } from 'graphql';
import { builder, PAGE_SIZE } from '../../builder.ts';
import type { Context } from '../../context.ts';
import { badInput } from '../../lib/errors.ts';
import * as search from '../../services/events/search.ts';
import type { Page } from '../../services/events/search.ts';
import { visibleEventWhere } from '../../services/events/visibility.ts';
import { findVisibleEvent } from '../../services/events/index.ts';
import { checkPageArgs } from '../../lib/validation.ts';
import { BoundsInput, Event, EventConnection, EventFilter, EventRole } from './types.ts';

/** Loads a page's events in one statement, with everything the query selects beneath `node`. */
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

function forwardOnly(args: { last?: number | null; before?: string | null }) {
  if (args.last !== null && args.last !== undefined) throw badInput('last', 'Map queries page forwards: use first and after');
  if (args.before) throw badInput('before', 'Map queries page forwards: use first and after');
}

const mapPaging = `Up to ${search.MAP_PAGE.max} per page (default ${search.MAP_PAGE.default}).`;

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
      description: `Events the viewer may see inside a viewport, by start time. ${mapPaging}`,
      args: {
        bounds: t.arg({ type: BoundsInput, required: true, description: 'The viewport.' }),
        filter: t.arg({ type: EventFilter, description: 'Conditions; by default published events only.' }),
      },
      resolve: async (_root, args, ctx, info) => {
        forwardOnly(args);
        const page = await search.eventsInBounds(ctx.deps, ctx.viewer?.id ?? null, args.bounds, args.filter, args.first, args.after);
        return toConnection(ctx, info, page);
      },
    },
    EventConnection,
  ),
  eventsNear: t.connection(
    {
      type: Event,
      description: `Events the viewer may see within radiusKm of a point, nearest first (great-circle distance). ${mapPaging}`,
      args: {
        latitude: t.arg.float({ required: true, description: 'Centre latitude.' }),
        longitude: t.arg.float({ required: true, description: 'Centre longitude.' }),
        radiusKm: t.arg.float({ required: true, description: `Radius, more than 0 and at most ${search.MAX_RADIUS_KM} km.` }),
        filter: t.arg({ type: EventFilter, description: 'Conditions; by default published events only.' }),
      },
      resolve: async (_root, args, ctx, info) => {
        forwardOnly(args);
        const page = await search.eventsNear(
          ctx.deps,
          ctx.viewer?.id ?? null,
          { latitude: args.latitude, longitude: args.longitude },
          args.radiusKm,
          args.filter,
          args.first,
          args.after,
        );
        return toConnection(ctx, info, page);
      },
    },
    EventConnection,
  ),
  myEvents: t.prismaConnection(
    {
      type: 'Event',
      cursor: 'id',
      defaultSize: PAGE_SIZE.default,
      maxSize: PAGE_SIZE.max,
      authScopes: { signedIn: true },
      description: 'Events the viewer hosts, attends or is invited to, by start time.',
      args: { role: t.arg({ type: EventRole, required: true, description: 'Which of the viewer’s events.' }) },
      resolve: (query, _root, args, ctx) => {
        checkPageArgs(args, PAGE_SIZE.max);
        const viewerId = ctx.viewer!.id;
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
    EventConnection,
  ),
}));
