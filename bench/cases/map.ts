// Cases 1 and 2: the map screen's query, eventsInBounds with host, avatar, counts and the
// viewer's flag.
//   1. Throughput over HTTP (autocannon) of the GraphQL API, with and without automatic
//      persisted queries, next to a hand-written endpoint in the same process that runs the
//      equivalent SQL with `pg` and JSON.stringifies the same shape. Plus a CPU profile.
//   2. SQL statements per map request at 10, 100 and 500 events in the viewport.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { startBenchApp } from '../lib/app.ts';
import type { BenchApp } from '../lib/app.ts';
import { postOk, registerUser } from '../clients/gql.ts';
import { profileDuring, profileNote, summarizeProfile } from '../lib/profile.ts';
import type { BenchCase, BenchEnv, Figure } from '../lib/types.ts';
import type { TokenIssuer } from '../../src/auth/tokens.ts';

interface Bounds {
  south: number;
  west: number;
  north: number;
  east: number;
}

/** The map page: what the app asks for when the map settles on a viewport. */
const MAP_QUERY = `query MapPage($bounds: BoundsInput!, $first: Int) {
  eventsInBounds(bounds: $bounds, first: $first) {
    edges { node { id title latitude longitude startsAt attendeeCount spotsLeft viewerIsAttending host { id username avatarUrl } } }
  }
}`;
const MAP_QUERY_HASH = createHash('sha256').update(MAP_QUERY).digest('hex');

const BERLIN: Bounds = { south: 52.3, west: 13.1, north: 52.7, east: 13.7 };
const PARIS: Bounds = { south: 48.7, west: 2.1, north: 49.0, east: 2.6 };
const PAGE = 200;
const CONNECTIONS = 16;
/** What src/db/index.ts gives the app's pg.Pool (src/app.ts passes no poolSize). */
const APP_POOL_SIZE = 10;
const HOSTS = 60;

// ---- seeding ---------------------------------------------------------------------------

/**
 * A pool on the bench database. Connections the server ends (the database dropped on Ctrl-C)
 * surface as 'error' events on idle clients; without a listener they would crash the run.
 */
function openPool(databaseUrl: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max });
  pool.on('error', () => undefined);
  return pool;
}

/** Hosts with a primary profile image each: the avatar the map shows. */
async function seedHosts(db: pg.Pool, count: number): Promise<void> {
  await db.query(
    `INSERT INTO users (id, username, password_hash, full_name, updated_at)
     SELECT gen_random_uuid(), 'host_' || g, 'not-a-login', 'Host ' || g, now() FROM generate_series(1, $1::int) g`,
    [count],
  );
  await db.query(
    `INSERT INTO images (id, user_id, key, type, is_primary, size_bytes, mime_type)
     SELECT gen_random_uuid(), u.id, 'users/' || u.id || '/images/profile_1763800000000.webp', 'PROFILE', true, 48213, 'image/webp'
     FROM users u WHERE u.username LIKE 'host\\_%'`,
  );
}

interface EventBatch {
  count: number;
  /** Public and published (visible to everyone) unless said otherwise. */
  status?: 'PUBLISHED' | 'DRAFT';
  isPublic?: boolean;
  /** The viewer joins every n-th event of the batch (viewerIsAttending). */
  viewer?: { id: string; every: number };
}

