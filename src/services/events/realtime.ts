// Live event changes. Mutations publish a small message after their transaction commits;
// subscribers filter on it (bounds, filter, visibility) before anything is resolved, and then
// re-read the event with a fresh context.
//
// Topics are narrow: a map change goes to the grid cells of its old and new position, at two
// sizes, so a city-sized viewport listens to a few 1° cells and a continent-sized one to a few
// 30° cells, never to a world-wide firehose. Member-facing changes go to one topic per user.
import type { AppDeps } from '../../context.ts';
import type { EventType } from '../../generated/prisma/client.ts';
import { createPushIterator } from '../../pubsub/iterator.ts';
import type { PubSub } from '../../pubsub/index.ts';
import type { EventVisibilityState } from './visibility.ts';

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
 * Publishes a change on the map cells of its old and new position and to the given members.
 * Call after the transaction commits. Publishing never fails a mutation (PubSub contract).
 */
export async function publishEventChange(
  deps: Pick<AppDeps, 'pubsub'>,
  message: EventChangeMessage,
  memberIds: Iterable<string>,
): Promise<void> {
  const positions = [message.before, message.after].filter((s): s is EventSnapshot => s !== null);
  const topics = [...mapTopicsFor(positions), ...new Set([...memberIds].map(userEventsTopic))];
  await Promise.all(topics.map((topic) => deps.pubsub.publish(topic, message)));
}

/** How many recent message keys subscribeTopics remembers to drop the copies of a change. */
const RECENT_KEYS = 256;

/**
 * One iterator over several topics, each message once (a change near a cell border arrives on
 * two cells). Returning it unsubscribes from all of them.
 */
export function subscribeTopics<T extends { eventId: string; version: number; kind: string }>(
  pubsub: PubSub,
  topics: string[],
): AsyncIterableIterator<T> {
  const sources = topics.map((topic) => pubsub.subscribe<T>(topic));
  // Keys of the latest messages only: the copies of one change (one per cell it was published
  // on) arrive within moments of each other, so a short memory finds them; a set that kept
  // every key would grow with each change for as long as the subscription lives.
  const seen = new Set<string>();
  const merged = createPushIterator<T>({
    onFinish: () => {
      for (const source of sources) void source.return?.();
    },
  });
  let open = sources.length;
  for (const source of sources) {
    void (async () => {
      for await (const message of source) {
        if (sources.length > 1) {
          const key = `${message.eventId}:${message.version}:${message.kind}`;
          if (seen.has(key)) continue;
          seen.add(key);
          // A Set iterates in insertion order: drop the oldest key.
          if (seen.size > RECENT_KEYS) seen.delete(seen.values().next().value!);
        }
        merged.push(message);
      }
      if (--open === 0) merged.end();
    })();
  }
  return merged.iterator;
}
