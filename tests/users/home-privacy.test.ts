// A user's home location, attacked the way it was found before: a host creates private
// auto-matching events at chosen points, learns each time whether the victim was matched, and
// bisects the edge of the victim's radius to find its centre. Here the attacker gets the
// strongest oracle there is (the victim's own INVITED list, as if the victim told them), and
// still cannot place the home closer than its 2.2 km cell: two homes in one cell, more than 2 km
// apart, give the same answer to every probe, so any guess is more than 1 km from one of them.
// What the host itself sees of the probes (matchedUsers, invitedUsers) is empty throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOME_CELL_DEGREES, homeCell } from '../../src/services/events/geo.ts';
import { DeleteEventDocument, MyEventsDocument, UpdateProfileDocument } from '../generated/graphql.ts';
import { createUser } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { createEvent } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

interface Point {
  latitude: number;
  longitude: number;
}

/** Great-circle distance in km (the test's own, independent of the server's SQL). */
function km(a: Point, b: Point): number {
  const rad = Math.PI / 180;
  const h =
    Math.sin(((b.latitude - a.latitude) * rad) / 2) ** 2 +
    Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(((b.longitude - a.longitude) * rad) / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(h));
}

const RADIUS_KM = 10; // the default preferredRadiusKm, set explicitly so the test does not depend on it
const TAG = 'boardgames';

let server: TestServer;
let attacker: TestUser;
let victim: TestUser;

beforeAll(async () => {
  server = await startTestServer();
  [attacker, victim] = [await createUser(server), await createUser(server)];
  await victim.gqlOk(UpdateProfileDocument, { input: { interests: [TAG], preferredRadiusKm: RADIUS_KM } });
});
afterAll(async () => {
  await server?.close();
});

const hostSaw: string[] = [];

/** One probe: a private auto-matching event at `at`; was the victim invited? Deleted afterwards. */
async function probe(at: Point): Promise<boolean> {
  const event = await createEvent(server, attacker, { ...at, interestTags: [TAG], autoMatchingEnabled: true });
  hostSaw.push(...event.matchedUsers.map((u) => u.id), ...event.invitedUsers.map((u) => u.id));
  const { myEvents } = await victim.gqlOk(MyEventsDocument, { role: 'INVITED', first: 50 });
  await attacker.gqlOk(DeleteEventDocument, { id: event.id });
  return myEvents.edges.some((e) => e.node.id === event.id);
}

/** Bisects between a matched and an unmatched point to 1 m; returns the edge and every answer. */
async function edge(inside: Point, outside: Point, answers: boolean[]): Promise<Point> {
  let [a, b] = [inside, outside];
  while (km(a, b) > 0.001) {
    const mid = { latitude: (a.latitude + b.latitude) / 2, longitude: (a.longitude + b.longitude) / 2 };
    const matched = await probe(mid);
    answers.push(matched);
    if (matched) a = mid;
    else b = mid;
  }
  return a;
}

/** What the attacker knows to start with: the victim lives somewhere near here (within the radius). */
const GUESS: Point = { latitude: 52.5, longitude: 13.38 };

/**
 * The attack, from the guess: the edge of the radius east and west along the guess's latitude
 * gives the centre's longitude, north and south along its meridian the centre's latitude.
 * Without the cell this found a home to the metre.
 */
async function locate(home: Point): Promise<{ estimate: Point; answers: boolean[][] }> {
  await victim.gqlOk(UpdateProfileDocument, { input: { homeLatitude: home.latitude, homeLongitude: home.longitude } });
  const far = 0.5; // degrees: well outside a 10 km radius in every direction here
  const answers: boolean[][] = [[], [], [], []];
  const [east, west, north, south] = await Promise.all([
    edge(GUESS, { ...GUESS, longitude: GUESS.longitude + far }, answers[0]!),
    edge(GUESS, { ...GUESS, longitude: GUESS.longitude - far }, answers[1]!),
    edge(GUESS, { ...GUESS, latitude: GUESS.latitude + far }, answers[2]!),
    edge(GUESS, { ...GUESS, latitude: GUESS.latitude - far }, answers[3]!),
  ]);
  return {
    estimate: { latitude: (north.latitude + south.latitude) / 2, longitude: (east.longitude + west.longitude) / 2 },
    answers,
  };
}

describe('the home-location bisection attack', () => {
  it('cannot place a home closer than its cell: two homes over 2 km apart answer every probe alike', async () => {
    // Two homes in one cell, near opposite corners (the cell is Berlin's Mitte, any cell would do).
    const cell = homeCell(52.52, 13.405);
    const margin = 0.1;
    const [south, west] = [cell.south + margin * HOME_CELL_DEGREES, cell.west + margin * (cell.east - cell.west)];
    const [north, east] = [cell.north - margin * HOME_CELL_DEGREES, cell.east - margin * (cell.east - cell.west)];
    const one = { latitude: south, longitude: west };
    const other = { latitude: north, longitude: east };
    expect(homeCell(one.latitude, one.longitude)).toEqual(cell);
    expect(homeCell(other.latitude, other.longitude)).toEqual(cell);
    expect(km(one, other)).toBeGreaterThan(2);

    const first = await locate(one);
    const second = await locate(other);

    // The attack ran as designed: each bisection saw both answers and converged...
    for (const answers of [...first.answers, ...second.answers])
      expect(new Set(answers)).toEqual(new Set([true, false]));
    // ...on the cell's centre, the only place matching knows.
    expect(km(first.estimate, { latitude: cell.latitude, longitude: cell.longitude })).toBeLessThan(0.05);
    // The same probes (they follow from the guess and the answers) answered the same for both
    // homes, so nothing tells them apart.
    expect(second.answers).toEqual(first.answers);
    const worst = Math.max(km(first.estimate, one), km(second.estimate, other));
    expect(worst).toBeGreaterThan(1);
    // And the host saw no one it matched, on any probe.
    expect(hostSaw).toEqual([]);
  }, 120_000);
});