/** Inserts events strictly inside `bounds`, hosted round-robin by the seeded hosts; returns their ids. */
async function seedEvents(db: pg.Pool, bounds: Bounds, batch: EventBatch): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO events (id, host_id, title, latitude, longitude, starts_at, ends_at, is_public, type, status,
                         max_participants, attendee_count, updated_at)
     SELECT gen_random_uuid(), h.ids[1 + g % h.n], 'Meetup ' || g,
            $1::float8 + ($2::float8 - $1::float8) * (0.01 + 0.98 * random()),
            $3::float8 + ($4::float8 - $3::float8) * (0.01 + 0.98 * random()),
            now() + g * interval '17 minutes', now() + g * interval '17 minutes' + interval '2 hours',
            $6::boolean, (ARRAY['STUDY','PARTY','BUSINESS','OTHER'])[1 + g % 4]::"EventType", $7::"EventStatus",
            20, 1 + g % 20, now()
     FROM generate_series(1, $5::int) g,
          (SELECT array_agg(id ORDER BY username) AS ids, count(*)::int AS n FROM users WHERE username LIKE 'host\\_%') h
     RETURNING id`,
    [
      bounds.south,
      bounds.north,
      bounds.west,
      bounds.east,
      batch.count,
      batch.isPublic ?? true,
      batch.status ?? 'PUBLISHED',
    ],
  );
  const ids = rows.map((r) => r.id);
  if (batch.viewer) {
    const { id: viewerId, every } = batch.viewer;
    await db.query(`INSERT INTO event_attendees (event_id, user_id) SELECT unnest($1::uuid[]), $2::uuid`, [
      ids.filter((_, i) => i % every === 0),
      viewerId,
    ]);
  }
  return ids;
}

// ---- the hand-written baseline -----------------------------------------------------------

/**
 * The same page as MAP_QUERY with the same visibility rule (src/services/events/visibility.ts),
 * written by hand as one statement.
 */
const RAW_MAP_SQL = `
  SELECT e.id, e.title, e.latitude, e.longitude, e.starts_at, e.attendee_count,
         GREATEST(0, e.max_participants - e.attendee_count) AS spots_left,
         EXISTS (SELECT 1 FROM event_attendees a WHERE a.event_id = e.id AND a.user_id = $5) AS viewer_is_attending,
         h.id AS host_id, h.username AS host_username, img.key AS avatar_key
  FROM events e
  JOIN users h ON h.id = e.host_id
  LEFT JOIN images img ON img.user_id = h.id AND img.is_primary
  WHERE e.latitude BETWEEN $1 AND $2 AND e.longitude BETWEEN $3 AND $4
    AND e.status = 'PUBLISHED'
    AND ((e.is_public AND e.status <> 'DRAFT') OR e.host_id = $5 OR (e.status <> 'DRAFT' AND (
         EXISTS (SELECT 1 FROM event_attendees a WHERE a.event_id = e.id AND a.user_id = $5)
      OR EXISTS (SELECT 1 FROM event_invitations i WHERE i.event_id = e.id AND i.user_id = $5 AND i.declined_at IS NULL))))
  ORDER BY e.starts_at, e.id
  LIMIT $6`;

interface RawRow {
  id: string;
  title: string;
  latitude: number;
  longitude: number;
  starts_at: Date;
  attendee_count: number;
  spots_left: number;
  viewer_is_attending: boolean;
  host_id: string;
  host_username: string;
  avatar_key: string | null;
}

interface RawEndpoint {
  url: string;
  stop(): Promise<void>;
}

/**
 * GET /map?south=&west=&north=&east=&first= with the same bearer token: verifies it with the
 * app's token issuer (the API does too), runs RAW_MAP_SQL on a pool of the app's size, and
 * answers the GraphQL response's shape. Viewports crossing the antimeridian are not handled;
 * the benchmark's do not cross it.
 */
async function startRawEndpoint(databaseUrl: string, tokens: TokenIssuer, filesBaseUrl: string): Promise<RawEndpoint> {
  const pool = openPool(databaseUrl, APP_POOL_SIZE);
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://raw');
      const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (url.pathname !== '/map' || !token) {
        res.writeHead(404).end();
        return;
      }
      const viewer = await tokens.verify(token);
      const n = (key: string) => Number(url.searchParams.get(key));
      const first = n('first');
      const { rows } = await pool.query<RawRow>(RAW_MAP_SQL, [
        n('south'),
        n('north'),
        n('west'),
        n('east'),
        viewer.userId,
        first + 1,
      ]);
      const edges = rows.slice(0, first).map((r) => ({
        node: {
          id: r.id,
          title: r.title,
          latitude: r.latitude,
          longitude: r.longitude,
          startsAt: r.starts_at,
          attendeeCount: r.attendee_count,
          spotsLeft: r.spots_left,
          viewerIsAttending: r.viewer_is_attending,
          host: {
            id: r.host_id,
            username: r.host_username,
            avatarUrl: r.avatar_key === null ? null : `${filesBaseUrl}/${r.avatar_key}`,
          },
        },
      }));
      const body = JSON.stringify({ data: { eventsInBounds: { edges } } });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
}

// ---- load ------------------------------------------------------------------------------

interface Target {
  name: string;
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

interface Load {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  /** Main-thread (event loop) busy time per request: the API's CPU cost, the load generator's excluded. */
  busyMsPerRequest: number;
}

/**
 * One autocannon run. The load generator runs in a worker thread, so it does not take the
 * API's event loop (client and API on one thread would understate the difference between
 * the API and the baseline); any failed request invalidates the run.
 */
async function hammer(target: Target, seconds: number): Promise<Load> {
  const loop = performance.eventLoopUtilization();
  const result = await autocannon({
    url: target.url,
    method: target.method,
    headers: target.headers,
    body: target.body,
    connections: CONNECTIONS,
    duration: seconds,
    workers: 1,
  });
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed)
    throw new Error(
      `${target.name}: ${failed} of ${result.requests.total} requests failed (${result.non2xx} non-2xx, ${result.errors} errors)`,
    );
  const busyMs = performance.eventLoopUtilization(loop).active;
  return {
    requests: result.requests.total,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    busyMsPerRequest: busyMs / result.requests.total,
  };
}

/** Rounds alternate between the targets, so drift from other work on the machine hits all alike. */
async function measureAlternating(
  targets: Target[],
  rounds: number,
  seconds: number,
  log: (m: string) => void,
): Promise<Measured> {
  const loads = new Map<string, Load[]>(targets.map((t) => [t.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const target of targets) {
      const load = await hammer(target, seconds);
      log(
        `  ${target.name}, round ${round + 1}: ${(load.requests / load.seconds).toFixed(0)} req/s, p50 ${load.p50} ms, p99 ${load.p99} ms`,
      );
      loads.get(target.name)!.push(load);
    }
  }
  return new Map(
    [...loads].map(([name, runs]) => {
      const mean = (pick: (l: Load) => number) => runs.reduce((s, l) => s + pick(l), 0) / runs.length;
      const rps = runs.reduce((s, l) => s + l.requests, 0) / runs.reduce((s, l) => s + l.seconds, 0);
      return [
        name,
        { rps, p50: mean((l) => l.p50), p99: mean((l) => l.p99), busyMsPerRequest: mean((l) => l.busyMsPerRequest) },
      ];
    }),
  );
}

// ---- case 1 ----------------------------------------------------------------------------

interface MapScene {
  bench: BenchApp;
  viewer: { id: string; token: string };
}

/** The API on a fresh database with hosts (avatars) and the viewer who looks at the map. */
async function startScene(env: BenchEnv): Promise<MapScene> {
  const bench = await startBenchApp({ databaseUrl: env.databaseUrl, redisUrl: env.redisUrl });
  try {
    const viewer = await registerUser(bench.graphqlUrl, 'map_viewer').then((u) => ({ id: u.id, token: u.accessToken }));
    const db = openPool(bench.databaseUrl, 2);
    try {
      await seedHosts(db, HOSTS);
    } finally {
      await db.end();
    }
    return { bench, viewer };
  } catch (error) {
    await bench.stop();
    throw error;
  }
}

const mapBody = (bounds: Bounds, first: number) => ({ query: MAP_QUERY, variables: { bounds, first } });
/** The APQ form: the same variables and only the document's hash. */
const persistedBody = (bounds: Bounds, first: number) => ({
  variables: { bounds, first },
  extensions: { persistedQuery: { version: 1, sha256Hash: MAP_QUERY_HASH } },
});
const rawMapUrl = (raw: RawEndpoint, bounds: Bounds, first: number) =>
  `${raw.url}/map?${new URLSearchParams(Object.entries({ ...bounds, first }).map(([k, v]) => [k, String(v)]))}`;
type MapPage = { eventsInBounds: { edges: Array<{ node: { id: string } }> } };

/** Both endpoints must answer the same page before their speeds mean anything. */
async function checkSameAnswer(scene: MapScene, raw: RawEndpoint, seededIds: string[]): Promise<void> {
  const auth = { authorization: `Bearer ${scene.viewer.token}` };
  const api = await postOk<MapPage>(scene.bench.graphqlUrl, mapBody(BERLIN, PAGE), scene.viewer.token);
  const res = await fetch(rawMapUrl(raw, BERLIN, PAGE), { headers: auth });
  const baseline = (await res.json()) as { data: MapPage };
  const apiIds = api.eventsInBounds.edges.map((e) => e.node.id);
  const rawIds = baseline.data.eventsInBounds.edges.map((e) => e.node.id);
  if (apiIds.length !== PAGE || !isDeepStrictEqual(apiIds, rawIds)) {
    throw new Error(
      `the API and the baseline disagree: ${apiIds.length} vs ${rawIds.length} events, same order: ${isDeepStrictEqual(apiIds, rawIds)}`,
    );
  }
  if (!isDeepStrictEqual([...apiIds].sort(), [...seededIds].sort()))
    throw new Error('the page is not the 200 seeded visible events');
  if (!isDeepStrictEqual(api, baseline.data))
    throw new Error('same events, but the nodes differ between the API and the baseline');
}

/** Registers the document with Apollo's APQ (the first request carries both query and hash). */
async function registerPersistedQuery(scene: MapScene): Promise<void> {
  await postOk(scene.bench.graphqlUrl, { ...persistedBody(BERLIN, PAGE), query: MAP_QUERY }, scene.viewer.token);
  // Proves the hash alone now works, before autocannon relies on it.
  await postOk(scene.bench.graphqlUrl, persistedBody(BERLIN, PAGE), scene.viewer.token);
}

function targetsFor(scene: MapScene, raw: RawEndpoint): Target[] {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${scene.viewer.token}` };
  return [
    { name: 'raw pg + JSON.stringify', url: rawMapUrl(raw, BERLIN, PAGE), method: 'GET', headers },
    {
      name: 'GraphQL',
      url: scene.bench.graphqlUrl,
      method: 'POST',
      headers,
      body: JSON.stringify(mapBody(BERLIN, PAGE)),
    },
    {
      name: 'GraphQL + APQ',
      url: scene.bench.graphqlUrl,
      method: 'POST',
      headers,
      body: JSON.stringify(persistedBody(BERLIN, PAGE)),
    },
  ];
}

