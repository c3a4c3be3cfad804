// Map queries: events in a viewport and events near a point, with filters and keyset
// pagination. One SQL statement finds the page's ids (index-backed on latitude, longitude);
// the caller loads the nodes with one more, whatever the page size.
import type { AppDeps } from '../../context.ts';
import { badInput, unauthenticated } from '../../lib/errors.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import type { EventStatus, EventType } from '../../generated/prisma/client.ts';
import { longitudeRanges } from './realtime.ts';
import type { Bounds } from './realtime.ts';
import { EARTH_RADIUS_KM, haversineKm } from './geo.ts';
import { visibleEventSql } from './visibility.ts';
import { decodeCursor, encodeCursor } from '../../lib/cursors.ts';
import { withEventColumns } from './columns.ts';
import { instantSql } from '../../db/sql.ts';
import type { EventColumnRow, EventColumns } from './columns.ts';
import type { CursorShape, CursorValue } from '../../lib/cursors.ts';
import { isUuid, latitude, longitude, normalizeTags } from '../../lib/validation.ts';

export const MAP_PAGE = { default: 100, max: 500 } as const;
/** searchEvents' query: websearch syntax ("quoted phrases", or, -word), bounded before PostgreSQL parses it. */
export const EVENT_SEARCH = { maxLength: 200, maxWords: 16 } as const;
export const MAX_RADIUS_KM = 500;
// Degrees per km on the same sphere the distance uses, widened a hair so the pre-filter box
// never cuts off an event the exact distance would keep.
const KM_PER_DEGREE = (EARTH_RADIUS_KM * Math.PI) / 180 / 1.001;

export interface EventFilterInput {
  types?: readonly EventType[] | null;
  startsAfter?: Date | null;
  startsBefore?: Date | null;
  interestTags?: readonly string[] | null;
  statuses?: readonly EventStatus[] | null;
  hostId?: string | number | null;
  friendsOnly?: boolean | null;
}

export interface Page {
  /**
   * Event ids in order, with their cursors; with the event's columns (`row`) when the page was
   * asked for columns and read them in the same statement.
   */
  items: Array<{ id: string; cursor: string; row?: EventColumnRow }>;
  hasNextPage: boolean;
  hasPreviousPage: boolean;
}

export function checkBounds(b: Bounds): Bounds {
  latitude('bounds.south', b.south);
  latitude('bounds.north', b.north);
  longitude('bounds.west', b.west);
  longitude('bounds.east', b.east);
  if (b.south > b.north) throw badInput('bounds', 'bounds.south must not be north of bounds.north');
  return b;
}

function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return MAP_PAGE.default;
  if (!Number.isInteger(first) || first < 0 || first > MAP_PAGE.max)
    throw badInput('first', `first must be between 0 and ${MAP_PAGE.max}`);
  return first;
}

// Keyset cursors, tagged with their list: a start time or a distance, then the event's id.
const BOUNDS_CURSOR = { list: 'bounds', parts: ['instant', 'uuid'] } as const satisfies CursorShape;
const NEAR_CURSOR = { list: 'near', parts: ['float', 'uuid'] } as const satisfies CursorShape;
// searchEvents' position: tier, segment, start time and id, and the pivot instant (fixed by the first page).
const SEARCH_CURSOR = {
  list: 'search',
  parts: ['int', 'int', 'instant', 'uuid', 'instant'],
} as const satisfies CursorShape;

/** The ids of the users suspended now (a handful, through users_suspended_idx), as an array. */
export const SUSPENDED_HOST_IDS_SQL = Prisma.sql`ARRAY(
  SELECT u.id FROM users u WHERE u.suspended_until IS NOT NULL AND u.suspended_until > now())`;

/** Events whose host is not suspended now, for `events e`. */
export const SUSPENDED_HOSTS_SQL = Prisma.sql`e.host_id <> ALL(${SUSPENDED_HOST_IDS_SQL})`;

/** A page item whose cursor is encoded when it is read: most map pages send one cursor at most (endCursor). */
class PageItem {
  #cursor: string | undefined;
  constructor(
    readonly id: string,
    private readonly list: string,
    private readonly values: CursorValue[],
    readonly row?: EventColumnRow,
  ) {}

