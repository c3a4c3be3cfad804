// The map queries' planned pages (../planned.ts): eventsInBounds, eventsNear and searchEvents
// selecting the event's own fields, its counts, the viewer's part in it, and its host's public
// profile. The page's ids come from the search service as for the resolvers; the events then
// come in one statement naming exactly the selected columns (host and avatar joined in), and
// are written straight into the response. A selection with anything else (attendees, comments,
// the host's reputation, …) is executed by graphql-js as usual.
import { OperationTypeNode } from 'graphql';
import type { GraphQLObjectType } from 'graphql';
import { changeCursor } from '../../changes/index.ts';
import type { Context } from '../../context.ts';
import * as search from '../../services/events/search.ts';
import type { Bounds } from '../../services/events/realtime.ts';
import type { EventFilterInput, Page } from '../../services/events/search.ts';
import { readChangedEventColumns } from '../../services/events/subscriptions.ts';
import type { DeliveredChange } from '../../services/events/subscriptions.ts';
import { isEventColumn, isHostColumn, isWireText, loadEventColumns } from '../../services/events/columns.ts';
import type { EventColumn, EventColumnRow, EventColumns, HostColumn } from '../../services/events/columns.ts';
import { checkDeadline } from '../deadline.ts';
import { leafSerializer, leavesFrom, namedObject, PlanFallback, writers } from '../planned.ts';
import type { RootPlanner, Selected } from '../planned.ts';

const viewerOf = (ctx: Context) => ctx.viewer?.id ?? null;

/** The arguments the map queries share (Pothos' connection arguments and the query's own). */
interface MapArgs {
  bounds?: Bounds | null;
  filter?: EventFilterInput | null;
  first?: number | null;
  after?: string | null;
}

/**
 * Each map query's page of ids, from its arguments: its resolver (./queries.ts) and its planner
 * read the same. With `columns`, a page that can reads its events' columns in the same statement.
 */
export const mapPages = {
  eventsInBounds: (ctx: Context, args: MapArgs & { bounds: Bounds }, columns?: EventColumns) =>
    search.eventsInBounds(ctx.deps, viewerOf(ctx), args.bounds, args.filter, args.first, args.after, columns),
  eventsNear: (
    ctx: Context,
    args: MapArgs & { latitude: number; longitude: number; radiusKm: number },
    columns?: EventColumns,
  ) =>
    search.eventsNear(
      ctx.deps,
      viewerOf(ctx),
      { latitude: args.latitude, longitude: args.longitude },
      args.radiusKm,
      args.filter,
      args.first,
      args.after,
      columns,
    ),
  // Several statements, one per tier it reads: its planner loads the columns after them.
  searchEvents: (ctx: Context, args: MapArgs & { query: string }) =>
    search.searchEvents(ctx.deps, viewerOf(ctx), args.query, args.bounds, args.filter, args.first, args.after),
} satisfies Record<string, (ctx: Context, args: never, columns?: EventColumns) => Promise<Page>>;

/**
 * What compiling a selection gathers and needs: the columns it reads, and how a storage key
 * becomes a public URL.
 */
interface Columns {
  event: Set<EventColumn>;
  host: Set<HostColumn>;
  avatarUrl(ctx: Context, key: string): string;
}

/** Public URLs of avatar keys, per operation: a map page shows a few hosts many times. */
const avatarUrls = new WeakMap<Context, Map<string, string>>();
function pageAvatarUrl(ctx: Context, key: string): string {
  let urls = avatarUrls.get(ctx);
  if (!urls) avatarUrls.set(ctx, (urls = new Map<string, string>()));
  let url = urls.get(key);
  if (url === undefined) urls.set(key, (url = ctx.deps.storage.publicUrl(key)));
  return url;
}

function hostWriter(selection: readonly Selected[], type: GraphQLObjectType, columns: Columns) {
  return writers<EventColumnRow, Context>(selection, type, (field) => {
    if (field.fields.length) return null;
    if (field.name === 'avatarUrl') {
      columns.host.add('avatarKey');
      const send = leafSerializer(type.getFields()[field.name]!.type);
      return (row, ctx) => {
        const key = row['host.avatarKey'] as string | null;
        return send(key === null ? null : columns.avatarUrl(ctx, key));
      };
    }
    if (!isHostColumn(field.name)) return null;
    columns.host.add(field.name);
    const column = `host.${field.name}`;
    const send = leafSerializer(type.getFields()[field.name]!.type, isWireText('host', field.name));
    return (row) => send(row[column]);
  });
}

function eventWriter(selection: readonly Selected[], type: GraphQLObjectType, columns: Columns) {
  return writers<EventColumnRow, Context>(selection, type, (field) => {
    if (field.name === 'host') return hostWriter(field.fields, objectOf(type, 'host'), columns);
    if (field.fields.length || !isEventColumn(field.name)) return null;
    columns.event.add(field.name);
    const send = leafSerializer(type.getFields()[field.name]!.type, isWireText('event', field.name));
    const column = `event.${field.name}`;
    return (row) => send(row[column]);
  });
}

/** What a connection's writers read: the edges found, and the page they came from. */
interface Loaded {
  /** Each edge's item (whose cursor is encoded only when read) and its event's columns. */
  edges: Array<{ item: Page['items'][number]; row: EventColumnRow }>;
  page: Page;
}

