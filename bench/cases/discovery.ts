// Case 10: discovery on the 1,000,000-event world of case 4. The eventClusters service over
// continent viewports at zoom 4 and city viewports at zoom 12, and the searchEvents service
// (a page of 100) for a common word with and without bounds, through the app's Prisma client as
// a request calls them, each run followed by a primary-key lookup through the same client (the
// baseline); EXPLAIN (ANALYZE, BUFFERS) of their first statements goes into the notes. Then a full
// event's waitlist under 50 concurrent joinWaitlist and 10 concurrent leaves, through the API.
import pg from 'pg';
import { startBenchApp } from '../lib/app.ts';
import { gql, gqlOk, registerUser, registerUsers } from '../clients/gql.ts';
import type { BenchUser } from '../clients/gql.ts';
import type { BenchCase, Figure } from '../lib/types.ts';
import { cityViewport, mulberry32, seedWorld, stats, timed } from './bbox.ts';
import { clustersSql, eventClusters } from '../../src/services/events/clusters.ts';
import { searchEvents, searchSql } from '../../src/services/events/search.ts';
import type { PrismaClient } from '../../src/db/index.ts';
import type { Bounds } from '../../src/services/events/realtime.ts';

const CLUSTERS_TARGET_MS = 25;
const SEARCH_TARGET_MS = 20;
const WARM_UP = 20;
/** The common word: one event in ten carries it in its title (see the seed's topics). */
const COMMON_WORD = 'chess';

/** Continents as [south, west, north, east], jittered per run by up to 3°. */
const CONTINENTS: Array<[number, number, number, number]> = [
  [35, -11, 60, 31], // Europe
  [24, -125, 50, -66], // United States
  [-35, -75, 6, -35], // South America
  [18, 95, 46, 146], // East Asia
  [-35, 112, -10, 154], // Australia
  [-35, -18, 30, 50], // Africa
];

function continentViewport(random: () => number): Bounds {
  const [s, w, n, e] = CONTINENTS[Math.floor(random() * CONTINENTS.length)]!;
  const j = () => (random() - 0.5) * 6;
  return { south: s + j(), west: w + j(), north: n + j(), east: e + j() };
}

interface Timing {
  samples: number[];
  pk: number[];
  rows: number[];
}

/**
 * Times a service call (its statements through the app's Prisma client, as a request makes
 * them) over `runs` viewports, each run followed by a primary-key lookup through the same client.
 */
async function timeCall(
  prisma: PrismaClient,
  call: (b: Bounds) => Promise<number>,
  viewport: () => Bounds,
  runs: number,
  ids: string[],
): Promise<Timing> {
  const timing: Timing = { samples: [], pk: [], rows: [] };
  for (let i = 0; i < WARM_UP + runs; i++) {
    const [ms, rows] = await timed(() => call(viewport()));
    const [pkMs] = await timed(() =>
      prisma.event.findUnique({ where: { id: ids[i % ids.length]! }, select: { id: true } }),
    );
    if (i < WARM_UP) continue;
    timing.samples.push(ms);
    timing.pk.push(pkMs);
    timing.rows.push(rows);
  }
  return timing;
}

