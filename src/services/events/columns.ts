// Events' columns by name, with their host's, for reads that select exactly what a client asked
// for: the planned map pages (src/schema/events/plans.ts) load a page's events with one
// statement naming only the requested columns, the host and its avatar joined in.
import type { AppDeps } from '../../context.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import { visibleEventSql } from './visibility.ts';
import { instantSql } from '../../db/sql.ts';

/**
 * SQL over `events e`, its host `users h`, and the viewer's id (null when anonymous); `wireText`
 * when the value comes as the API sends it (instants as ISO text).
 */
type ColumnSql = ((viewerId: string | null) => Prisma.Sql) & { wireText?: boolean };

const plain =
  (sql: string): ColumnSql =>
  () =>
    Prisma.raw(sql);
/** A yes/no about the viewer and the event; false for anonymous viewers. */
const viewerHas =
  (from: string, condition = ''): ColumnSql =>
  (viewerId) =>
    viewerId === null
      ? Prisma.raw('FALSE')
      : Prisma.sql`EXISTS (SELECT 1 FROM ${Prisma.raw(from)} x WHERE x.event_id = e.id AND x.user_id = ${viewerId}::uuid ${Prisma.raw(condition)})`;
const instant = (column: string): ColumnSql => Object.assign(() => instantSql(column), { wireText: true });
const countOf = (table: string): ColumnSql => plain(`(SELECT count(*)::int FROM ${table} x WHERE x.event_id = e.id)`);

/** An event's columns: the row's own, and what is counted or asked about the viewer. */
const EVENT = {
  id: plain('e.id'),
  title: plain('e.title'),
  description: plain('e.description'),
  latitude: plain('e.latitude'),
  longitude: plain('e.longitude'),
  locationName: plain('e.location_name'),
  startsAt: instant('e.starts_at'),
  endsAt: instant('e.ends_at'),
  isPublic: plain('e.is_public'),
  type: plain('e.type::text'),
  status: plain('e.status::text'),
  maxParticipants: plain('e.max_participants'),
  attendeeCount: plain('e.attendee_count'),
  spotsLeft: plain('GREATEST(0, e.max_participants - e.attendee_count)'),
  // Nullable in the table (no NOT NULL); Prisma reads a NULL list as [], and so does this.
  interestTags: plain("COALESCE(e.interest_tags, '{}')"),
  autoMatchingEnabled: plain('e.auto_matching_enabled'),
  version: plain('e.version'),
  createdAt: instant('e.created_at'),
  updatedAt: instant('e.updated_at'),
  viewerIsHost: (viewerId) => (viewerId === null ? Prisma.raw('FALSE') : Prisma.sql`(e.host_id = ${viewerId}::uuid)`),
  viewerIsAttending: viewerHas('event_attendees'),
  viewerIsInvited: viewerHas('event_invitations', 'AND x.declined_at IS NULL'),
  viewerHasLiked: viewerHas('event_likes'),
  likeCount: countOf('event_likes'),
  shareCount: countOf('event_shares'),
  commentCount: countOf('event_comments'),
  waitlistCount: countOf('event_waitlist'),
} satisfies Record<string, ColumnSql>;

/** The host's public profile columns; `avatarKey` is the storage key of their primary image, or null. */
const HOST = {
  id: plain('h.id'),
  username: plain('h.username'),
  fullName: plain('h.full_name'),
  university: plain('h.university'),
  degree: plain('h.degree'),
  year: plain('h.year'),
  bio: plain('h.bio'),
  interests: plain("COALESCE(h.interests, '{}')"),
  isCertified: plain('h.is_certified'),
  isDeleted: plain('(h.deleted_at IS NOT NULL)'),
  role: plain('h.role::text'),
  createdAt: instant('h.created_at'),
  // At most one primary image per user (images_user_id_is_primary_key).
  avatarKey: plain('(SELECT i.key FROM images i WHERE i.user_id = h.id AND i.is_primary)'),
} satisfies Record<string, ColumnSql>;

const TABLES: Record<'event' | 'host', Record<string, ColumnSql>> = { event: EVENT, host: HOST };

