// eventClusters over HTTP and graphql-ws: events grouped per cell of the zoom's grid, counts
// that add up when zooming into a cluster's box, lone events carried whole, the antimeridian,
// the visibility rule and filters, clear errors for bad zooms and oversized viewports, and
// the bounding-box index in the plan.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clustersSql } from '../../src/services/events/clusters.ts';
import {
  CancelEventDocument,
  DeleteEventDocument,
  EventClustersDocument,
  EventsInBoundsDocument,
  UpdateEventDocument,
} from '../generated/graphql.ts';
import type { BoundsInput, EventClustersQuery, EventClustersQueryVariables } from '../generated/graphql.ts';
import { createUser, gql, gqlOk, refusal, wsRequest } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent, explainPlan, insertBulkEvents } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

type Cluster = EventClustersQuery['eventClusters'][number];

let server: TestServer;
let host: TestUser;
let viewer: TestUser;

const clusters = (variables: EventClustersQueryVariables, token: string | undefined = viewer.accessToken) =>
  gqlOk(server, EventClustersDocument, variables, { token }).then((d) => d.eventClusters);
const total = (list: Cluster[]) => list.reduce((n, c) => n + c.count, 0);
const inside = (b: BoundsInput, p: { latitude: number; longitude: number }) =>
  p.latitude >= b.south &&
  p.latitude <= b.north &&
  (b.west <= b.east ? p.longitude >= b.west && p.longitude <= b.east : p.longitude >= b.west || p.longitude <= b.east);

beforeAll(async () => {
  server = await startTestServer();
  [host, viewer] = await Promise.all([createUser(server), createUser(server)]);
  await certify(server, host);
});
afterAll(async () => {
  await server?.close();
});

/** Public events at these points. */
const pins = (points: Array<[number, number]>) =>
  Promise.all(
    points.map(([latitude, longitude]) => createEvent(server, host, { isPublic: true, latitude, longitude })),
  );

describe('grouping', () => {
  // Two towns 0.01° across, 3° apart: one cluster each at zoom 4 (cells of 5.6°), one at zoom 1.
  const townA: Array<[number, number]> = [
    [-30.001, 20.001],
    [-30.002, 20.004],
    [-30.006, 20.002],
    [-30.004, 20.008],
  ];
  const townB: Array<[number, number]> = [
    [-33.001, 25.001],
    [-33.009, 25.003],
  ];
  const region: BoundsInput = { south: -40, north: -20, west: 10, east: 30 };

  beforeAll(async () => {
    await pins([...townA, ...townB]);
  });

  it('counts a cluster per cell, with the mean position and the box of its events', async () => {
    const found = await clusters({ bounds: region, zoom: 4 });
    expect(found.map((c) => c.count)).toEqual([4, 2]);
    const [a, b] = found as [Cluster, Cluster];
    const mean = (points: Array<[number, number]>, i: 0 | 1) => points.reduce((s, p) => s + p[i], 0) / points.length;
    expect(a.latitude).toBeCloseTo(mean(townA, 0), 9);
    expect(a.longitude).toBeCloseTo(mean(townA, 1), 9);
    expect(a.bounds).toEqual({ south: -30.006, north: -30.001, west: 20.001, east: 20.008 });
    expect(b.bounds).toEqual({ south: -33.009, north: -33.001, west: 25.001, east: 25.003 });
    expect(a.event).toBeNull();
    // Zoomed out, the two towns share a cell.
    expect((await clusters({ bounds: region, zoom: 1 })).map((c) => c.count)).toEqual([6]);
    // The counts are those of the events the map lists there.
    const { eventsInBounds } = await viewer.gqlOk(EventsInBoundsDocument, { bounds: region, first: 500 });
    expect(total(found)).toBe(eventsInBounds.edges.length);
  });

  it('splits a cluster zoomed into its box into clusters whose counts add up, down to single events', async () => {
    let level = (await clusters({ bounds: region, zoom: 4 })).filter((c) => c.count === 4);
    for (let zoom = 5; zoom <= 22 && level.some((c) => c.count > 1); zoom++) {
      const next: Cluster[] = [];
      for (const parent of level) {
        const children = await clusters({ bounds: parent.bounds, zoom });
        expect(total(children), `zoom ${zoom}`).toBe(parent.count);
        for (const child of children) {
          expect(inside(parent.bounds, { latitude: child.bounds.south, longitude: child.bounds.west })).toBe(true);
          expect(inside(parent.bounds, { latitude: child.bounds.north, longitude: child.bounds.east })).toBe(true);
        }
        next.push(...children);
      }
      level = next;
    }
    // At the end every event stands alone, and comes whole.
    expect(level.map((c) => c.count)).toEqual([1, 1, 1, 1]);
    for (const c of level) {
      expect(c.event).not.toBeNull();
      expect(c.event).toMatchObject({ latitude: c.latitude, longitude: c.longitude, viewerIsAttending: false });
      expect(c.bounds).toEqual({ south: c.latitude, north: c.latitude, west: c.longitude, east: c.longitude });
    }
    expect(level.map((c) => [c.latitude, c.longitude]).sort()).toEqual([...townA].sort());
  });

  it('works across the antimeridian', async () => {
    await pins([
      [-17.7, 179.95],
      [-17.71, 179.9],
      [-17.7, -179.95],
    ]);
    const across = { south: -19, north: -16, west: 175, east: -175 };
    const found = await clusters({ bounds: across, zoom: 5 });
    // Cells never cross the antimeridian: one cluster on each side.
    expect(found.map((c) => c.count)).toEqual([2, 1]);
    expect(found[0]!.bounds).toMatchObject({ west: 179.9, east: 179.95 });
    expect(found[1]!.event).not.toBeNull();
    expect(found[1]!.longitude).toBe(-179.95);
  });

  it('answers over graphql-ws the same as over HTTP', async () => {
    const ws = viewer.ws();
    try {
      const result = await wsRequest(ws, EventClustersDocument, { bounds: region, zoom: 4 });
      expect(result.errors).toBeUndefined();
      expect(result.data!.eventClusters.map((c) => c.count)).toEqual([4, 2]);
    } finally {
      await ws.dispose();
    }
  });
});

