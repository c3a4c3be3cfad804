// Who may see an event. One rule, in the two forms the code needs: a Prisma filter for
// ORM reads and a SQL fragment for the map queries. tests/events/events-visibility.test.ts drives
// every path that exposes events through both; tests/events/visibility-transitions.test.ts does
// so through the changes that move who sees an event, subscriptions included.
import { Prisma } from '../../generated/prisma/client.ts';
import type { EventStatus } from '../../generated/prisma/client.ts';

/**
 * Visible: published or cancelled public events to everyone; anything to its host; a
 * non-draft private event to its attendees and to invitees who have not declined.
 */
export function visibleEventWhere(viewerId: string | null | undefined): Prisma.EventWhereInput {
  const open: Prisma.EventWhereInput = { isPublic: true, status: { not: 'DRAFT' } };
  if (!viewerId) return open;
  return {
    OR: [
      open,
      { hostId: viewerId },
      {
        status: { not: 'DRAFT' },
        OR: [
          { attendees: { some: { userId: viewerId } } },
          { invitations: { some: { userId: viewerId, declinedAt: null } } },
        ],
      },
    ],
  };
}

/** The same rule over the `events` table aliased `e`, for raw SQL. */
export function visibleEventSql(viewerId: string | null | undefined): Prisma.Sql {
  const open = Prisma.sql`(e.is_public AND e.status <> 'DRAFT')`;
  if (!viewerId) return open;
  return Prisma.sql`(${open}
    OR e.host_id = ${viewerId}::uuid
    OR (e.status <> 'DRAFT' AND (
      EXISTS (SELECT 1 FROM event_attendees a WHERE a.event_id = e.id AND a.user_id = ${viewerId}::uuid)
      OR EXISTS (SELECT 1 FROM event_invitations i WHERE i.event_id = e.id AND i.user_id = ${viewerId}::uuid AND i.declined_at IS NULL))))`;
}

/** What a pub/sub message carries of an event's state, enough to decide visibility without a query when public. */
export interface EventVisibilityState {
  hostId: string;
  isPublic: boolean;
  status: EventStatus;
}

/** True when anyone may see an event in this state: no membership lookup needed. */
export const isOpenToAll = (state: EventVisibilityState) => state.isPublic && state.status !== 'DRAFT';

/**
 * What to select of an event to decide, in code, whether the viewer may see it: for reaching
 * an event through another row (a rating, a notification) without a query per row.
 */
export const visibilitySelect = (viewerId: string) =>
  ({
    isPublic: true,
    status: true,
    hostId: true,
    attendees: { where: { userId: viewerId }, select: { userId: true } },
    invitations: { where: { userId: viewerId, declinedAt: null }, select: { userId: true } },
  }) as const;

/** The rule of visibleEventWhere, applied to an event loaded with visibilitySelect. */
export function isVisibleTo(
  event: EventVisibilityState & { attendees: unknown[]; invitations: unknown[] },
  viewerId: string | null | undefined,
): boolean {
  if (isOpenToAll(event)) return true;
  if (!viewerId) return false;
  if (event.hostId === viewerId) return true;
  return event.status !== 'DRAFT' && (event.attendees.length > 0 || event.invitations.length > 0);
}
