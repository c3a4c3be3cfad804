// Map queries over HTTP: eventsInBounds and eventsNear with their filters, keyset paging,
// input checks, a constant number of SQL statements whatever the page size, and index use on
// a database of 100k+ events.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prisma } from '../../src/generated/prisma/client.ts';
import { inBoundsSql, inBoundsStatement } from '../../src/services/events/search.ts';
import { CancelEventDocument, EventsInBoundsDocument, EventsNearDocument } from '../generated/graphql.ts';
import type {
  BoundsInput,
  EventFilter,
  EventsInBoundsQuery,
  EventsInBoundsQueryVariables,
  EventsNearQueryVariables,
} from '../generated/graphql.ts';
import { codes, countStatements, createUser, gql, gqlOk } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent, explainPlan, insertBulkEvents } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const EARTH_RADIUS_KM = 6371;
const rad = (deg: number) => (deg * Math.PI) / 180;

interface Point {
  latitude: number;
  longitude: number;
}

/** Great-circle distance in km, computed independently of the server. */
function haversineKm(a: Point, b: Point): number {
  const h =
    Math.sin(rad(b.latitude - a.latitude) / 2) ** 2 +
    Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(rad(b.longitude - a.longitude) / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.sqrt(h));
}

/** The point `northKm` north and `eastKm` east of `p` (small distances). */
function offset(p: Point, northKm: number, eastKm: number): Point {
  const latitude = p.latitude + (northKm / EARTH_RADIUS_KM) * (180 / Math.PI);
  const longitude = p.longitude + (eastKm / (EARTH_RADIUS_KM * Math.cos(rad(p.latitude)))) * (180 / Math.PI);
  return { latitude, longitude };
}

const box = (p: Point, halfDeg: number): BoundsInput => ({
  south: p.latitude - halfDeg,
  north: p.latitude + halfDeg,
  west: p.longitude - halfDeg,
  east: p.longitude + halfDeg,
});

const byStartThenId = (a: { startsAt: string; id: string }, b: { startsAt: string; id: string }) =>
  a.startsAt < b.startsAt ? -1 : a.startsAt > b.startsAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/** Walks an eventsInBounds or eventsNear connection page by page. */
async function pageThrough<
  T extends {
    edges: Array<{ cursor: string; node: { id: string } }>;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  },
>(
  fetchPage: (after: string | null) => Promise<T>,
  pageSize: number,
): Promise<{ nodes: Array<T['edges'][number]['node']>; pages: number[] }> {
  const nodes: Array<T['edges'][number]['node']> = [];
  const pages: number[] = [];
  let after: string | null = null;
  for (let i = 0; i < 100; i++) {
    const page = await fetchPage(after);
    pages.push(page.edges.length);
    nodes.push(...page.edges.map((e) => e.node));
    expect(page.edges.length).toBeLessThanOrEqual(pageSize);
    if (!page.pageInfo.hasNextPage) return { nodes, pages };
    expect(page.edges.length).toBe(pageSize);
    expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor);
    after = page.pageInfo.endCursor;
  }
  throw new Error('paging did not end');
}

let server: TestServer;
let host: TestUser;
let viewer: TestUser;

const inBounds = (variables: EventsInBoundsQueryVariables, token = viewer.accessToken) =>
  gqlOk(server, EventsInBoundsDocument, variables, { token }).then((d) => d.eventsInBounds);
const near = (variables: EventsNearQueryVariables, token = viewer.accessToken) =>
  gqlOk(server, EventsNearDocument, variables, { token }).then((d) => d.eventsNear);
const idsOf = (connection: { edges: Array<{ node: { id: string } }> }) => connection.edges.map((e) => e.node.id);

beforeAll(async () => {
  server = await startTestServer();
  [host, viewer] = await Promise.all([createUser(server), createUser(server)]);
  await certify(server, host);
});
afterAll(async () => {
  await server?.close();
});

// Each describe block works in its own part of the world so fixtures never meet.

