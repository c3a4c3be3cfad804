// Map clusters: the events the viewer may see in a viewport, grouped on a web-mercator grid of
// CELL_PX-pixel cells at the map's zoom, counted in the database. The grid is the one of map
// tiles (2^zoom tiles of 256 px per axis), so the cells of zoom z + 1 split those of zoom z
// exactly: zooming into a cluster's box shows clusters whose counts add up to its count.
// Cells never cross the antimeridian, and a viewport crossing it (west > east) is two ranges.
import type { AppDeps } from '../../context.ts';
import { badInput } from '../../lib/errors.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import { boxSql, checkBounds, filterSql } from './search.ts';
import type { EventFilterInput } from './search.ts';
import type { Bounds } from './realtime.ts';

export const CLUSTER_LIMITS = {
  zoom: { min: 0, max: 22 },
  /** Cells a viewport may span at its zoom: a 2048 × 2048 px screen. */
  maxCells: 1024,
} as const;
/** Grid cells are 64 px squares of a 256 px tile: 4 × 4 per tile, a few dozen on a phone. */
const CELLS_PER_TILE_AXIS = 4;
/** Web mercator's latitude limit: beyond it y leaves the square. */
const MAX_MERCATOR_LATITUDE = 85.05112878;

export interface Cluster {
  latitude: number;
  longitude: number;
  count: number;
  bounds: Bounds;
  /** The event's id when the cluster holds one event. */
  eventId: string | null;
}

/** Mercator y in [0, 1] (0 at the north edge). */
function mercatorY(lat: number): number {
  const clamped = Math.max(-MAX_MERCATOR_LATITUDE, Math.min(MAX_MERCATOR_LATITUDE, lat));
  const rad = (clamped * Math.PI) / 180;
  return (1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2;
}

/** How many grid cells of this zoom the viewport spans (columns × rows). */
function cellsSpanned(b: Bounds, perAxis: number): number {
  const width = b.west <= b.east ? b.east - b.west : 360 - (b.west - b.east);
  const columns = Math.min(perAxis, Math.floor((width / 360) * perAxis) + 2);
  const rows = Math.min(perAxis, Math.floor((mercatorY(b.south) - mercatorY(b.north)) * perAxis) + 2);
  return columns * rows;
}

/** The grid arithmetic as SQL over `e`: column and row of the event's cell. */
function cellSql(perAxis: number) {
  const lat = Prisma.sql`radians(LEAST(GREATEST(e.latitude, ${-MAX_MERCATOR_LATITUDE}::float8), ${MAX_MERCATOR_LATITUDE}::float8))`;
  return {
    x: Prisma.sql`LEAST(floor((e.longitude + 180) / 360 * ${perAxis}::float8), ${perAxis - 1}::float8)`,
    y: Prisma.sql`LEAST(GREATEST(floor((1 - ln(tan(${lat}) + 1 / cos(${lat})) / pi()) / 2 * ${perAxis}::float8), 0), ${perAxis - 1}::float8)`,
  };
}

/** The SQL behind eventClusters, exported for EXPLAIN in benches and tests. */
export function clustersSql(
  viewerId: string | null,
  bounds: Bounds,
  zoom: number,
  filter: EventFilterInput | null | undefined,
) {
  const perAxis = 2 ** zoom * CELLS_PER_TILE_AXIS;
  const cell = cellSql(perAxis);
  return Prisma.sql`SELECT count(*)::int AS count, avg(e.latitude) AS latitude, avg(e.longitude) AS longitude,
      min(e.latitude) AS south, max(e.latitude) AS north, min(e.longitude) AS west, max(e.longitude) AS east,
      CASE WHEN count(*) = 1 THEN (array_agg(e.id))[1] END AS "eventId"
    FROM events e
    WHERE ${boxSql(bounds)} AND ${filterSql(viewerId, filter)}
    GROUP BY ${cell.x}, ${cell.y}
    ORDER BY count(*) DESC, min(e.latitude), min(e.longitude)`;
}

/**
 * The visible events in a viewport, grouped into cells of the zoom's grid: per cell the count,
 * the mean position and the box of its events. BAD_USER_INPUT for a zoom outside 0–22 or a
 * viewport spanning more than CLUSTER_LIMITS.maxCells cells (ask at a lower zoom).
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
  if (cellsSpanned(bounds, 2 ** zoom * CELLS_PER_TILE_AXIS) > CLUSTER_LIMITS.maxCells)
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
