// SQL fragments for statements that build answers from rows themselves (db.query).
import { Prisma } from '../generated/prisma/client.ts';

/**
 * An instant as the DateTime scalar sends it (ISO 8601 in UTC with milliseconds), formatted by
 * PostgreSQL: the driver then has no timestamp to parse and the client no Date to make.
 */
export const instantSql = (column: string) =>
  Prisma.raw(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);