describe('eventsInBounds', () => {
  it('lists the events inside a box and none outside it', async () => {
    const c = { latitude: 40, longitude: -100 };
    const inside = [
      await createEvent(server, host, { isPublic: true, ...c }),
      await createEvent(server, host, { isPublic: true, latitude: 40.09, longitude: -99.91 }),
      await createEvent(server, host, { isPublic: true, latitude: 39.91, longitude: -100.09 }),
    ];
    await createEvent(server, host, { isPublic: true, latitude: 40.2, longitude: -100 });
    await createEvent(server, host, { isPublic: true, latitude: 39.8, longitude: -100 });
    await createEvent(server, host, { isPublic: true, latitude: 40, longitude: -99.8 });
    await createEvent(server, host, { isPublic: true, latitude: 40, longitude: -100.2 });
    await createEvent(server, host, { isPublic: true, latitude: 40.2, longitude: -99.8 });

    const found = await inBounds({ bounds: box(c, 0.1) });
    expect(idsOf(found).sort()).toEqual(inside.map((e) => e.id).sort());
    expect(found.pageInfo.hasNextPage).toBe(false);
    for (const edge of found.edges) {
      expect(Math.abs(edge.node.latitude - c.latitude)).toBeLessThanOrEqual(0.1);
      expect(Math.abs(edge.node.longitude - c.longitude)).toBeLessThanOrEqual(0.1);
    }
    // Same for anonymous viewers: these are public.
    expect(
      idsOf(await gqlOk(server, EventsInBoundsDocument, { bounds: box(c, 0.1) }).then((d) => d.eventsInBounds)).sort(),
    ).toEqual(inside.map((e) => e.id).sort());
  });

  it('crosses the antimeridian when west > east', async () => {
    const at = (longitude: number) => createEvent(server, host, { isPublic: true, latitude: 10, longitude });
    const east = await at(175);
    const west = await at(-175);
    const edgeEast = await at(179.99);
    const edgeWest = await at(-179.99);
    await at(0);
    await at(160);
    await at(-160);

    const found = await inBounds({ bounds: { south: 9, north: 11, west: 170, east: -170 } });
    expect(idsOf(found).sort()).toEqual([east.id, west.id, edgeEast.id, edgeWest.id].sort());
    // The complement (not crossing) finds the others and none of these.
    const rest = idsOf(await inBounds({ bounds: { south: 9, north: 11, west: -170, east: 170 } }));
    expect(rest).toHaveLength(3);
    expect(rest).not.toContain(east.id);
    expect(rest).not.toContain(west.id);
  });

  describe('filters', () => {
    const c = { latitude: 30, longitude: -90 };
    const bounds = box(c, 0.5);
    const t0 = Date.now() + DAY;
    const at = (days: number) => new Date(t0 + days * DAY).toISOString();
    const window = (days: number) => ({
      startsAt: at(days),
      endsAt: new Date(t0 + days * DAY + 2 * HOUR).toISOString(),
    });
    let friend: TestUser;
    let loner: TestUser;
    const e = {} as Record<'study' | 'party' | 'business' | 'cancelled' | 'byViewer', string>;

    beforeAll(async () => {
      [friend, loner] = await Promise.all([createUser(server), createUser(server)]);
      await certify(server, friend);
      await certify(server, viewer);
      e.study = (
        await createEvent(server, host, {
          isPublic: true,
          ...c,
          type: 'STUDY',
          interestTags: [' Chess', 'Go'],
          ...window(1),
        })
      ).id;
      e.party = (
        await createEvent(server, host, { isPublic: true, ...c, type: 'PARTY', interestTags: ['music'], ...window(2) })
      ).id;
      e.business = (
        await createEvent(server, friend, {
          isPublic: true,
          ...c,
          type: 'BUSINESS',
          interestTags: ['CHESS'],
          ...window(3),
        })
      ).id;
      e.cancelled = (
        await createEvent(server, host, { isPublic: true, ...c, type: 'STUDY', interestTags: ['chess'], ...window(4) })
      ).id;
      e.byViewer = (await createEvent(server, viewer, { isPublic: true, ...c, type: 'OTHER', ...window(5) })).id;
      await host.gqlOk(CancelEventDocument, { id: e.cancelled });
      const [userAId, userBId] = [viewer.id, friend.id].sort();
      await server.deps.prisma.friendship.create({ data: { userAId, userBId } });
    });

    const ids = async (filter: EventFilter | null, token?: string) =>
      idsOf(await inBounds({ bounds, filter }, token)).sort();
    const expectIds = (...names: Array<keyof typeof e>) => names.map((n) => e[n]).sort();

    it('shows published events only by default, and cancelled ones only when asked', async () => {
      expect(await ids(null)).toEqual(expectIds('study', 'party', 'business', 'byViewer'));
      expect(await ids({})).toEqual(expectIds('study', 'party', 'business', 'byViewer'));
      expect(await ids({ statuses: ['CANCELLED'] })).toEqual(expectIds('cancelled'));
      expect(await ids({ statuses: ['PUBLISHED', 'CANCELLED'] })).toEqual(
        expectIds('study', 'party', 'business', 'cancelled', 'byViewer'),
      );
      const cancelled = (await inBounds({ bounds, filter: { statuses: ['CANCELLED'] } })).edges[0]?.node;
      expect(cancelled?.status).toBe('CANCELLED');
    });

    it('filters by type', async () => {
      expect(await ids({ types: ['STUDY'] })).toEqual(expectIds('study'));
      expect(await ids({ types: ['STUDY', 'PARTY'] })).toEqual(expectIds('study', 'party'));
      expect(await ids({ types: ['STUDY'], statuses: ['PUBLISHED', 'CANCELLED'] })).toEqual(
        expectIds('study', 'cancelled'),
      );
    });

    it('filters by start time: startsAfter inclusive, startsBefore exclusive', async () => {
      expect(await ids({ startsAfter: at(1.5) })).toEqual(expectIds('party', 'business', 'byViewer'));
      expect(await ids({ startsBefore: at(2.5) })).toEqual(expectIds('study', 'party'));
      expect(await ids({ startsAfter: at(1.5), startsBefore: at(2.5) })).toEqual(expectIds('party'));
      expect(await ids({ startsAfter: at(2) })).toEqual(expectIds('party', 'business', 'byViewer'));
      expect(await ids({ startsBefore: at(2) })).toEqual(expectIds('study'));
    });

    it('filters by interest tags, normalized', async () => {
      expect(await ids({ interestTags: [' Chess'] })).toEqual(expectIds('study', 'business'));
      expect(await ids({ interestTags: ['CHESS  ', 'music'] })).toEqual(expectIds('study', 'party', 'business'));
      expect(await ids({ interestTags: ['go'] })).toEqual(expectIds('study'));
      expect(await ids({ interestTags: ['knitting'] })).toEqual([]);
    });

    it('filters by host', async () => {
      expect(await ids({ hostId: friend.id })).toEqual(expectIds('business'));
      expect(await ids({ hostId: host.id })).toEqual(expectIds('study', 'party'));
      expect(await ids({ hostId: loner.id })).toEqual([]);
    });

    it("shows friends' events only with friendsOnly, from both sides of the friendship", async () => {
      expect(await ids({ friendsOnly: true }, viewer.accessToken)).toEqual(expectIds('business'));
      expect(await ids({ friendsOnly: true }, friend.accessToken)).toEqual(expectIds('byViewer'));
      expect(await ids({ friendsOnly: true }, loner.accessToken)).toEqual([]);
      expect(await ids({ friendsOnly: false }, loner.accessToken)).toEqual(
        expectIds('study', 'party', 'business', 'byViewer'),
      );
      const friendsNear = await near({ ...c, radiusKm: 50, filter: { friendsOnly: true } }, viewer.accessToken);
      expect(idsOf(friendsNear)).toEqual([e.business]);
    });

    it('refuses friendsOnly to anonymous viewers', async () => {
      const anon = await gql(server, EventsInBoundsDocument, { bounds, filter: { friendsOnly: true } });
      expect(codes(anon)).toEqual(['UNAUTHENTICATED']);
      expect(anon.data?.eventsInBounds ?? null).toBeNull();
      expect(
        codes(await gql(server, EventsNearDocument, { ...c, radiusKm: 50, filter: { friendsOnly: true } })),
      ).toEqual(['UNAUTHENTICATED']);
    });

    it('applies the same filters to eventsNear', async () => {
      const nearIds = async (filter: EventFilter) => idsOf(await near({ ...c, radiusKm: 50, filter })).sort();
      expect(await nearIds({ types: ['PARTY'] })).toEqual(expectIds('party'));
      expect(await nearIds({ interestTags: [' Chess'] })).toEqual(expectIds('study', 'business'));
      expect(await nearIds({ statuses: ['CANCELLED'] })).toEqual(expectIds('cancelled'));
      expect(await nearIds({ startsAfter: at(2.5) })).toEqual(expectIds('business', 'byViewer'));
      expect(await nearIds({ hostId: friend.id })).toEqual(expectIds('business'));
    });
  });

  describe('paging', () => {
    const c = { latitude: 20, longitude: -80 };
    const bounds = box(c, 0.5);
    let created: Array<{ id: string; startsAt: string }> = [];

    beforeAll(async () => {
      const t0 = Date.now() + 2 * DAY;
      // 25 events; 10 of them share one start time, 6 another, so only the id breaks their ties.
      const starts = Array.from({ length: 25 }, (_, i) =>
        i < 10 ? t0 : i < 16 ? t0 + HOUR : t0 - (i - 15) * 7 * 60_000,
      );
      created = [];
      for (const [i, start] of starts.entries()) {
        const spot = offset(c, (i % 5) * 5 - 10, Math.floor(i / 5) * 5 - 10);
        const event = await createEvent(server, host, {
          isPublic: true,
          title: `Page ${i}`,
          ...spot,
          startsAt: new Date(start).toISOString(),
          endsAt: new Date(start + HOUR).toISOString(),
        });
        created.push({ id: event.id, startsAt: event.startsAt });
      }
    });

    it('pages by start time then id with first and after, each event exactly once, ties included', async () => {
      const expected = [...created].sort(byStartThenId).map((e) => e.id);
      const { nodes, pages } = await pageThrough((after) => inBounds({ bounds, first: 7, after }), 7);
      expect(pages).toEqual([7, 7, 7, 4]);
      expect(nodes.map((n) => n.id)).toEqual(expected);
      expect(new Set(nodes.map((n) => n.id)).size).toBe(25);
      const sorted = [...nodes].sort(byStartThenId);
      expect(nodes).toEqual(sorted);
      // Paging through the tie group with a page size that splits it.
      const small = await pageThrough((after) => inBounds({ bounds, first: 3, after }), 3);
      expect(small.nodes.map((n) => n.id)).toEqual(expected);
    });

    it('allows up to 500 per page and refuses more', async () => {
      const all = await inBounds({ bounds, first: 500 });
      expect(all.edges).toHaveLength(25);
      expect(all.pageInfo.hasNextPage).toBe(false);
      const over = await viewer.gql(EventsInBoundsDocument, { bounds, first: 501 });
      expect(over.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
      expect(codes(await gql(server, EventsInBoundsDocument, { bounds, first: -1 }))).toEqual(['BAD_USER_INPUT']);
      const nearOver = await gql(server, EventsNearDocument, { ...c, radiusKm: 50, first: 501 });
      expect(nearOver.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
      expect((await near({ ...c, radiusKm: 50, first: 500 })).edges).toHaveLength(25);
    });

    it('refuses a cursor that is not from the list', async () => {
      for (const after of [
        'garbage',
        'WzEsMl0',
        Buffer.from('["2030-01-01T00:00:00.000Z","not-a-uuid"]').toString('base64url'),
      ]) {
        const result = await viewer.gql(EventsInBoundsDocument, { bounds, first: 5, after });
        expect(result.errors?.[0]?.extensions, after).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
      }
      expect(codes(await gql(server, EventsNearDocument, { ...c, radiusKm: 50, after: 'garbage' }))).toEqual([
        'BAD_USER_INPUT',
      ]);
      // A cursor of one list is not a cursor of the other.
      const boundsCursor = (await inBounds({ bounds, first: 2 })).pageInfo.endCursor!;
      expect(
        codes(await gql(server, EventsNearDocument, { ...c, radiusKm: 50, first: 2, after: boundsCursor })),
      ).toEqual(['BAD_USER_INPUT']);
      const nearCursor = (await near({ ...c, radiusKm: 50, first: 2 })).pageInfo.endCursor!;
      expect(codes(await gql(server, EventsInBoundsDocument, { bounds, first: 2, after: nearCursor }))).toEqual([
        'BAD_USER_INPUT',
      ]);
    });
  });

  it('refuses bad bounds', async () => {
    const ok = { south: 1, north: 2, west: 1, east: 2 };
    const south = await gql(server, EventsInBoundsDocument, { bounds: { ...ok, south: 3, north: 2 } });
    expect(south.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'bounds' });
    for (const bounds of [
      { ...ok, north: 95 },
      { ...ok, south: -95 },
      { ...ok, south: 95, north: 96 },
      { ...ok, east: 200 },
      { ...ok, west: -200 },
      { ...ok, west: 200 },
    ]) {
      const result = await gql(server, EventsInBoundsDocument, { bounds });
      expect(codes(result), JSON.stringify(bounds)).toEqual(['BAD_USER_INPUT']);
      expect(String(result.errors?.[0]?.extensions?.field), JSON.stringify(bounds)).toMatch(/^bounds/);
    }
    expect(codes(await gql(server, EventsInBoundsDocument, { bounds: ok }))).toEqual([]);
  });
});

describe('eventsNear', () => {
  const c = { latitude: -20, longitude: -60 };
  // Distances (km) and bearings of the fixtures; three share one spot to test ties.
  const layout: Array<[northKm: number, eastKm: number]> = [
    [0.3, 0.2],
    [2, -1],
    [-4, 3],
    [6, 6],
    [-10, -2],
    [0, 15],
    [15, 15],
    [-20, 20],
    [8, 8],
    [8, 8],
    [8, 8],
    [30, -30],
    [0, -48],
    [70, 0], // outside 50 km
    [-40, -40], // ≈ 56.6 km: outside
    [0, 120], // outside
  ];
  let created: Array<{ id: string } & Point> = [];

  beforeAll(async () => {
    created = [];
    for (const [n, e] of layout) {
      const event = await createEvent(server, host, { isPublic: true, ...offset(c, n, e) });
      created.push({ id: event.id, latitude: event.latitude, longitude: event.longitude });
    }
  });

  const expectedOrder = (radiusKm: number) =>
    created
      .map((e) => ({ id: e.id, d: haversineKm(c, e) }))
      .filter((e) => e.d <= radiusKm)
      .sort((a, b) => a.d - b.d || (a.id < b.id ? -1 : 1));

  it('lists events within the radius, nearest first', async () => {
    const found = await near({ ...c, radiusKm: 50, first: 500 });
    const distances = found.edges.map((e) => haversineKm(c, e.node));
    for (let i = 1; i < distances.length; i++) expect(distances[i]).toBeGreaterThanOrEqual(distances[i - 1] - 1e-9);
    for (const d of distances) expect(d).toBeLessThanOrEqual(50);
    const want = expectedOrder(50);
    expect(want).toHaveLength(13);
    expect(idsOf(found)).toEqual(want.map((e) => e.id));

    const smaller = await near({ ...c, radiusKm: 10, first: 500 });
    expect(idsOf(smaller)).toEqual(expectedOrder(10).map((e) => e.id));
    expect(smaller.edges.length).toBeLessThan(found.edges.length);
  });

  it('includes an event just inside the radius, due north and due south', async () => {
    const spot = { latitude: -45, longitude: 100 };
    // 30 m inside the rim (the great-circle distance uses a 6371 km Earth radius).
    const northward = await createEvent(server, host, { isPublic: true, ...offset(spot, 49.97, 0) });
    const southward = await createEvent(server, host, { isPublic: true, ...offset(spot, -49.97, 0) });
    const outside = await createEvent(server, host, { isPublic: true, ...offset(spot, 50.2, 0) });
    expect(haversineKm(spot, northward)).toBeCloseTo(49.97, 6);
    expect(haversineKm(spot, southward)).toBeCloseTo(49.97, 6);
    expect(haversineKm(spot, outside)).toBeGreaterThan(50);
    const found = idsOf(await near({ ...spot, radiusKm: 50 }));
    expect(found.sort()).toEqual([northward.id, southward.id].sort());
  });

  it('pages in distance order with ties broken by id, each event once', async () => {
    const want = expectedOrder(50).map((e) => e.id);
    const { nodes, pages } = await pageThrough((after) => near({ ...c, radiusKm: 50, first: 3, after }), 3);
    expect(pages).toEqual([3, 3, 3, 3, 1]);
    expect(nodes.map((n) => n.id)).toEqual(want);
    const two = await pageThrough((after) => near({ ...c, radiusKm: 50, first: 2, after }), 2);
    expect(two.nodes.map((n) => n.id)).toEqual(want);
  });

  it('finds events across the antimeridian', async () => {
    const across = await createEvent(server, host, { isPublic: true, latitude: 0, longitude: -179.9 });
    const sameSide = await createEvent(server, host, { isPublic: true, latitude: 0.1, longitude: 179.95 });
    await createEvent(server, host, { isPublic: true, latitude: 0, longitude: 179 }); // ≈ 100 km away
    const found = await near({ latitude: 0, longitude: 179.9, radiusKm: 50 });
    const centre = { latitude: 0, longitude: 179.9 };
    expect(haversineKm(centre, sameSide)).toBeLessThan(haversineKm(centre, across));
    expect(idsOf(found)).toEqual([sameSide.id, across.id]);
    expect(haversineKm(centre, across)).toBeCloseTo(22.24, 1);
    // And from the other side.
    expect(idsOf(await near({ latitude: 0, longitude: -179.95, radiusKm: 50 })).sort()).toEqual(
      [across.id, sameSide.id].sort(),
    );
  });

  it('refuses a bad radius or centre', async () => {
    for (const radiusKm of [0, -1, 501, 1e9]) {
      const result = await gql(server, EventsNearDocument, { ...c, radiusKm });
      expect(result.errors?.[0]?.extensions, String(radiusKm)).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'radiusKm',
      });
    }
    expect((await near({ ...c, radiusKm: 500, first: 1 })).edges).toHaveLength(1);
    for (const point of [
      { latitude: 91, longitude: 0 },
      { latitude: -91, longitude: 0 },
      { latitude: 0, longitude: 181 },
      { latitude: 0, longitude: -181 },
    ]) {
      expect(codes(await gql(server, EventsNearDocument, { ...point, radiusKm: 10 })), JSON.stringify(point)).toEqual([
        'BAD_USER_INPUT',
      ]);
    }
  });
});