export type EventColumn = keyof typeof EVENT;
export type HostColumn = keyof typeof HOST;
/** Every event column and host column there is (tests select them all). */
export const EVENT_COLUMNS = Object.keys(EVENT) as EventColumn[];
export const HOST_COLUMNS = Object.keys(HOST) as HostColumn[];
export const isEventColumn = (name: string): name is EventColumn => Object.hasOwn(EVENT, name);
export const isHostColumn = (name: string): name is HostColumn => Object.hasOwn(HOST, name);
/** True for columns read as the API sends them (instants in the DateTime scalar's ISO form). */
export const isWireText = (table: 'event' | 'host', column: EventColumn | HostColumn): boolean =>
  (TABLES[table][column] as ColumnSql | undefined)?.wireText === true;

/** What to read of each event: its columns, and its host's (none: no join). */
export interface EventColumns {
  event: readonly EventColumn[];
  host: readonly HostColumn[];
}

/** A row with event columns: each under `event.<name>`, the host's under `host.<name>`. */
export type EventColumnRow = Record<string, unknown>;

/** The select list of the columns (for `events e`) and the join to the host that they need. */
function selectColumns(viewerId: string | null, columns: EventColumns) {
  const selected = [
    ...columns.event.map((c) => Prisma.sql`${EVENT[c](viewerId)} AS ${Prisma.raw(`"event.${c}"`)}`),
    ...columns.host.map((c) => Prisma.sql`${HOST[c](viewerId)} AS ${Prisma.raw(`"host.${c}"`)}`),
  ];
  return {
    list: selected.length ? Prisma.sql`, ${Prisma.join(selected)}` : Prisma.empty,
    join: columns.host.length ? Prisma.sql`JOIN users h ON h.id = e.host_id` : Prisma.empty,
  };
}

/**
 * A page's statement (its rows' ids and order keys, in order) with the columns of each row's
 * event added, as one statement: the page is found first (by its own plan, an index-only scan
 * for the map), then only its rows' events and hosts are read. `keys` is what the result keeps
 * of the page's own columns (`page.id` and the cursor's values), `orderBy` the page's order
 * again, both over `page`.
 */
export function withEventColumns(
  page: Prisma.Sql,
  keys: Prisma.Sql,
  orderBy: Prisma.Sql,
  viewerId: string | null,
  columns: EventColumns,
): Prisma.Sql {
  const { list, join } = selectColumns(viewerId, columns);
  return Prisma.sql`WITH page AS (${page})
    SELECT ${keys} ${list} FROM page JOIN events e ON e.id = page.id ${join} ORDER BY ${orderBy}`;
}

/** An event's row with its columns, and its id (under `id`). */
export type IdentifiedRow = EventColumnRow & { id: string };

/**
 * The statement behind loadEventColumns, exported for EXPLAIN in tests; `visibleOnly` keeps
 * only the events the viewer may see.
 */
export function eventColumnsSql(
  viewerId: string | null,
  ids: readonly string[],
  columns: EventColumns,
  visibleOnly = false,
): Prisma.Sql {
  const { list, join } = selectColumns(viewerId, columns);
  const visible = visibleOnly ? Prisma.sql`AND ${visibleEventSql(viewerId)}` : Prisma.empty;
  return Prisma.sql`SELECT e.id ${list} FROM events e ${join} WHERE e.id = ANY(${ids as string[]}::uuid[]) ${visible}`;
}

/**
 * The events of `ids` with exactly the named columns, in one statement whatever their number.
 * An id with no event (deleted since its page was read) has no row. Who may see them is the
 * caller's affair (the ids come from a page that applied the rule), unless `visibleOnly`.
 */
export function readEventColumns(
  deps: Pick<AppDeps, 'db'>,
  viewerId: string | null,
  ids: readonly string[],
  columns: EventColumns,
  visibleOnly = false,
): Promise<IdentifiedRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return deps.db.query<IdentifiedRow>(eventColumnsSql(viewerId, ids, columns, visibleOnly));
}

/** readEventColumns' rows by id. */
export async function loadEventColumns(
  deps: Pick<AppDeps, 'db'>,
  viewerId: string | null,
  ids: readonly string[],
  columns: EventColumns,
): Promise<Map<string, EventColumnRow>> {
  const rows = await readEventColumns(deps, viewerId, ids, columns);
  return new Map(rows.map((row) => [row.id, row]));
}
