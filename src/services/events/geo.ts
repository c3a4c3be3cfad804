// Great-circle distance in SQL, for auto-matching and eventsNear; and the grid cell that stands
// for a user's home wherever a rule reads it.
import { Prisma } from '../../generated/prisma/client.ts';

export const EARTH_RADIUS_KM = 6371;

/** Haversine distance in km between two points given as SQL expressions (degrees). */
export const haversineKm = (lat1: Prisma.Sql, lng1: Prisma.Sql, lat2: Prisma.Sql, lng2: Prisma.Sql) =>
  Prisma.sql`(2 * ${EARTH_RADIUS_KM}::float8 * asin(sqrt(
    power(sin(radians(${lat2} - ${lat1}) / 2), 2)
    + cos(radians(${lat1})) * cos(radians(${lat2})) * power(sin(radians(${lng2} - ${lng1}) / 2), 2))))`;

/**
 * The side of a home cell in degrees of latitude (≈ 2.2 km). Auto-matching measures from the
 * centre of the cell a home lies in, never from the home itself, so whatever a host infers from
 * who is matched where, every point of the cell answers alike: the home is somewhere in a
 * 2.2 × 2.2 km square, and any guess is more than 1 km from some of it.
 */
export const HOME_CELL_DEGREES = 0.02;

/** A home cell's side on the ground, in km (for descriptions). */
export const HOME_CELL_KM = Math.round(((HOME_CELL_DEGREES * Math.PI) / 180) * EARTH_RADIUS_KM * 10) / 10;

/** Columns are this many cells wide at least, near the poles (where cos(latitude) → 0). */
const MIN_COS = 0.01;

export interface HomeCell {
  south: number;
  north: number;
  west: number;
  east: number;
  /** The centre: where matching puts the home. */
  latitude: number;
  longitude: number;
}

/**
 * The cell of a home: rows of HOME_CELL_DEGREES latitude, each cut into columns as wide on the
 * ground as the row is high (HOME_CELL_DEGREES / cos(the row's central latitude) of longitude).
 * `homeCellCentreSql` computes the same centre in SQL.
 */
export function homeCell(latitude: number, longitude: number): HomeCell {
  const row = Math.floor(latitude / HOME_CELL_DEGREES);
  const centreLatitude = (row + 0.5) * HOME_CELL_DEGREES;
  const width = HOME_CELL_DEGREES / Math.max(Math.cos((centreLatitude * Math.PI) / 180), MIN_COS);
  const column = Math.floor(longitude / width);
  return {
    south: row * HOME_CELL_DEGREES,
    north: (row + 1) * HOME_CELL_DEGREES,
    west: column * width,
    east: (column + 1) * width,
    latitude: centreLatitude,
    longitude: (column + 0.5) * width,
  };
}

/** `homeCell(latitude, longitude)`'s centre as SQL expressions over two columns (null stays null). */
export function homeCellCentreSql(latitude: Prisma.Sql, longitude: Prisma.Sql) {
  const size = Prisma.sql`${HOME_CELL_DEGREES}::float8`;
  const centreLatitude = Prisma.sql`((floor(${latitude} / ${size}) + 0.5) * ${size})`;
  const width = Prisma.sql`(${size} / greatest(cos(radians(${centreLatitude})), ${MIN_COS}::float8))`;
  return { latitude: centreLatitude, longitude: Prisma.sql`((floor(${longitude} / ${width}) + 0.5) * ${width})` };
}
