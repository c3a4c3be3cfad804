// Who hears of an event change. Bounds and filter are checked on the message itself; only a
// private event costs a membership query, and only for subscribers it could concern.
import { afterChangeCursor, readAlongPage } from '../../changes/index.ts';
import type { Change } from '../../changes/index.ts';
import type { AppDeps } from '../../context.ts';
import { unauthenticated } from '../../lib/errors.ts';
import { filterMessages } from '../../pubsub/iterator.ts';
import { inBounds, mapTopicsForBounds, userEventsTopic } from './realtime.ts';
import type { Bounds, EventChangeMessage, EventSnapshot } from './realtime.ts';
import type { EventFilterInput } from './search.ts';
import { checkBounds } from './search.ts';
import { isOpenToAll, visibleEventWhere } from './visibility.ts';
import { readEventColumns } from './columns.ts';
import type { EventColumnRow, EventColumns } from './columns.ts';
import { findVisibleEvent } from './index.ts';
import { SharedPromises } from '../../lib/shared-promises.ts';
import { normalizeTags } from '../../lib/validation.ts';

/** A change as one subscriber receives it: `showEvent` false means deliver `event: null`. */
export interface DeliveredChange {
  message: EventChangeMessage;
  showEvent: boolean;
  /** The change log's id of it (EventChange.cursor). */
  changeId: number;
  /** For a replayed change, its page of the log (readChangedEvent reads the page's events at once). */
  page?: Change<EventChangeMessage>['page'];
}

// Groups (src/transport/fanout.ts) execute once per event each, but one change reaches many
// groups: one per viewport and viewer. Groups whose selection of the event is the same
// (per-viewer conditions included, so anonymous groups on different viewports match) share one
// read of it. Keys carry the event's version, so an entry never outlives the change it was
// read for.
const sharedReads = new SharedPromises<unknown>(2_000);

/**
 * The event a delivered change shows, as the viewer may see it now, read under `selection` (the
 * viewer and what is read of the event): for a live change once for every group that asks
 * (`readOne`), for a replayed one with the other events of its page (`readMany`, one query).
 */
function readForChange<R extends { id: string }>(
  change: DeliveredChange,
  selection: string,
  readMany: (ids: string[]) => Promise<R[]>,
  readOne: () => Promise<R | null>,
): Promise<R | null> {
  const { eventId, version } = change.message;
  if (change.page) return readAlongPage(change.page, eventId, selection, (m) => (m.after ? m.eventId : null), readMany);
  return sharedReads.get(`${eventId}:${version}:${selection}`, readOne);
}

/** readForChange with the selection's Prisma `query`. */
export function readChangedEvent(deps: AppDeps, viewerId: string | null, change: DeliveredChange, query: object) {
  return readForChange(
    change,
    `${viewerId ?? ''}:${JSON.stringify(query)}`,
    (ids) => deps.prisma.event.findMany({ ...query, where: { id: { in: ids }, ...visibleEventWhere(viewerId) } }),
    async () => findVisibleEvent(deps, viewerId, change.message.eventId, query),
  );
}

/** readForChange with exactly the named columns, for planned executions (src/schema/events/plans.ts). */
export function readChangedEventColumns(
  deps: AppDeps,
  viewerId: string | null,
  change: DeliveredChange,
  columns: EventColumns,
): Promise<EventColumnRow | null> {
  const read = (ids: string[]) => readEventColumns(deps, viewerId, ids, columns, true);
  return readForChange(
    change,
    `${viewerId ?? ''}:columns:${columns.event.join()}:${columns.host.join()}`,
    read,
    async () => (await read([change.message.eventId]))[0] ?? null,
  );
}

function matchesFilter(
  s: EventSnapshot,
  f: EventFilterInput | null | undefined,
  tags: string[],
  friends: Set<string> | null,
): boolean {
  const statuses = f?.statuses?.length ? f.statuses : ['PUBLISHED'];
  if (!statuses.includes(s.status)) return false;
  if (f?.types?.length && !f.types.includes(s.type)) return false;
  if (f?.startsAfter && s.startsAt < f.startsAfter) return false;
  if (f?.startsBefore && s.startsAt >= f.startsBefore) return false;
  if (tags.length && !s.interestTags.some((t) => tags.includes(t))) return false;
  if (f?.hostId !== null && f?.hostId !== undefined && String(f.hostId) !== s.hostId) return false;
  if (friends && !friends.has(s.hostId)) return false;
  return true;
}