/** SQL statements one map request costs, and their text, from the app's Prisma query events. */
async function statementsOf(
  scene: MapScene,
  request: () => Promise<unknown>,
): Promise<{ count: number; texts: string[] }> {
  const texts: string[] = [];
  const listen = (e: { query: string }) => texts.push(e.query.replace(/\s+/g, ' ').trim());
  const prisma = scene.bench.app.deps.prisma as unknown as {
    $on(event: 'query', cb: (e: { query: string }) => void): void;
  };
  prisma.$on('query', listen);
  const before = scene.bench.app.deps.db.statements.count;
  await request();
  const count = scene.bench.app.deps.db.statements.count - before;
  // Prisma offers no way to remove a listener; later requests' texts are simply not read.
  return { count, texts: texts.slice(0, count) };
}

/** The throughput page: 200 visible events in Berlin, 30 hidden ones among them, 300 in Paris. */
async function seedThroughputScene(scene: MapScene): Promise<string[]> {
  const db = openPool(scene.bench.databaseUrl, 2);
  try {
    const visible = await seedEvents(db, BERLIN, { count: PAGE, viewer: { id: scene.viewer.id, every: 3 } });
    // In the viewport but not visible to the viewer: the visibility rule has work to do.
    await seedEvents(db, BERLIN, { count: 15, status: 'DRAFT' });
    await seedEvents(db, BERLIN, { count: 15, isPublic: false });
    await seedEvents(db, PARIS, { count: 300 });
    await db.query('ANALYZE');
    return visible;
  } finally {
    await db.end();
  }
}

