// Map clusters: the events the viewer may see in a viewport, grouped on a web-mercator grid of
// 64 px cells at the map's zoom (4 × 4 cells per 256 px tile), counted in the database. Cells
// nest across zooms, and a viewport is answered with the whole cells it touches, so zooming
// into a cluster's box shows clusters whose counts add up to its count. Cells never cross the
// antimeridian; a viewport crossing it (west > east) is two ranges of columns.
//
// Two plans, one answer. Up to zoom TILE_MAX_ZOOM, with no filter beyond types and statuses,
// the events open to all come from event_tiles, counts per cell kept by triggers (a continent
// at zoom 4 holds hundreds of thousands of events: counting them per request would take
// hundreds of ms), and the viewer's own others (private events they may see, their drafts) are
// added from their memberships. Otherwise the events are grouped by cell over the
// bounding-box index.
import type { AppDeps } from '../../context.ts';
import { badInput } from '../../lib/errors.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import { checkBounds, filterSql, SUSPENDED_HOST_IDS_SQL } from './search.ts';
import type { EventFilterInput } from './search.ts';
import type { Bounds } from './realtime.ts';

export const CLUSTER_LIMITS = {
  zoom: { min: 0, max: 22 },
  /** Cells a viewport may span at its zoom: a 2048 × 2048 px screen. */
  maxCells: 1024,
} as const;
/** The deepest zoom event_tiles counts (its triggers' generate_series(0, 10)). */
export const TILE_MAX_ZOOM = 10;
/** Web mercator's latitude limit: beyond it y leaves the square (event_tile_y clamps to it). */
const MAX_MERCATOR_LATITUDE = 85.05112878;

export interface Cluster {
  latitude: number;
  longitude: number;
  count: number;
  bounds: Bounds;
  /** The event's id when the cluster holds one event. */
  eventId: string | null;
}

/** The cells a viewport touches: column ranges (two across the antimeridian), a row range, and the box they cover. */
interface CellRange {
  perAxis: number;
  columns: Array<[number, number]>;
  rows: [number, number];
  /** The cells' box, for the bounding-box index. */
  box: { south: number; north: number; lngRanges: Array<[number, number]> };
}