async function friendIds(deps: AppDeps, viewerId: string): Promise<Set<string>> {
  const rows = await deps.prisma.friendship.findMany({
    where: { OR: [{ userAId: viewerId }, { userBId: viewerId }] },
    select: { userAId: true, userBId: true },
  });
  return new Set(rows.map((r) => (r.userAId === viewerId ? r.userBId : r.userAId)));
}

/**
 * Whether the viewer may see the event in its state before or after the change. Public: no
 * query. Private: the current membership decides, but for the state before a change that ended
 * memberships (a deletion, a leave, a decline) the message's list of who could see it does.
 */
function visibilityCheck(deps: AppDeps, viewerId: string | null, message: EventChangeMessage) {
  let membership: Promise<boolean> | undefined;
  return (state: EventSnapshot, moment: 'before' | 'after'): Promise<boolean> | boolean => {
    if (isOpenToAll(state)) return true;
    if (!viewerId) return false;
    if (state.hostId === viewerId) return true;
    if (state.status === 'DRAFT') return false;
    if (moment === 'before' && message.formerViewers) return message.formerViewers.includes(viewerId);
    membership ??= deps.prisma.event
      .count({ where: { id: message.eventId, ...visibleEventWhere(viewerId) } })
      .then((n) => n > 0);
    return membership;
  };
}

/**
 * The live map: changes whose old or new position lies in bounds, that match the filter, that
 * the viewer may see; with `after` (a change cursor), those since it first. Visibility is
 * decided at delivery, for replayed changes as for live ones.
 */
export async function mapChanges(
  deps: AppDeps,
  viewerId: string | null,
  bounds: Bounds,
  filter: EventFilterInput | null | undefined,
  after?: string | null,
): Promise<AsyncIterable<DeliveredChange>> {
  checkBounds(bounds);
  if (filter?.friendsOnly && !viewerId) throw unauthenticated('Sign in to follow friends’ events');
  const tags = normalizeTags('filter.interestTags', filter?.interestTags ?? []);
  const friends = filter?.friendsOnly && viewerId ? await friendIds(deps, viewerId) : null;
  const from = await afterChangeCursor(deps.changes, after);
  const source = deps.changes.subscribe<EventChangeMessage>(mapTopicsForBounds(bounds), from);
  return filterMessages(source, async ({ id, payload: message, page }: Change<EventChangeMessage>) => {
    const canSee = visibilityCheck(deps, viewerId, message);
    const relevant = async (state: EventSnapshot | null, moment: 'before' | 'after') =>
      state !== null &&
      inBounds(bounds, state) &&
      matchesFilter(state, filter, tags, friends) &&
      (await canSee(state, moment));
    const wasRelevant = await relevant(message.before, 'before');
    const isRelevant = await relevant(message.after, 'after');
    if (!wasRelevant && !isRelevant) return null;
    // Moved out of the viewport: still shown, so the client can drop it; no longer matching
    // or visible (made private, cancelled, left): event null.
    const now = message.after;
    const showEvent = now !== null && matchesFilter(now, filter, tags, friends) && (await canSee(now, 'after'));
    return { message, showEvent, changeId: id, page };
  });
}

/**
 * Changes to events the viewer hosts, attends or is invited to (recorded for each member's
 * topic), when the viewer may see the event before or after the change: an invitee of a draft
 * hears nothing of it, and someone who lost sight hears that once (event null), then nothing.
 * With `after`, those since that change first.
 */
export async function myChanges(
  deps: AppDeps,
  viewerId: string,
  after?: string | null,
): Promise<AsyncIterable<DeliveredChange>> {
  const from = await afterChangeCursor(deps.changes, after);
  const source = deps.changes.subscribe<EventChangeMessage>([userEventsTopic(viewerId)], from);
  return filterMessages(source, async ({ id, payload: message, page }: Change<EventChangeMessage>) => {
    const canSee = visibilityCheck(deps, viewerId, message);
    const saw = message.before !== null && (await canSee(message.before, 'before'));
    const showEvent = message.after !== null && (await canSee(message.after, 'after'));
    return saw || showEvent ? { message, showEvent, changeId: id, page } : null;
  });
}