async function explain(client: pg.Client, sql: { text: string; values: unknown[] }, index: string) {
  const plan = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql.text}`, sql.values)).rows
    .map((r) => r['QUERY PLAN'])
    .join('\n');
  return { plan, usesIndex: new RegExp(`\\b(?:${index})\\b`).test(plan) && !/Seq Scan on events\b/.test(plan) };
}

function latencyFigure(name: string, t: Timing, target: number): Figure {
  const s = stats(t.samples);
  const k = stats(t.pk);
  return {
    name: `${name} p95`,
    value: s.p95,
    unit: 'ms',
    baseline: { name: 'primary-key lookup p95', value: k.p95 },
    ratio: s.p95 / k.p95,
    ratioMeaning: 'multiples of the primary-key lookup’s time, lower is better',
    target: `p95 ≤ ${target} ms`,
    goal: { on: 'value', op: '<=', threshold: target },
    met: s.p95 <= target,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** 50 concurrent joinWaitlist and 10 concurrent leaves on a full event, through the API. */
async function waitlistRace(graphqlUrl: string, client: pg.Client) {
  const host = await registerUser(graphqlUrl, 'wl_host');
  await client.query('UPDATE users SET is_certified = true WHERE id = $1::uuid', [host.id]);
  const start = new Date(Date.now() + 3_600_000);
  const { createEvent } = await gqlOk<{ createEvent: { id: string } }>(
    graphqlUrl,
    'mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }',
    {
      input: {
        title: 'Full house',
        latitude: 48.1,
        longitude: 11.6,
        isPublic: true,
        maxParticipants: 11,
        startsAt: start.toISOString(),
        endsAt: new Date(start.getTime() + 7_200_000).toISOString(),
      },
    },
    host.accessToken,
  );
  const eventId = createEvent.id;
  const guests = await registerUsers(graphqlUrl, 10, 'wl_guest');
  for (const g of guests)
    await gqlOk(graphqlUrl, 'mutation($id: ID!) { joinEvent(id: $id) { id } }', { id: eventId }, g.accessToken);
  const crowd = await registerUsers(graphqlUrl, 50, 'wl_crowd');
  let direct = 0;
  // A client queues; when a spot is free at its turn it joins instead (and queues again if that spot went first).
  const arrive = async (u: BenchUser) => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const queued = await gql(
        graphqlUrl,
        'mutation($id: ID!) { joinWaitlist(eventId: $id) { id } }',
        { id: eventId },
        u.accessToken,
      );
      if (!queued.errors) return;
      const joined = await gql(
        graphqlUrl,
        'mutation($id: ID!) { joinEvent(id: $id) { id } }',
        { id: eventId },
        u.accessToken,
      );
      if (!joined.errors) {
        direct += 1;
        return;
      }
    }
    throw new Error('a joiner neither queued nor joined in 20 attempts');
  };
  const leave = (g: BenchUser) =>
    gqlOk(graphqlUrl, 'mutation($id: ID!) { leaveEvent(id: $id) { id } }', { id: eventId }, g.accessToken);
  const [ms] = await timed(() => Promise.all([...crowd.map(arrive), ...guests.map(leave)]));

  const {
    rows: [event],
  } = await client.query<{ attendee_count: number; max_participants: number }>(
    'SELECT attendee_count, max_participants FROM events WHERE id = $1::uuid',
    [eventId],
  );
  const {
    rows: [{ n: attendeeRows }],
  } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM event_attendees WHERE event_id = $1::uuid', [
    eventId,
  ]);
  const {
    rows: [{ n: promoted }],
  } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM notifications WHERE event_id = $1::uuid AND kind = 'WAITLIST_PROMOTED'`,
    [eventId],
  );
  const waiting = (
    await client.query<{ user_id: string }>(
      'SELECT user_id FROM event_waitlist WHERE event_id = $1::uuid ORDER BY id',
      [eventId],
    )
  ).rows.map((r) => r.user_id);
  // Each one's position as the API reports it, against the queue's order.
  const positions = await Promise.all(
    waiting.map(async (id) => {
      const user = crowd.find((u) => u.id === id)!;
      const { event: e } = await gqlOk<{ event: { viewerWaitlistPosition: number | null } }>(
        graphqlUrl,
        'query($id: ID!) { event(id: $id) { viewerWaitlistPosition } }',
        { id: eventId },
        user.accessToken,
      );
      return e.viewerWaitlistPosition;
    }),
  );
  const exact = positions.every((p, i) => p === i + 1);
  return { ms, event: event!, attendeeRows, promoted, direct, waiting: waiting.length, exact };
}

