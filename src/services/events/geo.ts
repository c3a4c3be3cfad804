// Great-circle distance in SQL, for auto-matching and eventsNear.
import { Prisma } from '../../generated/prisma/client.ts';

export const EARTH_RADIUS_KM = 6371;

/** Haversine distance in km between two points given as SQL expressions (degrees). */
export const haversineKm = (lat1: Prisma.Sql, lng1: Prisma.Sql, lat2: Prisma.Sql, lng2: Prisma.Sql) =>
  Prisma.sql`(2 * ${EARTH_RADIUS_KM}::float8 * asin(sqrt(
    power(sin(radians(${lat2} - ${lat1}) / 2), 2)
    + cos(radians(${lat1})) * cos(radians(${lat2})) * power(sin(radians(${lng2} - ${lng1}) / 2), 2))))`;