  get cursor(): string {
    return (this.#cursor ??= encodeCursor(this.list, this.values));
  }
}

/** The filter as SQL over `events e`; visibility always applies. Statuses default to PUBLISHED. */
export function filterSql(viewerId: string | null, filter: EventFilterInput | null | undefined): Prisma.Sql {
  const parts: Prisma.Sql[] = [visibleEventSql(viewerId)];
  // Suspended hosts' events are off the map while it lasts (a handful of ids, read once).
  parts.push(SUSPENDED_HOSTS_SQL);
  const statuses = filter?.statuses?.length ? [...new Set(filter.statuses)] : ['PUBLISHED'];
  // Compared as the enum, not as text: the planner then uses the column's statistics (a text
  // cast made it guess 2 rows where thousands match).
  parts.push(Prisma.sql`e.status = ANY(ARRAY[${Prisma.join(statuses)}]::"EventStatus"[])`);
  if (filter?.types?.length) parts.push(Prisma.sql`e.type::text IN (${Prisma.join([...new Set(filter.types)])})`);
  if (filter?.startsAfter) parts.push(Prisma.sql`e.starts_at >= ${filter.startsAfter}`);
  if (filter?.startsBefore) parts.push(Prisma.sql`e.starts_at < ${filter.startsBefore}`);
  if (filter?.interestTags?.length) {
    parts.push(Prisma.sql`e.interest_tags && ${normalizeTags('filter.interestTags', filter.interestTags)}::text[]`);
  }
  if (filter?.hostId !== null && filter?.hostId !== undefined) {
    const hostId = String(filter.hostId);
    if (!isUuid(hostId)) return Prisma.sql`FALSE`;
    parts.push(Prisma.sql`e.host_id = ${hostId}::uuid`);
  }
  if (filter?.friendsOnly) {
    if (!viewerId) throw unauthenticated('Sign in to see friends’ events');
    parts.push(Prisma.sql`EXISTS (SELECT 1 FROM friendships f
      WHERE (f.user_a_id = e.host_id AND f.user_b_id = ${viewerId}::uuid) OR (f.user_b_id = e.host_id AND f.user_a_id = ${viewerId}::uuid))`);
  }
  return Prisma.join(parts, ' AND ');
}

export function boxSql(b: Bounds): Prisma.Sql {
  const ranges = longitudeRanges(b).map(([w, e]) => Prisma.sql`e.longitude BETWEEN ${w} AND ${e}`);
  return Prisma.sql`e.latitude BETWEEN ${b.south} AND ${b.north} AND (${Prisma.join(ranges, ' OR ')})`;
}

/** The SQL behind eventsInBounds, exported for EXPLAIN in tests. */
export function inBoundsSql(
  viewerId: string | null,
  bounds: Bounds,
  filter: EventFilterInput | null | undefined,
  limit: number,
  after?: string | null,
) {
  const keyset = after
    ? (() => {
        const [startsAt, id] = decodeCursor('after', after, BOUNDS_CURSOR);
        return Prisma.sql`AND (e.starts_at, e.id) > (${startsAt}, ${id}::uuid)`;
      })()
    : Prisma.empty;
  return Prisma.sql`SELECT e.id, e.starts_at AS "startsAt" FROM events e
    WHERE ${boxSql(bounds)} AND ${filterSql(viewerId, filter)} ${keyset}
    ORDER BY e.starts_at, e.id LIMIT ${limit}`;
}

/**
 * What a planned page's statement keeps of the page's own columns (its id and the cursor's
 * values), and the page's order again, both over `page` (withEventColumns).
 */
interface PageShape {
  keys: Prisma.Sql;
  orderBy: Prisma.Sql;
}

const BOUNDS_PAGE: PageShape = {
  // The start time as the cursor holds it (ISO text), formatted for the page's rows only (in
  // the page itself, PostgreSQL would format every row the viewport holds before the top-N sort).
  keys: Prisma.sql`page.id, ${instantSql('page."startsAt"')} AS "startsAt"`,
  orderBy: Prisma.sql`page."startsAt", page.id`,
};
const NEAR_PAGE: PageShape = { keys: Prisma.sql`page.id, page.distance`, orderBy: Prisma.sql`page.distance, page.id` };

/** A page's statement, with its events' columns added when asked. */
const pageStatement = (page: Prisma.Sql, shape: PageShape, viewerId: string | null, columns?: EventColumns) =>
  columns ? withEventColumns(page, shape.keys, shape.orderBy, viewerId, columns) : page;

/** Runs a page's statement; with the events' columns, the rows are the answer itself: read without the ORM (db.query). */
async function pageRows<R extends { id: string }>(
  deps: Pick<AppDeps, 'prisma' | 'db'>,
  viewerId: string | null,
  page: Prisma.Sql,
  shape: PageShape,
  columns: EventColumns | undefined,
): Promise<Array<R & EventColumnRow>> {
  return columns
    ? deps.db.query<R & EventColumnRow>(pageStatement(page, shape, viewerId, columns))
    : deps.prisma.$queryRaw<Array<R & EventColumnRow>>(page);
}

/**
 * The statement eventsInBounds sends: its page (inBoundsSql), with the events' columns added
 * when asked (the planned map page); exported for EXPLAIN and timing in benches and tests.
 */
export function inBoundsStatement(
  viewerId: string | null,
  bounds: Bounds,
  filter: EventFilterInput | null | undefined,
  limit: number,
  after?: string | null,
  columns?: EventColumns,
): Prisma.Sql {
  return pageStatement(inBoundsSql(viewerId, bounds, filter, limit, after), BOUNDS_PAGE, viewerId, columns);
}

/**
 * Visible events in a viewport (crossing the antimeridian when west > east), by start time;
 * with `columns`, each item's event columns are read in the same statement.
 */
export async function eventsInBounds(
  deps: Pick<AppDeps, 'prisma' | 'db'>,
  viewerId: string | null,
  bounds: Bounds,
  filter: EventFilterInput | null | undefined,
  first?: number | null,
  after?: string | null,
  columns?: EventColumns,
): Promise<Page> {
  checkBounds(bounds);
  const size = pageSize(first);
  const rows = await pageRows<{ id: string; startsAt: Date | string }>(
    deps,
    viewerId,
    inBoundsSql(viewerId, bounds, filter, size + 1, after),
    BOUNDS_PAGE,
    columns,
  );
  return toPage(
    rows.map((r) => new PageItem(r.id, BOUNDS_CURSOR.list, [r.startsAt, r.id], columns && r)),
    size,
    Boolean(after),
  );
}

/** Visible events within radiusKm of a point, nearest first (great-circle distance); `columns` as for eventsInBounds. */
export async function eventsNear(
  deps: Pick<AppDeps, 'prisma' | 'db'>,
  viewerId: string | null,
  point: { latitude: number; longitude: number },
  radiusKm: number,
  filter: EventFilterInput | null | undefined,
  first?: number | null,
  after?: string | null,
  columns?: EventColumns,
): Promise<Page> {
  latitude('latitude', point.latitude);
  longitude('longitude', point.longitude);
  if (!Number.isFinite(radiusKm) || radiusKm <= 0 || radiusKm > MAX_RADIUS_KM) {
    throw badInput('radiusKm', `radiusKm must be more than 0 and at most ${MAX_RADIUS_KM}`);
  }
  const size = pageSize(first);
  // A bounding box around the circle lets the latitude/longitude index do the first cut.
  const dLat = radiusKm / KM_PER_DEGREE;
  const south = Math.max(-90, point.latitude - dLat);
  const north = Math.min(90, point.latitude + dLat);
  const cosLat = Math.cos((Math.max(Math.abs(south), Math.abs(north)) * Math.PI) / 180);
  const dLng = cosLat > 1e-6 ? radiusKm / (KM_PER_DEGREE * cosLat) : 360;
  const bounds: Bounds =
    dLng >= 180 || north >= 90 || south <= -90
      ? { south, north, west: -180, east: 180 }
      : { south, north, west: wrap(point.longitude - dLng), east: wrap(point.longitude + dLng) };
  const distance = haversineKm(
    Prisma.sql`${point.latitude}::float8`,
    Prisma.sql`${point.longitude}::float8`,
    Prisma.sql`e.latitude`,
    Prisma.sql`e.longitude`,
  );
  const keyset = after
    ? (() => {
        const [d, id] = decodeCursor('after', after, NEAR_CURSOR);
        return Prisma.sql`AND (s.distance, s.id) > (${d}::float8, ${id}::uuid)`;
      })()
    : Prisma.empty;
  const page = Prisma.sql`
    SELECT s.id, s.distance FROM (
      SELECT e.id, ${distance} AS distance FROM events e
      WHERE ${boxSql(bounds)} AND ${filterSql(viewerId, filter)}
    ) s
    WHERE s.distance <= ${radiusKm}::float8 ${keyset}
    ORDER BY s.distance, s.id LIMIT ${size + 1}`;
  const rows = await pageRows<{ id: string; distance: number }>(deps, viewerId, page, NEAR_PAGE, columns);
  return toPage(
    rows.map((r) => new PageItem(r.id, NEAR_CURSOR.list, [r.distance, r.id], columns && r)),
    size,
    Boolean(after),
  );
}

/** The query text as searchEvents takes it: trimmed, 1 to maxLength characters, at most maxWords words. */
function searchQuery(raw: string): string {
  const query = raw.trim();
  if (!query) throw badInput('query', 'query must hold at least one word');
  if (query.length > EVENT_SEARCH.maxLength)
    throw badInput('query', `query must be at most ${EVENT_SEARCH.maxLength} characters`);
  if (query.split(/\s+/).length > EVENT_SEARCH.maxWords)
    throw badInput('query', `query may hold at most ${EVENT_SEARCH.maxWords} words`);
  return query;
}

/**
 * Where a searchEvents page starts. Best match first means: the tier (0: the title holds the
 * query; 1: title, tags and location name together do; 2: only with the description), then,
 * within a tier, upcoming events soonest first (segment 0: starting at or after the pivot)
 * and then earlier ones latest first (segment 1). Each tier is a document with its own GIN
 * index and each segment an index order on starts_at, so a common word's first page reads a
 * few hundred rows, not every match (ranking every match by ts_rank cannot stop early).
 */
export interface SearchPosition {
  tier: number;
  segment: number;
  /** The instant dividing upcoming from earlier: the first page's "now", kept by the cursors. */
  pivot: Date;
  /** The last event read in this segment, when continuing in it. */
  after: { startsAt: Date; id: string } | null;
  /** Tiers 1 and 2: the query's lexemes joined by or (tsquery text). */
  anyWord?: string;
}

const TIERS = 3;
const SEGMENTS = 2;

/** One segment of one tier, in its order: the SQL behind searchEvents, exported for EXPLAIN in benches and tests. */
export function searchSql(
  viewerId: string | null,
  query: string,
  bounds: Bounds | null | undefined,
  filter: EventFilterInput | null | undefined,
  limit: number,
  position: SearchPosition = { tier: 0, segment: 0, pivot: new Date(), after: null },
) {
  const q = Prisma.sql`websearch_to_tsquery('english', ${query})`;
  // A title holding the words is an event holding them, unless a word is excluded (-word): that
  // one must be absent from the whole event. Only then is the whole document asked too (the
  // planner multiplies the two conditions' selectivities as if independent, and would then
  // think a common word rare).
  const excludes = /(?:^|\s)-/.test(query);
  const whole = excludes ? Prisma.sql`AND e.search_vector @@ ${q}` : Prisma.empty;
  // An event of tier 1 has a word of the query in its tags or place (else its title would hold
  // the query), and one of tier 2 in its description (else title, tags and place would):
  // anyWord, the query's words joined by or, lets the planner see how common they are there.
  const anyWord = Prisma.sql`${position.anyWord ?? ''}::tsquery`;
  const tier = [
    Prisma.sql`e.search_title @@ ${q} ${whole}`,
    Prisma.sql`e.search_place @@ ${anyWord} AND e.search_near @@ ${q} ${whole} AND NOT (e.search_title @@ ${q})`,
    Prisma.sql`e.search_description @@ ${anyWord} AND e.search_vector @@ ${q} AND NOT (e.search_near @@ ${q})`,
  ][position.tier]!;
  const upcoming = position.segment === 0;
  const segment = upcoming ? Prisma.sql`e.starts_at >= ${position.pivot}` : Prisma.sql`e.starts_at < ${position.pivot}`;
  const keyset = position.after
    ? upcoming
      ? Prisma.sql`AND (e.starts_at, e.id) > (${position.after.startsAt}, ${position.after.id}::uuid)`
      : Prisma.sql`AND (e.starts_at, e.id) < (${position.after.startsAt}, ${position.after.id}::uuid)`
    : Prisma.empty;
  const order = upcoming ? Prisma.sql`e.starts_at, e.id` : Prisma.sql`e.starts_at DESC, e.id DESC`;
  return Prisma.sql`SELECT e.id, e.starts_at AS "startsAt" FROM events e
    WHERE ${tier} AND ${segment} ${bounds ? Prisma.sql`AND ${boxSql(bounds)}` : Prisma.empty}
      AND ${filterSql(viewerId, filter)} ${keyset}
    ORDER BY ${order} LIMIT ${limit}`;
}

function searchPosition(after: string | null | undefined): SearchPosition {
  if (!after) return { tier: 0, segment: 0, pivot: new Date(), after: null };
  const [tier, segment, startsAt, id, pivot] = decodeCursor('after', after, SEARCH_CURSOR) as [
    number,
    number,
    Date,
    string,
    Date,
  ];
  if (tier >= TIERS || segment >= SEGMENTS) throw badInput('after', 'after is not a cursor from this list');
  return { tier, segment, pivot, after: { startsAt, id } };
}

/**
 * Visible events whose title, tags, location name or description hold the query's words
 * (English stemming), best match first (see SearchPosition), optionally inside a viewport.
 * One statement per tier and segment it reads, stopping once the page is full.
 */
export async function searchEvents(
  deps: Pick<AppDeps, 'prisma'>,
  viewerId: string | null,
  rawQuery: string,
  bounds: Bounds | null | undefined,
  filter: EventFilterInput | null | undefined,
  first?: number | null,
  after?: string | null,
): Promise<Page> {
  const query = searchQuery(rawQuery);
  if (bounds) checkBounds(bounds);
  const size = pageSize(first);
  const start = searchPosition(after);
  const items: Page['items'] = [];
  let anyWord: string | undefined;
  for (let tier = start.tier; tier < TIERS && items.length <= size; tier++) {
    if (tier > 0 && anyWord === undefined) {
      const [words] = await deps.prisma.$queryRaw<Array<{ text: string | null }>>`
        SELECT string_agg(chr(39) || replace(replace(w, chr(92), chr(92) || chr(92)), chr(39), chr(39) || chr(39)) || chr(39), ' | ') AS text
        FROM unnest(tsvector_to_array(to_tsvector('english', ${query}))) w`;
      if (!words?.text) break;
      anyWord = words.text;
    }
    for (let segment = tier === start.tier ? start.segment : 0; segment < SEGMENTS && items.length <= size; segment++) {
      const continuing = tier === start.tier && segment === start.segment;
      const position = { tier, segment, pivot: start.pivot, after: continuing ? start.after : null, anyWord };
      const rows = await deps.prisma.$queryRaw<Array<{ id: string; startsAt: Date }>>(
        searchSql(viewerId, query, bounds, filter, size + 1 - items.length, position),
      );
      for (const r of rows)
        items.push(new PageItem(r.id, SEARCH_CURSOR.list, [tier, segment, r.startsAt, r.id, start.pivot]));
    }
  }
  if (items.length === 0) {
    // Only words PostgreSQL ignores ("the", "of", punctuation) match nothing, always: say so.
    const [parsed] = await deps.prisma.$queryRaw<Array<{ nodes: number }>>`
      SELECT numnode(websearch_to_tsquery('english', ${query})) AS nodes`;
    if (!parsed?.nodes) throw badInput('query', 'query holds no searchable words (only stop words or punctuation)');
  }
  return toPage(items, size, Boolean(after));
}

const wrap = (lng: number) => ((((lng + 180) % 360) + 360) % 360) - 180;

function toPage(items: Page['items'], size: number, hasPrevious: boolean): Page {
  return { items: items.slice(0, size), hasNextPage: items.length > size, hasPreviousPage: hasPrevious };
}