describe('visibility and filters', () => {
  it('counts a private event only for those who may see it, and applies the filter', async () => {
    const invitee = await createUser(server);
    const bounds = { south: 60, north: 61, west: 100, east: 101 };
    await createEvent(server, host, { isPublic: true, latitude: 60.5, longitude: 100.5, type: 'PARTY' });
    await createEvent(server, host, {
      isPublic: false,
      latitude: 60.5001,
      longitude: 100.5001,
      type: 'STUDY',
      invitedUserIds: [invitee.id],
    });
    await createEvent(server, host, { isPublic: true, latitude: 60.5002, longitude: 100.5, status: 'DRAFT' });
    const counts = async (token?: string) => (await clusters({ bounds, zoom: 6 }, token)).map((c) => c.count);
    expect(await counts(host.accessToken)).toEqual([2]);
    expect(await counts(invitee.accessToken)).toEqual([2]);
    expect(await counts(viewer.accessToken)).toEqual([1]);
    expect(await counts(undefined)).toEqual([1]);
    // The draft only with statuses asking for it, and for its host.
    const all = await clusters({ bounds, zoom: 6, filter: { statuses: ['DRAFT', 'PUBLISHED'] } }, host.accessToken);
    expect(all.map((c) => c.count)).toEqual([3]);
    const study = await clusters({ bounds, zoom: 6, filter: { types: ['STUDY'] } }, invitee.accessToken);
    expect(study.map((c) => c.count)).toEqual([1]);
    expect(study[0]!.event).not.toBeNull();
  });
});