/** Inserts public, published events around `center`, each with two attendees, two likes and a comment. */
async function insertBusyEvents(srv: TestServer, hostId: string, center: Point, count: number, pool: TestUser[]) {
  const prisma = srv.deps.prisma;
  const start = Date.now() + 3 * DAY;
  const events = Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    hostId,
    title: `Busy ${i}`,
    latitude: center.latitude + ((i % 20) - 10) * 0.004,
    longitude: center.longitude + (Math.floor(i / 20) - 5) * 0.004,
    startsAt: new Date(start + i * 60_000),
    endsAt: new Date(start + i * 60_000 + 2 * HOUR),
    isPublic: true,
    maxParticipants: 10,
    attendeeCount: 3,
  }));
  const pairOf = (i: number) => [pool[i % pool.length], pool[(i + 1) % pool.length]];
  await prisma.event.createMany({ data: events });
  await prisma.eventAttendee.createMany({
    data: events.flatMap((e, i) => pairOf(i).map((u) => ({ eventId: e.id, userId: u.id }))),
  });
  await prisma.eventLike.createMany({
    data: events.flatMap((e, i) => pairOf(i).map((u) => ({ eventId: e.id, userId: u.id }))),
  });
  await prisma.eventComment.createMany({
    data: events.map((e, i) => ({ eventId: e.id, authorId: pool[i % pool.length].id, body: `Comment ${i}` })),
  });
  return events;
}