export const run: BenchCase = async (env) => {
  const events = 1_000_000;
  const runs = env.quick ? 60 : 200;
  const bench = await startBenchApp({ databaseUrl: env.databaseUrl, redisUrl: env.redisUrl });
  const client = new pg.Client({ connectionString: bench.databaseUrl });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const viewer = await registerUser(bench.graphqlUrl, 'discovery_viewer');
    env.log(`seeding ${events.toLocaleString('en-US')} events (case 4's world)`);
    const seeding = await seedWorld(client, events, viewer.id);
    env.log(
      `  inserted in ${(seeding.insertMs / 1000).toFixed(1)} s, VACUUM ANALYZE ${(seeding.vacuumMs / 1000).toFixed(1)} s`,
    );
    const ids = (
      await client.query<{ id: string }>('SELECT id FROM events TABLESAMPLE SYSTEM (0.5) LIMIT 2000')
    ).rows.map((r) => r.id);
    const random = mulberry32(20261203);

    env.log(`timing eventClusters: ${runs} continents at zoom 4, ${runs} cities at zoom 12`);
    const deps = { prisma: bench.app.deps.prisma };
    const clustered = (zoom: number) => async (b: Bounds) =>
      (await eventClusters(deps, viewer.id, b, zoom, null)).length;
    const searched = (inBounds: boolean) => async (b: Bounds) =>
      (await searchEvents(deps, viewer.id, COMMON_WORD, inBounds ? b : null, null, 100)).items.length;
    const continent = await timeCall(deps.prisma, clustered(4), () => continentViewport(random), runs, ids);
    const city = await timeCall(deps.prisma, clustered(12), () => cityViewport(random), runs, ids);
    env.log(`timing searchEvents "${COMMON_WORD}": ${runs} without bounds, ${runs} in city viewports`);
    const anywhere = await timeCall(deps.prisma, searched(false), () => cityViewport(random), runs, ids);
    const nearby = await timeCall(deps.prisma, searched(true), () => cityViewport(random), runs, ids);

    const europe = { south: 35, west: -11, north: 60, east: 31 };
    const berlin = { south: 52.45, west: 13.25, north: 52.57, east: 13.55 };
    const plans = {
      continent: await explain(client, clustersSql(viewer.id, europe, 4, null), 'event_tiles_pkey'),
      city: await explain(client, clustersSql(viewer.id, berlin, 12, null), 'events_bbox_idx'),
      anywhere: await explain(
        client,
        searchSql(viewer.id, COMMON_WORD, null, null, 101),
        'events_starts_at_idx|events_search_title_idx',
      ),
      nearby: await explain(
        client,
        searchSql(viewer.id, COMMON_WORD, berlin, null, 101),
        'events_bbox_idx|events_search_title_idx|events_search_idx',
      ),
    };
    const {
      rows: [{ n: matches }],
    } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM events WHERE search_vector @@ websearch_to_tsquery('english', $1)`,
      [COMMON_WORD],
    );

    env.log('waitlist: 50 concurrent joinWaitlist and 10 concurrent leaves');
    const race = await waitlistRace(bench.graphqlUrl, client);
    const raceOk =
      race.exact &&
      race.event.attendee_count === race.event.max_participants &&
      race.attendeeRows + 1 === race.event.attendee_count &&
      race.promoted + race.direct === 10;

    const figures: Figure[] = [
      latencyFigure('eventClusters, a continent at zoom 4', continent, CLUSTERS_TARGET_MS),
      latencyFigure('eventClusters, a city at zoom 12', city, CLUSTERS_TARGET_MS),
      latencyFigure(`searchEvents "${COMMON_WORD}", no bounds`, anywhere, SEARCH_TARGET_MS),
      latencyFigure(`searchEvents "${COMMON_WORD}", city bounds`, nearby, SEARCH_TARGET_MS),
      {
        name: 'EXPLAIN uses the indexes (clusters: event_tiles or the bbox index; search: start-time order or a search index)',
        value: Object.values(plans).filter((p) => p.usesIndex).length,
        unit: `of ${Object.keys(plans).length} plans`,
        target: 'all',
        met: Object.values(plans).every((p) => p.usesIndex),
      },
      {
        name: 'waitlist race: spots filled (promoted + joined while free), with positions exact and capacity kept',
        value: race.promoted + race.direct,
        unit: 'of 10 spots',
        target: '10, positions exact, capacity never exceeded',
        met: raceOk,
      },
    ];
    const notes = [
      `${events.toLocaleString('en-US')} events seeded as in case 4 (INSERT ${(seeding.insertMs / 1000).toFixed(1)} s, the search trigger included; VACUUM ANALYZE ${(seeding.vacuumMs / 1000).toFixed(1)} s). "${COMMON_WORD}" matches ${matches.toLocaleString('en-US')} of them. ${runs} runs per figure after ${WARM_UP} warm-up runs, one pg connection, signed in; each run is a call of the service (eventClusters; searchEvents, a page of 100: one statement per tier and segment it reads) through the app's Prisma client, with a primary-key lookup through it after each run as the baseline.`,
      `Clusters per answer, median: continent ${median(continent.rows)}, city ${median(city.rows)}. Search pages hold 100 events.`,
      `Waitlist race (${race.ms.toFixed(0)} ms through the API): ${race.promoted} promoted from the line, ${race.direct} joined a spot free at their turn; attendee_count ${race.event.attendee_count} of ${race.event.max_participants}, ${race.attendeeRows} guest rows; ${race.waiting} still waiting, positions ${race.exact ? 'exactly 1…' + race.waiting : 'NOT exact'}.`,
      `EXPLAIN (ANALYZE, BUFFERS) eventClusters, Europe at zoom 4:\n${plans.continent.plan}`,
      `EXPLAIN (ANALYZE, BUFFERS) eventClusters, Berlin at zoom 12:\n${plans.city.plan}`,
      `EXPLAIN (ANALYZE, BUFFERS) searchEvents "${COMMON_WORD}", no bounds:\n${plans.anywhere.plan}`,
      `EXPLAIN (ANALYZE, BUFFERS) searchEvents "${COMMON_WORD}", Berlin:\n${plans.nearby.plan}`,
    ];
    return { id: '10', title: 'Discovery', figures, notes, seconds: 0 };
  } finally {
    await client.end().catch(() => undefined);
    await bench.stop();
  }
};