const mercatorY = (lat: number) => {
  const rad = (Math.max(-MAX_MERCATOR_LATITUDE, Math.min(MAX_MERCATOR_LATITUDE, lat)) * Math.PI) / 180;
  return (1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2;
};
const latitudeOfY = (y: number) => (Math.atan(Math.sinh(Math.PI * (1 - 2 * y))) * 180) / Math.PI;

function cellRange(b: Bounds, zoom: number): CellRange {
  const perAxis = 4 * 2 ** zoom;
  const column = (lng: number) => Math.min(perAxis - 1, Math.floor(((lng + 180) / 360) * perAxis));
  const row = (lat: number) => Math.min(perAxis - 1, Math.max(0, Math.floor(mercatorY(lat) * perAxis)));
  const [west, east] = [column(b.west), column(b.east)];
  const columns: Array<[number, number]> =
    b.west <= b.east
      ? [[west, east]]
      : [
          [west, perAxis - 1],
          [0, east],
        ];
  const rows: [number, number] = [row(b.north), row(b.south)];
  // A hair wider than the cells (float rounding at their edges); the cell test is exact.
  const edge = (x: number) => (x / perAxis) * 360 - 180;
  const lngRanges = columns.map(([a, z]): [number, number] => [
    Math.max(-180, edge(a) - 1e-9),
    Math.min(180, edge(z + 1) + 1e-9),
  ]);
  const north = rows[0] === 0 ? 90 : latitudeOfY(rows[0] / perAxis) + 1e-9;
  const south = rows[1] === perAxis - 1 ? -90 : latitudeOfY((rows[1] + 1) / perAxis) - 1e-9;
  return { perAxis, columns, rows, box: { south, north, lngRanges } };
}

const cellCount = (r: CellRange) => r.columns.reduce((n, [a, z]) => n + z - a + 1, 0) * (r.rows[1] - r.rows[0] + 1);

/** The events of the range's cells, by the bounding-box index and the exact cell test. */
function inCellsSql(r: CellRange, zoom: number): Prisma.Sql {
  const lng = r.box.lngRanges.map(([w, e]) => Prisma.sql`e.longitude BETWEEN ${w} AND ${e}`);
  const columns = r.columns.map(
    ([a, z]) => Prisma.sql`event_tile_x(e.longitude, ${zoom}::int) BETWEEN ${a}::int AND ${z}::int`,
  );
  return Prisma.sql`e.latitude BETWEEN ${r.box.south} AND ${r.box.north} AND (${Prisma.join(lng, ' OR ')})
    AND (${Prisma.join(columns, ' OR ')})
    AND event_tile_y(e.latitude, ${zoom}::int) BETWEEN ${r.rows[0]}::int AND ${r.rows[1]}::int`;
}

/** Only types and statuses: what event_tiles is keyed by. */
const tileable = (f: EventFilterInput | null | undefined) =>
  !f ||
  (!f.startsAfter &&
    !f.startsBefore &&
    !f.interestTags?.length &&
    (f.hostId === null || f.hostId === undefined) &&
    !f.friendsOnly);

const statusesOf = (f: EventFilterInput | null | undefined) =>
  f?.statuses?.length ? [...new Set(f.statuses)] : ['PUBLISHED'];

const CLUSTER_COLUMNS = Prisma.sql`sum(c.n)::int AS count, sum(c.sum_lat) / sum(c.n) AS latitude,
      sum(c.sum_lng) / sum(c.n) AS longitude, min(c.south) AS south, max(c.north) AS north,
      min(c.west) AS west, max(c.east) AS east, CASE WHEN sum(c.n) = 1 THEN (array_agg(c.id) FILTER (WHERE c.id IS NOT NULL))[1] END AS "eventId",
      c.x, c.y`;

/** Counts from event_tiles for the events open to all, plus the viewer's own others, by cell. */
function tilesSql(viewerId: string | null, r: CellRange, zoom: number, filter: EventFilterInput | null | undefined) {
  const statuses = statusesOf(filter).filter((s) => s !== 'DRAFT');
  const types = filter?.types?.length ? [...new Set(filter.types)] : null;
  const columns = r.columns.map(([a, z]) => Prisma.sql`t.x BETWEEN ${a}::int AND ${z}::int`);
  const tiles = statuses.length
    ? Prisma.sql`SELECT t.x, t.y, sum(t.n) AS n, sum(t.sum_lat) AS sum_lat, sum(t.sum_lng) AS sum_lng,
          min(t.south) AS south, max(t.north) AS north, min(t.west) AS west, max(t.east) AS east, NULL::uuid AS id
        FROM event_tiles t
        WHERE t.zoom = ${zoom}::int AND (${Prisma.join(columns, ' OR ')}) AND t.y BETWEEN ${r.rows[0]}::int AND ${r.rows[1]}::int
          AND t.status = ANY(ARRAY[${Prisma.join(statuses)}]::"EventStatus"[])
          ${types ? Prisma.sql`AND t.type = ANY(ARRAY[${Prisma.join(types)}]::"EventType"[])` : Prisma.empty}
        GROUP BY t.x, t.y HAVING sum(t.n) > 0`
    : Prisma.sql`SELECT 0 AS x, 0 AS y, 0::bigint AS n, 0::float8 AS sum_lat, 0::float8 AS sum_lng, 0::float8 AS south,
        0::float8 AS north, 0::float8 AS west, 0::float8 AS east, NULL::uuid AS id WHERE FALSE`;
  // The viewer's visible events that event_tiles does not hold: found through their memberships.
  const own = viewerId
    ? Prisma.sql`SELECT event_tile_x(e.longitude, ${zoom}::int) AS x, event_tile_y(e.latitude, ${zoom}::int) AS y,
          1::bigint AS n, e.latitude AS sum_lat, e.longitude AS sum_lng, e.latitude AS south, e.latitude AS north,
          e.longitude AS west, e.longitude AS east, e.id
        FROM events e
        WHERE e.id IN (SELECT a.event_id FROM event_attendees a WHERE a.user_id = ${viewerId}::uuid
                       UNION SELECT i.event_id FROM event_invitations i WHERE i.user_id = ${viewerId}::uuid AND i.declined_at IS NULL
                       UNION SELECT h.id FROM events h WHERE h.host_id = ${viewerId}::uuid)
          AND NOT (e.is_public AND e.status <> 'DRAFT') AND ${inCellsSql(r, zoom)} AND ${filterSql(viewerId, filter)}`
    : Prisma.empty;
  // Suspended hosts' open events are counted in event_tiles but off the map: taken out again,
  // found through the suspended hosts (a handful) and the host index.
  const suspended = statuses.length
    ? Prisma.sql`UNION ALL SELECT event_tile_x(e.longitude, ${zoom}::int), event_tile_y(e.latitude, ${zoom}::int),
          -1::bigint, -e.latitude, -e.longitude, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::uuid
        FROM events e
        WHERE e.host_id = ANY(${SUSPENDED_HOST_IDS_SQL})
          AND e.is_public AND e.status = ANY(ARRAY[${Prisma.join(statuses)}]::"EventStatus"[])
          ${types ? Prisma.sql`AND e.type = ANY(ARRAY[${Prisma.join(types)}]::"EventType"[])` : Prisma.empty}
          AND ${inCellsSql(r, zoom)}`
    : Prisma.empty;
  return Prisma.sql`WITH c AS (${tiles} ${suspended} ${viewerId ? Prisma.sql`UNION ALL ${own}` : Prisma.empty})
    SELECT ${CLUSTER_COLUMNS} FROM c GROUP BY c.x, c.y HAVING sum(c.n) > 0`;
}

/** Every visible event of the range's cells, grouped by cell over the bounding-box index. */
function scanSql(viewerId: string | null, r: CellRange, zoom: number, filter: EventFilterInput | null | undefined) {
  return Prisma.sql`WITH c AS (
      SELECT event_tile_x(e.longitude, ${zoom}::int) AS x, event_tile_y(e.latitude, ${zoom}::int) AS y, 1 AS n,
        e.latitude AS sum_lat, e.longitude AS sum_lng, e.latitude AS south, e.latitude AS north,
        e.longitude AS west, e.longitude AS east, e.id
      FROM events e WHERE ${inCellsSql(r, zoom)} AND ${filterSql(viewerId, filter)})
    SELECT ${CLUSTER_COLUMNS} FROM c GROUP BY c.x, c.y`;
}

/** The SQL behind eventClusters (either plan), exported for EXPLAIN in benches and tests. */
export function clustersSql(
  viewerId: string | null,
  bounds: Bounds,
  zoom: number,
  filter: EventFilterInput | null | undefined,
) {
  const range = cellRange(bounds, zoom);
  const grouped =
    zoom <= TILE_MAX_ZOOM && tileable(filter)
      ? tilesSql(viewerId, range, zoom, filter)
      : scanSql(viewerId, range, zoom, filter);
  // A lone event counted from event_tiles is found in its cell's box (the one open event there).
  return Prisma.sql`SELECT g.count, g.latitude, g.longitude, g.south, g.north, g.west, g.east,
      COALESCE(g."eventId", CASE WHEN g.count = 1 THEN (
        SELECT e.id FROM events e
        WHERE e.latitude BETWEEN g.south AND g.north AND e.longitude BETWEEN g.west AND g.east
          AND event_tile_x(e.longitude, ${zoom}::int) = g.x AND event_tile_y(e.latitude, ${zoom}::int) = g.y
          AND e.is_public AND ${filterSql(null, filter)} LIMIT 1) END) AS "eventId"
    FROM (${grouped}) g
    ORDER BY g.count DESC, g.south, g.west`;
}

/**
 * The visible events of the cells a viewport touches at this zoom, grouped by cell: per cell
 * the count, the mean position and the box of its events. BAD_USER_INPUT for a zoom outside
 * 0–22 or a viewport touching more than CLUSTER_LIMITS.maxCells cells (ask at a lower zoom).
 */
export async function eventClusters(
  deps: Pick<AppDeps, 'prisma'>,
  viewerId: string | null,
  bounds: Bounds,
  zoom: number,
  filter: EventFilterInput | null | undefined,
): Promise<Cluster[]> {
  const { min, max } = CLUSTER_LIMITS.zoom;
  if (!Number.isInteger(zoom) || zoom < min || zoom > max)
    throw badInput('zoom', `zoom must be a whole number from ${min} to ${max}`);
  checkBounds(bounds);
  if (cellCount(cellRange(bounds, zoom)) > CLUSTER_LIMITS.maxCells)
    throw badInput('bounds', 'bounds are too large for this zoom: a screen’s worth at most; use a lower zoom');
  const rows = await deps.prisma.$queryRaw<
    Array<{
      count: number;
      latitude: number;
      longitude: number;
      south: number;
      north: number;
      west: number;
      east: number;
      eventId: string | null;
    }>
  >(clustersSql(viewerId, bounds, zoom, filter));
  return rows.map((r) => ({
    latitude: r.latitude,
    longitude: r.longitude,
    count: r.count,
    bounds: { south: r.south, north: r.north, west: r.west, east: r.east },
    eventId: r.eventId,
  }));
}