type Measured = Map<string, { rps: number; p50: number; p99: number; busyMsPerRequest: number }>;

function throughputFigures(targets: Target[], loads: Measured): Figure[] {
  const baseName = targets[0]!.name;
  const base = loads.get(baseName)!;
  return targets.slice(1).flatMap((target): Figure[] => {
    const load = loads.get(target.name)!;
    const ratio = load.rps / base.rps;
    return [
      {
        name: `map page (200 events), ${target.name}`,
        value: load.rps,
        unit: 'req/s',
        baseline: { name: baseName, value: base.rps },
        ratio,
        ratioMeaning:
          'req/s as a share of the hand-written baseline’s, higher is better; latency ratios are multiples of the baseline’s, lower is better',
        target: '≥ 50% of raw req/s',
        goal: { on: 'ratio', op: '>=', threshold: 0.5 },
        met: ratio >= 0.5,
      },
      {
        name: `${target.name} p50 latency`,
        value: load.p50,
        unit: 'ms',
        baseline: { name: baseName, value: base.p50 },
        ratio: load.p50 / base.p50,
      },
      {
        name: `${target.name} p99 latency`,
        value: load.p99,
        unit: 'ms',
        baseline: { name: baseName, value: base.p99 },
        ratio: load.p99 / base.p99,
      },
    ];
  });
}