function connectionWriter(selection: readonly Selected[], type: GraphQLObjectType, columns: Columns) {
  return writers<Loaded, Context>(selection, type, (field) => {
    if (field.name === 'edges') {
      const edgeObject = objectOf(type, 'edges');
      const write = writers<Loaded['edges'][number], Context>(field.fields, edgeObject, (edgeField) => {
        if (edgeField.name === 'cursor') return (edge) => edge.item.cursor;
        if (edgeField.name !== 'node') return null;
        const node = eventWriter(edgeField.fields, objectOf(edgeObject, 'node'), columns);
        return node && ((edge, ctx) => node(edge.row, ctx));
      });
      return write && ((loaded, ctx) => loaded.edges.map((edge) => write(edge, ctx)));
    }
    if (field.name !== 'pageInfo') return null;
    return writers<Loaded, Context>(field.fields, objectOf(type, 'pageInfo'), (info) => {
      switch (info.name) {
        case 'hasNextPage':
          return (loaded) => loaded.page.hasNextPage;
        case 'hasPreviousPage':
          return (loaded) => loaded.page.hasPreviousPage;
        case 'startCursor':
          return (loaded) => loaded.edges[0]?.item.cursor ?? null;
        case 'endCursor':
          return (loaded) => loaded.edges.at(-1)?.item.cursor ?? null;
        default:
          return null;
      }
    });
  });
}

/** The object type a field of `type` returns (the planners only compile fields that return objects). */
const objectOf = (type: GraphQLObjectType, field: string) => namedObject(type.getFields()[field]!.type)!;

/** A planner for one map query: its page with the selected columns, in one statement where the page allows. */
function pagePlanner<A>(
  field: string,
  pageOf: (ctx: Context, args: A, columns: EventColumns) => Promise<Page>,
): RootPlanner<Context> {
  return {
    field,
    compile(selection, type) {
      const gathered: Columns = { event: new Set(), host: new Set(), avatarUrl: pageAvatarUrl };
      const write = connectionWriter(selection, type, gathered);
      if (!write) return null;
      const columns = { event: [...gathered.event], host: [...gathered.host] };
      return async (args, ctx) => {
        const page = await pageOf(ctx, args as A, columns);
        // As in executed pages, whose edges and pageInfo resolvers check it: no more work, nor
        // an answer, past the deadline.
        checkDeadline(ctx);
        const missing = page.items.filter((item) => !item.row).map((item) => item.id);
        const loaded = await loadEventColumns(ctx.deps, viewerOf(ctx), missing, columns);
        if (missing.length) checkDeadline(ctx);
        // An event deleted between the page and its columns is left out, as the resolvers do.
        const edges = page.items.flatMap((item) => {
          const row = item.row ?? loaded.get(item.id);
          return row ? [{ item, row }] : [];
        });
        try {
          return write({ edges, page }, ctx);
        } catch (error) {
          // A value a writer cannot send (a stored key the storage refuses, a null where the
          // schema has none): normal execution answers with its own partial data and paths.
          throw new PlanFallback(error);
        }
      };
    },
  };
}

/** What an EventChange's writer reads: the change, and its event's columns when shown. */
interface ChangeSource {
  change: DeliveredChange;
  row: EventColumnRow | null;
}

/** The EventChange's fields that come from the change itself, as its resolvers (./subscriptions.ts) read them. */
const CHANGE_FIELDS: Record<string, (source: ChangeSource) => unknown> = {
  kind: ({ change }) => change.message.kind,
  eventId: ({ change }) => change.message.eventId,
  version: ({ change }) => change.message.version,
  occurredAt: ({ change }) => change.message.occurredAt,
  cursor: ({ change }) => changeCursor(change.changeId),
};

/**
 * The live map's executions (one per change, viewer and selection; src/transport/fanout.ts):
 * the change's own fields, and its event with the selected columns in one statement, as the
 * viewer may see it now. A subscription's context lives as long as it does, so avatar URLs are
 * not cached in it.
 */
const eventChangedPlanner: RootPlanner<Context> = {
  operation: OperationTypeNode.SUBSCRIPTION,
  field: 'eventChanged',
  compile(selection, type) {
    const gathered: Columns = {
      event: new Set(),
      host: new Set(),
      avatarUrl: (ctx, key) => ctx.deps.storage.publicUrl(key),
    };
    let showsEvent = false;
    const changeField = leavesFrom<ChangeSource, Context>(type, CHANGE_FIELDS);
    const write = writers<ChangeSource, Context>(selection, type, (field) => {
      if (field.name !== 'event') return changeField(field);
      showsEvent = true;
      const event = eventWriter(field.fields, objectOf(type, 'event'), gathered);
      return event && ((source, ctx) => (source.row ? event(source.row, ctx) : null));
    });
    if (!write) return null;
    const columns = { event: [...gathered.event], host: [...gathered.host] };
    return async (_args, ctx, source) => {
      const change = source as DeliveredChange;
      try {
        const row =
          showsEvent && change.showEvent
            ? await readChangedEventColumns(ctx.deps, viewerOf(ctx), change, columns)
            : null;
        return write({ change, row }, ctx);
      } catch (error) {
        // A failed read too: normal execution fails only the nullable `event`, and the client
        // still gets the change's cursor.
        throw new PlanFallback(error);
      }
    };
  },
};

/** The map's planners, for ../planned.ts: its pages, and its live changes. */
export const mapPlanners: readonly RootPlanner<Context>[] = [
  pagePlanner('eventsInBounds', mapPages.eventsInBounds),
  pagePlanner('eventsNear', mapPages.eventsNear),
  pagePlanner('searchEvents', mapPages.searchEvents),
  eventChangedPlanner,
];