describe('the counts kept per cell (zoom ≤ 10, no filter beyond types and statuses)', () => {
  const area: BoundsInput = { south: -50, north: -44, west: -75, east: -65 };
  // startsAfter long ago filters nothing, but takes the plan that groups the events themselves.
  const scanned = { startsAfter: '2000-01-01T00:00:00Z' };
  const summary = (list: Cluster[]) => list.map((c) => [c.count, c.latitude.toFixed(9), c.longitude.toFixed(9)]).sort();

  it('follow creates (concurrent ones in one cell too), moves, visibility, status and deletes, as the events do', async () => {
    const made = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        createEvent(server, host, { isPublic: true, latitude: -47 - i * 0.01, longitude: -70 - (i % 5) * 0.01 }),
      ),
    );
    const check = async (expected: number) => {
      for (const zoom of [2, 6, 8]) {
        const fromTiles = await clusters({ bounds: area, zoom });
        const fromEvents = await clusters({ bounds: area, zoom, filter: scanned });
        expect(total(fromTiles), `zoom ${zoom}`).toBe(expected);
        expect(summary(fromTiles), `zoom ${zoom}`).toEqual(summary(fromEvents));
        // Kept boxes may be wider than the events' (they only grow), never narrower.
        for (const c of fromEvents) {
          const kept = fromTiles.find((t) => t.count === c.count && t.latitude.toFixed(9) === c.latitude.toFixed(9))!;
          expect(kept.bounds.south).toBeLessThanOrEqual(c.bounds.south);
          expect(kept.bounds.north).toBeGreaterThanOrEqual(c.bounds.north);
          expect(kept.bounds.west).toBeLessThanOrEqual(c.bounds.west);
          expect(kept.bounds.east).toBeGreaterThanOrEqual(c.bounds.east);
        }
      }
    };
    await check(20);
    const [moved, hidden, cancelled, deleted, retyped] = made as [
      (typeof made)[0],
      (typeof made)[0],
      (typeof made)[0],
      (typeof made)[0],
      (typeof made)[0],
    ];
    await host.gqlOk(UpdateEventDocument, { id: moved.id, input: { latitude: -45.5, longitude: -66 } });
    await check(20);
    await host.gqlOk(UpdateEventDocument, { id: hidden.id, input: { isPublic: false } });
    await check(19);
    await host.gqlOk(CancelEventDocument, { id: cancelled.id });
    await check(18);
    await host.gqlOk(DeleteEventDocument, { id: deleted.id });
    await check(17);
    await host.gqlOk(UpdateEventDocument, { id: retyped.id, input: { type: 'PARTY' } });
    await check(17);
    const parties = await clusters({ bounds: area, zoom: 4, filter: { types: ['PARTY'] } });
    expect(total(parties)).toBe(1);
    expect(parties[0]!.event?.id).toBe(retyped.id);
    // The host still counts their private one; cancelled ones come back when asked for.
    expect(total(await clusters({ bounds: area, zoom: 4 }, host.accessToken))).toBe(18);
    expect(total(await clusters({ bounds: area, zoom: 4, filter: { statuses: ['PUBLISHED', 'CANCELLED'] } }))).toBe(18);
  });
});

describe('bad input', () => {
  const bad = async (variables: EventClustersQueryVariables) => {
    const result = await gql(server, EventClustersDocument, variables, { token: viewer.accessToken });
    return refusal(result);
  };

  it('refuses zooms outside 0–22, bad bounds, and viewports larger than a screen at their zoom', async () => {
    const city = { south: 52.4, north: 52.6, west: 13.2, east: 13.6 };
    for (const zoom of [-1, 23])
      expect(await bad({ bounds: city, zoom })).toEqual({ codes: ['BAD_USER_INPUT'], field: 'zoom' });
    expect(await bad({ bounds: { ...city, south: 53 }, zoom: 10 })).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'bounds',
    });
    expect(await bad({ bounds: { ...city, north: 91 }, zoom: 10 })).toMatchObject({ codes: ['BAD_USER_INPUT'] });
    // The whole world fits at zoom 3 (32 × 32 cells), not at zoom 4; a city fits at zoom 12, not at 16.
    const world = { south: -85, north: 85, west: -180, east: 180 };
    expect(await clusters({ bounds: world, zoom: 3 })).toBeInstanceOf(Array);
    expect(await bad({ bounds: world, zoom: 4 })).toEqual({ codes: ['BAD_USER_INPUT'], field: 'bounds' });
    expect(await clusters({ bounds: city, zoom: 12 })).toBeInstanceOf(Array);
    expect(await bad({ bounds: city, zoom: 16 })).toEqual({ codes: ['BAD_USER_INPUT'], field: 'bounds' });
  });
});

describe('on a database of 20,000 events', () => {
  const COUNT = 20_000;
  let big: TestServer;
  let bigHost: TestUser;

  beforeAll(async () => {
    big = await startTestServer({ env: { DATABASE_QUERY_TIMEOUT_MS: '200000' } });
    bigHost = await createUser(big);
    await insertBulkEvents(big, bigHost.id, COUNT);
  }, 240_000);
  afterAll(async () => {
    await big?.close();
  }, 60_000);

  it('plans a city at zoom 12 on the bounding-box index, and counts every visible event once', async () => {
    const city = { south: 10, north: 10.5, west: 20, east: 20.8 };
    const plan = await explainPlan(big, clustersSql(bigHost.id, city, 12, null));
    console.info(`EXPLAIN eventClusters (city, zoom 12):\n${plan}`);
    expect(plan).toContain('events_bbox_idx');
    expect(plan).not.toMatch(/Seq Scan on events\b/);
    // The whole world at zoom 3: every published event the anonymous viewer may see, once.
    const world = { south: -90, north: 90, west: -180, east: 180 };
    const { eventClusters } = await gqlOk(big, EventClustersDocument, { bounds: world, zoom: 3 });
    expect(total(eventClusters)).toBe(COUNT / 2);
    expect(eventClusters.length).toBeLessThanOrEqual(32 * 32);
  });
});