export const runThroughput: BenchCase = async (env) => {
  // Short alternating rounds: on this shared machine, load from elsewhere then hits every target alike.
  const seconds = env.quick ? 3 : 4;
  const rounds = env.quick ? 1 : 3;
  const profileSeconds = env.quick ? 2 : 4;
  const scene = await startScene(env);
  let raw: RawEndpoint | undefined;
  try {
    const seeded = await seedThroughputScene(scene);
    raw = await startRawEndpoint(scene.bench.databaseUrl, scene.bench.app.deps.tokens, `${scene.bench.url}/files`);
    await checkSameAnswer(scene, raw, seeded);
    await registerPersistedQuery(scene);
    const statements = await statementsOf(scene, () =>
      postOk(scene.bench.graphqlUrl, mapBody(BERLIN, PAGE), scene.viewer.token),
    );

    const targets = targetsFor(scene, raw);
    env.log(`warming up (${targets.length} × ${env.quick ? 1 : 2} s)`);
    for (const target of targets) await hammer(target, env.quick ? 1 : 2);
    env.log(`measuring: ${rounds} round(s) × ${targets.length} targets × ${seconds} s, ${CONNECTIONS} connections`);
    const loads = await measureAlternating(targets, rounds, seconds, env.log);
    // Profiled on its own run: the profiler's overhead stays out of the measured figures.
    env.log('profiling the GraphQL target');
    const profile = summarizeProfile(await profileDuring(() => hammer(targets[1]!, profileSeconds)));

    const figures = throughputFigures(targets, loads);
    const notes = [
      `${CONNECTIONS} connections, autocannon in a worker thread of the same process; ${rounds} alternating round(s) of ${seconds} s per target after a warm-up. ` +
        `Viewport of exactly ${PAGE} visible events (plus 30 hidden ones inside and 300 elsewhere), ${HOSTS} hosts with avatars, the viewer attends every third event. ` +
        `Both endpoints were checked to return identical JSON before measuring. The baseline verifies the same JWT and uses a pg.Pool of ${APP_POOL_SIZE} like the app.`,
      `Main-thread busy time per request (event-loop utilization × time ÷ requests): ` +
        targets.map((t) => `${t.name} ${loads.get(t.name)!.busyMsPerRequest.toFixed(2)} ms`).join(', ') +
        '. Each target saturates the event loop, so req/s is about the inverse of this cost; the API spends it as the profile below shows.',
      `The API ran ${statements.count} SQL statements per request (full text under case 2):\n${statements.texts.map((t, i) => `${i + 1}. ${t.length > 400 ? `${t.slice(0, 400)}…` : t}`).join('\n')}`,
      profileNote(`CPU profile of the API process during ${profileSeconds} s of the GraphQL target`, profile),
      ...figures
        .filter((f) => f.met === false)
        .map(
          (f) =>
            `Missed: ${f.name} reached ${(f.ratio! * 100).toFixed(0)}% of the baseline’s req/s, ${((0.5 - f.ratio!) * 100).toFixed(0)} points short of 50%; see the profile for what limits it.`,
        ),
    ];
    return { id: '1', title: 'Map query throughput', figures, notes, seconds: 0 };
  } finally {
    await raw?.stop();
    await scene.bench.stop();
  }
};