describe('SQL statements per map query (N+1 guard)', () => {
  const small = { latitude: -30, longitude: 20 };
  const large = { latitude: -35, longitude: 30 };
  let busyHost: TestUser;

  beforeAll(async () => {
    const pool = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    busyHost = await createUser(server);
    pool.push(viewer);
    await insertBusyEvents(server, busyHost.id, small, 10, pool);
    await insertBusyEvents(server, busyHost.id, large, 200, pool);
  });

  const check = (page: EventsInBoundsQuery['eventsInBounds'], count: number) => {
    expect(page.edges).toHaveLength(count);
    for (const { node } of page.edges) {
      expect(node.attendees.edges).toHaveLength(2);
      expect(node).toMatchObject({
        attendeeCount: 3,
        likeCount: 2,
        commentCount: 1,
        shareCount: 0,
        host: { id: busyHost.id },
      });
      expect(node.host.reputation.averageRating).toBe(0);
      const viewerThere = node.attendees.edges.some((e) => e.node.id === viewer.id);
      expect(node.viewerIsAttending).toBe(viewerThere);
      expect(node.viewerHasLiked).toBe(viewerThere);
    }
    // The viewer is one of the two attendees (and likers) of every event i with i % 4 in {2, 3}.
    expect(page.edges.filter((e) => e.node.viewerIsAttending).length).toBe(
      Array.from({ length: count }, (_, i) => i % 4 >= 2).filter(Boolean).length,
    );
  };

  it('is the same for 10 events as for 200 in eventsInBounds', async () => {
    let few!: EventsInBoundsQuery['eventsInBounds'];
    let many!: EventsInBoundsQuery['eventsInBounds'];
    const fewCount = await countStatements(
      server,
      async () => (few = await inBounds({ bounds: box(small, 0.1), first: 500 })),
    );
    const manyCount = await countStatements(
      server,
      async () => (many = await inBounds({ bounds: box(large, 0.1), first: 500 })),
    );
    check(few, 10);
    check(many, 200);
    console.info(`eventsInBounds statements: 10 events → ${fewCount}, 200 events → ${manyCount}`);
    expect(fewCount).toBeGreaterThan(0);
    expect(manyCount).toBe(fewCount);
  });

  it('is the same for 10 events as for 200 in eventsNear', async () => {
    let few!: EventsInBoundsQuery['eventsInBounds'];
    let many!: EventsInBoundsQuery['eventsInBounds'];
    const fewCount = await countStatements(
      server,
      async () => (few = await near({ ...small, radiusKm: 30, first: 500 })),
    );
    const manyCount = await countStatements(
      server,
      async () => (many = await near({ ...large, radiusKm: 30, first: 500 })),
    );
    check(few, 10);
    check(many, 200);
    console.info(`eventsNear statements: 10 events → ${fewCount}, 200 events → ${manyCount}`);
    expect(fewCount).toBeGreaterThan(0);
    expect(manyCount).toBe(fewCount);
  });
});

