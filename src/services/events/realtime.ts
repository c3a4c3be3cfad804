// Live event changes. Mutations record a small message in the change log, in their transaction;
// once it is relayed, subscribers filter on it (bounds, filter, visibility) before anything is
// resolved, and then re-read the event with a fresh context.
//
// Topics are narrow: a map change goes to the grid cells of its old and new position, at two
// sizes, so a city-sized viewport listens to a few 1° cells and a continent-sized one to a few
// 30° cells, never to a world-wide firehose. Member-facing changes go to one topic per user.
// One change is one log row whatever its topics, so a subscriber hears it once.
import { recordChanges } from '../../changes/index.ts';
import type { EventType, Prisma } from '../../generated/prisma/client.ts';
import type { EventVisibilityState } from './visibility.ts';

type Tx = Prisma.TransactionClient;

export type EventChangeKind = 'CREATED' | 'UPDATED' | 'CANCELLED' | 'DELETED' | 'ATTENDEES_CHANGED';

/** The state of an event a subscriber needs to filter a change without reading the database. */
export interface EventSnapshot extends EventVisibilityState {
  latitude: number;
  longitude: number;
  type: EventType;
  startsAt: Date;
  interestTags: string[];
}

export interface EventChangeMessage {
  kind: EventChangeKind;
  eventId: string;
  version: number;
  occurredAt: Date;
  /** Before the change; null when created. */
  before: EventSnapshot | null;
  /** After the change; null when deleted. */
  after: EventSnapshot | null;
  /**
   * When the change itself ended someone's membership (a deletion, a leave, a decline) of an
   * event not open to all: who could see it just before (host, attendees, pending invitees). The
   * rows no longer say so, and someone who loses sight must still hear of it, with event null.
   */
  formerViewers?: string[];
}

export interface Bounds {
  south: number;
  west: number;
  north: number;
  east: number;
}

const FINE_DEGREES = 1;
const COARSE_DEGREES = 30;
/** Viewports spanning more fine cells than this listen on coarse cells instead. */
const MAX_FINE_CELLS = 64;

const cellTopic = (size: number, lat: number, lng: number) =>
  `events:map:${size}:${Math.floor((Math.min(lat, 89.999) + 90) / size)}:${Math.floor((Math.min(lng, 179.999) + 180) / size)}`;

export const userEventsTopic = (userId: string) => `events:user:${userId}`;

/** Topics a change at these positions is published on. */
export function mapTopicsFor(positions: Array<{ latitude: number; longitude: number }>): string[] {
  const topics = new Set<string>();
  for (const p of positions) {
    topics.add(cellTopic(FINE_DEGREES, p.latitude, p.longitude));
    topics.add(cellTopic(COARSE_DEGREES, p.latitude, p.longitude));
  }
  return [...topics];
}

/** Longitude ranges of a viewport; two when it crosses the antimeridian. */
export function longitudeRanges(b: Bounds): Array<[number, number]> {
  return b.west <= b.east
    ? [[b.west, b.east]]
    : [
        [b.west, 180],
        [-180, b.east],
      ];
}

/** Topics covering a viewport, at the finest size that keeps their number small. */
export function mapTopicsForBounds(b: Bounds): string[] {
  const cells = (size: number) => {
    const topics: string[] = [];
    const lat0 = Math.floor((b.south + 90) / size);
    const lat1 = Math.floor((Math.min(b.north, 89.999) + 90) / size);
    for (const [west, east] of longitudeRanges(b)) {
      const lng0 = Math.floor((west + 180) / size);
      const lng1 = Math.floor((Math.min(east, 179.999) + 180) / size);
      for (let la = lat0; la <= lat1; la++)
        for (let lo = lng0; lo <= lng1; lo++) topics.push(`events:map:${size}:${la}:${lo}`);
    }
    return topics;
  };
  const fine = cells(FINE_DEGREES);
  return fine.length <= MAX_FINE_CELLS ? fine : cells(COARSE_DEGREES);
}

export function inBounds(b: Bounds, p: { latitude: number; longitude: number }): boolean {
  if (p.latitude < b.south || p.latitude > b.north) return false;
  return longitudeRanges(b).some(([w, e]) => p.longitude >= w && p.longitude <= e);
}

/**
 * Records a change for the map cells of its old and new position and for the given members, in
 * the transaction that made it (src/changes/): it is delivered once that commits.
 */
export async function recordEventChange(
  tx: Tx,
  message: EventChangeMessage,
  memberIds: Iterable<string>,
): Promise<void> {
  const positions = [message.before, message.after].filter((s): s is EventSnapshot => s !== null);
  const topics = [...mapTopicsFor(positions), ...new Set([...memberIds].map(userEventsTopic))];
  await recordChanges(tx, [{ topics, payload: message }]);
}