// ---- case 2 ----------------------------------------------------------------------------

/** Three viewports far apart, one per size, so each query sees exactly its own events. */
const SIZES: Array<{ events: number; bounds: Bounds }> = [
  { events: 10, bounds: { south: 40.3, west: -3.9, north: 40.6, east: -3.5 } },
  { events: 100, bounds: { south: 41.8, west: 12.3, north: 42.0, east: 12.7 } },
  { events: 500, bounds: { south: 51.3, west: -0.4, north: 51.7, east: 0.2 } },
];

export const runStatementCount: BenchCase = async (env) => {
  const scene = await startScene(env);
  try {
    const db = openPool(scene.bench.databaseUrl, 2);
    try {
      for (const size of SIZES)
        await seedEvents(db, size.bounds, { count: size.events, viewer: { id: scene.viewer.id, every: 3 } });
      await db.query('ANALYZE');
    } finally {
      await db.end();
    }
    const counts: number[] = [];
    const texts: string[][] = [];
    for (const size of SIZES) {
      const request = () => postOk<MapPage>(scene.bench.graphqlUrl, mapBody(size.bounds, 500), scene.viewer.token);
      const page = await request();
      if (page.eventsInBounds.edges.length !== size.events)
        throw new Error(`expected ${size.events} events, got ${page.eventsInBounds.edges.length}`);
      const measured = await statementsOf(scene, request);
      env.log(`  ${size.events} events: ${measured.count} statements`);
      counts.push(measured.count);
      texts.push(measured.texts);
    }
    const base = counts[0]!;
    const figures: Figure[] = SIZES.map((size, i) => ({
      name: `statements per map request, ${size.events} events`,
      value: counts[i]!,
      unit: 'statements',
      baseline: { name: '10 events', value: base },
      ratio: counts[i]! / base,
      ratioMeaning: 'statements relative to the 10-event request; 1 means constant',
      target: 'constant (= 10-event count)',
      goal: { on: 'ratio', op: '<=', threshold: 1 },
      met: counts[i] === base,
    }));
    const notes = [
      'Counted with the app’s own statement counter (Prisma query events; what tests/helpers/client.ts countStatements uses), signed in, first: 500, one request after a warm-up request.',
      `Statements of the 500-event request:\n${texts[2]!.map((t, i) => `${i + 1}. ${t}`).join('\n')}`,
    ];
    return { id: '2', title: 'SQL statements per map request', figures, notes, seconds: 0 };
  } finally {
    await scene.bench.stop();
  }
};