describe('on 100,000 events', () => {
  const COUNT = 100_000;
  let big: TestServer;
  let bigHost: TestUser;
  let bigViewer: TestUser;
  /** The coordinates row i gets, computed with the same IEEE operations as the SQL below. */
  const spotOf = (i: number): Point => ({
    latitude: ((i * 7919) % 160_000) / 1000 - 80,
    longitude: ((i * 104_729) % 360_000) / 1000 - 180,
  });
  const berlin = { latitude: 52.52, longitude: 13.405 };
  const city: BoundsInput = { south: 52.4, north: 52.65, west: 13.1, east: 13.75 };

  beforeAll(async () => {
    // The bulk insert below is one statement far longer than a request's deadline.
    big = await startTestServer({ env: { DATABASE_QUERY_TIMEOUT_MS: '200000' } });
    [bigHost, bigViewer] = await Promise.all([createUser(big), createUser(big)]);
    const started = Date.now();
    await insertBulkEvents(big, bigHost.id, COUNT);
    console.info(`inserted ${COUNT} events and analyzed in ${Date.now() - started} ms`);
  }, 240_000);
  afterAll(async () => {
    await big?.close();
  }, 60_000);

  const planOf = (sql: Prisma.Sql) => explainPlan(big, sql);

  it('plans a city viewport on the bounding-box index, with no sequential scan of events', async () => {
    for (const viewerId of [bigViewer.id, null]) {
      const plan = await planOf(inBoundsSql(viewerId, city, null, 101));
      console.info(`EXPLAIN eventsInBounds (viewer ${viewerId ? 'signed in' : 'anonymous'}):\n${plan}`);
      expect(plan).toContain('events_bbox_idx');
      expect(plan).not.toMatch(/Seq Scan on events\b/);
    }
    // The planned page (src/schema/events/plans.ts): the same page, its events' columns, host and
    // avatar in the same statement, still found on the index.
    const planned = await planOf(
      inBoundsStatement(bigViewer.id, city, null, 201, null, {
        event: ['id', 'title', 'startsAt', 'spotsLeft', 'viewerIsAttending'],
        host: ['id', 'username', 'avatarKey'],
      }),
    );
    console.info(`EXPLAIN planned eventsInBounds page:\n${planned}`);
    expect(planned).toContain('events_bbox_idx');
    expect(planned).not.toMatch(/Seq Scan on events\b/);
    // Crossing the antimeridian uses the index for both halves.
    const fiji = await planOf(
      inBoundsSql(bigViewer.id, { south: -18.3, north: -17.5, west: 178.8, east: -179.8 }, null, 101),
    );
    console.info(`EXPLAIN eventsInBounds across the antimeridian:\n${fiji}`);
    expect(fiji).toContain('events_bbox_idx');
    expect(fiji).not.toMatch(/Seq Scan on events\b/);
  }, 60_000);

  it('plans eventsNear on the index too (the statement the API sends, captured from Prisma)', async () => {
    const captured: Array<{ query: string; params: string }> = [];
    // The client is created with query events (src/db); a second listener sees the same statements.
    const prisma = big.deps.prisma as unknown as {
      $on(event: 'query', cb: (e: { query: string; params: string }) => void): void;
    };
    prisma.$on('query', (e) => captured.push({ query: e.query, params: e.params }));
    await gqlOk(big, EventsNearDocument, { ...berlin, radiusKm: 20, first: 100 }, { token: bigViewer.accessToken });
    const statement = captured.find((s) => /\bdistance\b/.test(s.query) && /FROM events e/.test(s.query));
    expect(statement, 'the eventsNear statement was captured').toBeDefined();
    const params = JSON.parse(statement!.params) as unknown[];
    const rows = await big.deps.prisma.$queryRawUnsafe<Array<{ 'QUERY PLAN': string }>>(
      `EXPLAIN ${statement!.query}`,
      ...params,
    );
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    console.info(`EXPLAIN eventsNear:\n${plan}`);
    expect(plan).toContain('events_bbox_idx');
    expect(plan).not.toMatch(/Seq Scan on events\b/);
  }, 60_000);

  const numberOf = (title: string) => Number(title.replace('Bulk ', ''));

  it('answers eventsNear and eventsInBounds over HTTP with exactly the expected events', async () => {
    const radiusKm = 200;
    const expected = (publicOnly: boolean) =>
      Array.from({ length: COUNT }, (_, k) => k + 1)
        .filter((i) => !publicOnly || i % 2 === 0)
        .map((i) => ({ i, d: haversineKm(berlin, spotOf(i)) }))
        // Points within a hair of the rim may fall either side with another libm.
        .filter((e) => Math.abs(e.d - radiusKm) > 1e-6 && e.d < radiusKm)
        .sort((a, b) => a.d - b.d);

    for (const [token, publicOnly] of [
      [bigViewer.accessToken, true],
      [bigHost.accessToken, false],
      [undefined, true],
    ] as const) {
      const found = await gqlOk(big, EventsNearDocument, { ...berlin, radiusKm, first: 500 }, { token }).then(
        (d) => d.eventsNear,
      );
      const want = expected(publicOnly);
      expect(want.length).toBeGreaterThan(5);
      expect(found.pageInfo.hasNextPage).toBe(false);
      expect(found.edges.map((e) => numberOf(e.node.title))).toEqual(want.map((e) => e.i));
    }

    const wantInBox = Array.from({ length: COUNT }, (_, k) => k + 1)
      .filter((i) => i % 2 === 0)
      .filter((i) => {
        const p = spotOf(i);
        return p.latitude >= 51 && p.latitude <= 54 && p.longitude >= 11 && p.longitude <= 16;
      });
    expect(wantInBox.length).toBeGreaterThan(5);
    const { eventsInBounds } = await gqlOk(
      big,
      EventsInBoundsDocument,
      { bounds: { south: 51, north: 54, west: 11, east: 16 }, first: 500 },
      { token: bigViewer.accessToken },
    );
    // Row i starts i minutes from the insert, so start order is number order.
    expect(eventsInBounds.edges.map((e) => numberOf(e.node.title))).toEqual(wantInBox);
  }, 60_000);
});
