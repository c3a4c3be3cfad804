// Cases 1 and 2: the map screen's query, eventsInBounds with host, avatar, counts and the
// viewer's flag.
//   1. Throughput over HTTP (autocannon) of the GraphQL API, with and without automatic
//      persisted queries, next to a hand-written endpoint in the same process that runs the
//      equivalent SQL with `pg` and JSON.stringifies the same shape, and PostGraphile 5 as a
//      peer in a process of its own (bench/peers/postgraphile.ts). Plus the session check's
//      cost: an instance of the API whose session states trust the token's claims (createApp's
//      seam) against one that checks, interleaved, and the check's share of the CPU profile.
//   2. SQL statements per map request at 10, 100 and 500 events in the viewport.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { claimsTrustingSessions, startBenchApp } from '../lib/app.ts';
import type { BenchApp } from '../lib/app.ts';
import type { AppSeams } from '../../src/app.ts';
import { postOk, registerUser } from '../clients/gql.ts';
import { cpuMs } from '../lib/proc.ts';
import { inclusiveShare, PROFILES_DIR, profileDuring, profileNote, summarizeProfile } from '../lib/profile.ts';
import { installPeerSql, normalizePeerPage, peerMapBody, startPostGraphilePeer } from '../peers/postgraphile.ts';
import type { PostGraphilePeer } from '../peers/postgraphile.ts';
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
  /** A child process serving it (PostGraphile): its CPU time is its cost, not this event loop's. */
  pid?: number;
}

interface Load {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  /**
   * Main-thread (event loop) busy time per request: the API's CPU cost, the load generator's
   * excluded. For a target in a child process, the child's CPU time (all its threads) per request.
   */
  busyMsPerRequest: number;
}

/**
 * One autocannon run. The load generator runs in a worker thread, so it does not take the
 * API's event loop (client and API on one thread would understate the difference between
 * the API and the baseline); any failed request invalidates the run.
 */
async function hammer(target: Target, seconds: number): Promise<Load> {
  const loop = performance.eventLoopUtilization();
  const cpuBefore = target.pid === undefined ? 0 : await cpuMs(target.pid);
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
  const busyMs =
    target.pid === undefined ? performance.eventLoopUtilization(loop).active : (await cpuMs(target.pid)) - cpuBefore;
  return {
    requests: result.requests.total,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    busyMsPerRequest: busyMs / result.requests.total,
  };
}

type Measured = Map<
  string,
  {
    rps: number;
    /** Each round's req/s, in round order. */
    roundsRps: number[];
    p50: number;
    p99: number;
    busyMsPerRequest: number;
  }
>;

/**
 * Rounds alternate between the targets, so drift from other work on the machine hits all alike;
 * every other round runs them in reverse order, so a steady drift does not favour the first.
 */
async function measureAlternating(
  targets: Target[],
  rounds: number,
  seconds: number,
  log: (m: string) => void,
): Promise<Map<string, Load[]>> {
  const loads = new Map<string, Load[]>(targets.map((t) => [t.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const target of round % 2 ? [...targets].reverse() : targets) {
      const load = await hammer(target, seconds);
      log(
        `  ${target.name}, round ${round + 1}: ${(load.requests / load.seconds).toFixed(0)} req/s, p50 ${load.p50} ms, p99 ${load.p99} ms`,
      );
      loads.get(target.name)!.push(load);
    }
  }
  return loads;
}

/** Per target: req/s over all its rounds (requests ÷ seconds), each round's, and mean latencies and cost. */
function summarizeLoads(loads: Map<string, Load[]>): Measured {
  return new Map(
    [...loads].map(([name, runs]) => {
      const mean = (pick: (l: Load) => number) => runs.reduce((s, l) => s + pick(l), 0) / runs.length;
      const rps = runs.reduce((s, l) => s + l.requests, 0) / runs.reduce((s, l) => s + l.seconds, 0);
      return [
        name,
        {
          rps,
          roundsRps: runs.map((l) => l.requests / l.seconds),
          p50: mean((l) => l.p50),
          p99: mean((l) => l.p99),
          busyMsPerRequest: mean((l) => l.busyMsPerRequest),
        },
      ];
    }),
  );
}

/** Geometric mean of ratios and ± 2 standard errors of it (on the log scale), e.g. per-round A/B ratios. */
function logSpread(ratios: number[]): { mean: number; low: number; high: number } {
  const logs = ratios.map(Math.log);
  const mean = logs.reduce((s, x) => s + x, 0) / logs.length;
  const variance = logs.length > 1 ? logs.reduce((s, x) => s + (x - mean) ** 2, 0) / (logs.length - 1) : 0;
  const se = Math.sqrt(variance / logs.length);
  return { mean: Math.exp(mean), low: Math.exp(mean - 2 * se), high: Math.exp(mean + 2 * se) };
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

/** Where two JSON values first differ (a path and both values), or null when they are equal. */
function firstDifference(a: unknown, b: unknown, path = '$'): string | null {
  if (isDeepStrictEqual(a, b)) return null;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const key of keys) {
      const found = firstDifference(
        (a as Record<string, unknown>)[key],
        (b as Record<string, unknown>)[key],
        `${path}.${key}`,
      );
      if (found) return found;
    }
  }
  return `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

/**
 * Every endpoint must answer the same page before their speeds mean anything: the API (with and
 * without the session check) and PostGraphile, field by field against the baseline.
 */
async function checkSameAnswers(scene: ThroughputScene, raw: RawEndpoint, seededIds: string[]): Promise<void> {
  const { viewer } = scene;
  const res = await fetch(rawMapUrl(raw, BERLIN, PAGE), { headers: { authorization: `Bearer ${viewer.token}` } });
  const baseline = ((await res.json()) as { data: MapPage }).data;
  const rawIds = baseline.eventsInBounds.edges.map((e) => e.node.id);
  if (rawIds.length !== PAGE || !isDeepStrictEqual([...rawIds].sort(), [...seededIds].sort()))
    throw new Error(`the baseline's page is not the ${PAGE} seeded visible events (${rawIds.length} events)`);
  const answers: Array<[string, unknown]> = [
    ['the API', await postOk<MapPage>(scene.bench.graphqlUrl, mapBody(BERLIN, PAGE), viewer.token)],
    [
      'the A/B’s instance with the session check',
      await postOk(scene.checked.graphqlUrl, mapBody(BERLIN, PAGE), viewer.token),
    ],
    ['the A/B’s instance without it', await postOk(scene.trusting.graphqlUrl, mapBody(BERLIN, PAGE), viewer.token)],
    [
      'PostGraphile',
      normalizePeerPage(await postOk(scene.peer.graphqlUrl, peerMapBody(viewer.id, BERLIN, PAGE), viewer.token)),
    ],
  ];
  for (const [name, answer] of answers) {
    const difference = firstDifference(answer, baseline);
    if (difference) throw new Error(`${name} and the baseline disagree at ${difference}`);
  }
}

/** Registers the document with Apollo's APQ (the first request carries both query and hash). */
async function registerPersistedQuery(scene: MapScene): Promise<void> {
  await postOk(scene.bench.graphqlUrl, { ...persistedBody(BERLIN, PAGE), query: MAP_QUERY }, scene.viewer.token);
  // Proves the hash alone now works, before autocannon relies on it.
  await postOk(scene.bench.graphqlUrl, persistedBody(BERLIN, PAGE), scene.viewer.token);
}

const TARGET = {
  raw: 'raw pg + JSON.stringify',
  api: 'GraphQL',
  apq: 'GraphQL + APQ',
  checked: 'GraphQL, A/B instance with the session check',
  trusting: 'GraphQL, A/B instance trusting the claims (no session check)',
  peer: 'PostGraphile 5',
} as const;

/** The targets measured against the baseline, and the session A/B's two sides (measured on their own). */
function targetsFor(scene: ThroughputScene, raw: RawEndpoint): { main: Target[]; sessionAB: Target[] } {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${scene.viewer.token}` };
  const api = (name: string, app: BenchApp, body: unknown): Target => ({
    name,
    url: app.graphqlUrl,
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  const main: Target[] = [
    { name: TARGET.raw, url: rawMapUrl(raw, BERLIN, PAGE), method: 'GET', headers },
    api(TARGET.api, scene.bench, mapBody(BERLIN, PAGE)),
    api(TARGET.apq, scene.bench, persistedBody(BERLIN, PAGE)),
    {
      name: TARGET.peer,
      url: scene.peer.graphqlUrl,
      method: 'POST',
      headers,
      body: JSON.stringify(peerMapBody(scene.viewer.id, BERLIN, PAGE)),
      pid: scene.peer.pid,
    },
  ];
  const sessionAB = [
    api(TARGET.checked, scene.checked, mapBody(BERLIN, PAGE)),
    api(TARGET.trusting, scene.trusting, mapBody(BERLIN, PAGE)),
  ];
  return { main, sessionAB };
}

/** SQL statements one map request costs, and their text, from the app's statement counter. */
async function statementsOf(
  bench: BenchApp,
  request: () => Promise<unknown>,
): Promise<{ count: number; texts: string[] }> {
  const texts: string[] = [];
  const stop = bench.app.deps.db.onStatement((text) => texts.push(text.replace(/\s+/g, ' ').trim()));
  try {
    await request();
  } finally {
    stop();
  }
  return { count: texts.length, texts };
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

interface ThroughputScene extends MapScene {
  /**
   * The session A/B's two sides: two more instances of the same deployment, started alike and
   * given the same requests and nothing else, one with the session cache and one whose session
   * states trust the token's claims. (Not the scene's own instance, which also serves the APQ
   * target and the setup: the two sides then differ in nothing but the seam.)
   */
  checked: BenchApp;
  trusting: BenchApp;
  peer: PostGraphilePeer;
}

/** The peers of case 1 on the scene's database: the session A/B's instances and PostGraphile. */
async function startPeers(env: BenchEnv, scene: MapScene, stack: Array<() => Promise<void>>): Promise<ThroughputScene> {
  const instance = async (seams: AppSeams) => {
    const app = await startBenchApp({
      databaseUrl: env.databaseUrl,
      redisUrl: env.redisUrl,
      shareWith: scene.bench,
      seams,
    });
    stack.unshift(() => app.stop());
    return app;
  };
  const checked = await instance({});
  const trusting = await instance({ sessions: claimsTrustingSessions() });
  await installPeerSql(scene.bench.databaseUrl, `${scene.bench.url}/files`);
  const peer = await startPostGraphilePeer({
    databaseUrl: scene.bench.databaseUrl,
    jwtSecret: scene.bench.app.deps.config.jwtSecret!,
    poolSize: APP_POOL_SIZE,
  });
  stack.unshift(() => peer.stop());
  return { ...scene, checked, trusting, peer };
}

interface Figures {
  /** The baseline, the API (plain and APQ) and PostGraphile, from their alternating rounds. */
  loads: Measured;
  /** The session A/B's two sides, from their own rounds. */
  sessionLoads: Measured;
  /** Share of the API's busy main-thread samples inside src/auth/sessions.ts (inclusive). */
  sessionShare: number;
}

const RPS_MEANING =
  'req/s as a share of the hand-written baseline’s, higher is better; latency ratios are multiples of the baseline’s, lower is better';

function throughputFigures({ loads, sessionLoads, sessionShare }: Figures): Figure[] {
  const base = loads.get(TARGET.raw)!;
  const of = (name: string) => loads.get(name)!;
  const rps = (name: string, goal: boolean): Figure => {
    const ratio = of(name).rps / base.rps;
    return {
      name: `map page (200 events), ${name}`,
      value: of(name).rps,
      unit: 'req/s',
      baseline: { name: TARGET.raw, value: base.rps },
      ratio,
      ratioMeaning: RPS_MEANING,
      // The target is the API's; the peers are there to be compared with.
      ...(goal
        ? { target: '≥ 50% of raw req/s', goal: { on: 'ratio', op: '>=', threshold: 0.5 }, met: ratio >= 0.5 }
        : {}),
    };
  };
  const latency = (name: string, which: 'p50' | 'p99'): Figure => ({
    name: `${name} ${which} latency`,
    value: of(name)[which],
    unit: 'ms',
    baseline: { name: TARGET.raw, value: base[which] },
    ratio: of(name)[which] / base[which],
  });
  const withCheck = sessionLoads.get(TARGET.checked)!.rps;
  const withoutCheck = sessionLoads.get(TARGET.trusting)!.rps;
  const sessionRatio = withCheck / withoutCheck;
  const peerRatio = of(TARGET.api).rps / of(TARGET.peer).rps;
  return [
    ...[TARGET.api, TARGET.apq].flatMap((name) => [rps(name, true), latency(name, 'p50'), latency(name, 'p99')]),
    {
      name: 'map page req/s with session check ÷ without (claims trusted)',
      value: withCheck,
      unit: 'req/s',
      baseline: { name: TARGET.trusting, value: withoutCheck },
      ratio: sessionRatio,
      ratioMeaning: 'req/s with the session check ÷ req/s of the same API trusting the token’s claims, same run',
      target: '≥ 0.97',
      goal: { on: 'ratio', op: '>=', threshold: 0.97 },
      met: sessionRatio >= 0.97,
    },
    {
      // The same question from the CPU profile, without the throughput noise of a shared machine:
      // the page is CPU-bound, so the check can cost at most its share of the busy time.
      name: 'session check’s share of the API’s main-thread CPU on the map page (profile, inclusive)',
      value: sessionShare * 100,
      unit: '%',
      target: '≤ 3%',
      goal: { on: 'value', op: '<=', threshold: 3 },
      met: sessionShare * 100 <= 3,
    },
    rps(TARGET.peer, false),
    latency(TARGET.peer, 'p50'),
    latency(TARGET.peer, 'p99'),
    {
      name: `map page req/s, ${TARGET.api} ÷ ${TARGET.peer}`,
      value: of(TARGET.api).rps,
      unit: 'req/s',
      baseline: { name: TARGET.peer, value: of(TARGET.peer).rps },
      ratio: peerRatio,
      ratioMeaning:
        'req/s of the API ÷ PostGraphile’s on the same page and database, same run; above 1 the API is faster',
    },
  ];
}

export const runThroughput: BenchCase = async (env) => {
  // Short alternating rounds: on this shared machine, load from elsewhere then hits every target alike.
  const seconds = env.quick ? 3 : 4;
  const rounds = env.quick ? 2 : 4;
  // The session A/B looks for a few percent on a noisy machine: more rounds, of its two sides alone.
  const sessionRounds = env.quick ? 2 : 12;
  const profileSeconds = env.quick ? 2 : 4;
  const scene = await startScene(env);
  // What to stop, newest first: the peers before the scene whose database they use.
  const stack: Array<() => Promise<void>> = [() => scene.bench.stop()];
  let raw: RawEndpoint | undefined;
  try {
    const seeded = await seedThroughputScene(scene);
    const full = await startPeers(env, scene, stack);
    raw = await startRawEndpoint(scene.bench.databaseUrl, scene.bench.app.deps.tokens, `${scene.bench.url}/files`);
    await checkSameAnswers(full, raw, seeded);
    await registerPersistedQuery(scene);
    const statements = await statementsOf(scene.bench, () =>
      postOk(scene.bench.graphqlUrl, mapBody(BERLIN, PAGE), scene.viewer.token),
    );
    // The session check reads the database only when its cache entry is missing or stale.
    const checkedStatements = await statementsOf(full.checked, () =>
      postOk(full.checked.graphqlUrl, mapBody(BERLIN, PAGE), scene.viewer.token),
    );
    const trustingStatements = await statementsOf(full.trusting, () =>
      postOk(full.trusting.graphqlUrl, mapBody(BERLIN, PAGE), scene.viewer.token),
    );

    const { main: targets, sessionAB } = targetsFor(full, raw);
    env.log(`warming up (${targets.length + sessionAB.length} × ${env.quick ? 1 : 2} s)`);
    for (const target of [...targets, ...sessionAB]) await hammer(target, env.quick ? 1 : 2);
    env.log(`measuring: ${rounds} round(s) × ${targets.length} targets × ${seconds} s, ${CONNECTIONS} connections`);
    const loads = summarizeLoads(await measureAlternating(targets, rounds, seconds, env.log));
    env.log(`session A/B: ${sessionRounds} round(s) × ${sessionAB.length} targets × ${seconds} s`);
    const sessionLoads = summarizeLoads(await measureAlternating(sessionAB, sessionRounds, seconds, env.log));
    // Profiled on its own run: the profiler's overhead stays out of the measured figures.
    env.log('profiling the GraphQL target');
    const rawProfile = await profileDuring(() => hammer(targets[1]!, profileSeconds));
    await mkdir(PROFILES_DIR, { recursive: true });
    await writeFile(join(PROFILES_DIR, 'map-page.cpuprofile'), JSON.stringify(rawProfile));
    const profile = summarizeProfile(rawProfile);
    // The session check's own CPU, independent of the throughput noise: samples inside sessions.ts.
    const sessionShare = inclusiveShare(rawProfile, (frame) => frame.url.endsWith('/src/auth/sessions.ts'));

    const figures = throughputFigures({ loads, sessionLoads, sessionShare });
    const perRound = (name: string) =>
      loads
        .get(name)!
        .roundsRps.map((r) => r.toFixed(0))
        .join(', ');
    const ratios = sessionLoads
      .get(TARGET.checked)!
      .roundsRps.map((r, i) => r / sessionLoads.get(TARGET.trusting)!.roundsRps[i]!);
    const spread = logSpread(ratios);
    const [checked, trusting] = [sessionLoads.get(TARGET.checked)!, sessionLoads.get(TARGET.trusting)!];
    const notes = [
      `${CONNECTIONS} connections, autocannon in a worker thread of the bench process; ${rounds} alternating round(s) of ${seconds} s per target after a warm-up, every other round in reverse order. ` +
        `Viewport of exactly ${PAGE} visible events (plus 30 hidden ones inside and 300 elsewhere), ${HOSTS} hosts with avatars, the viewer attends every third event. ` +
        `All endpoints were checked to return the same JSON, field by field, before measuring. The baseline verifies the same JWT and uses a pg.Pool of ${APP_POOL_SIZE} like the app.`,
      `Per round, req/s: ` + targets.map((t) => `${t.name} ${perRound(t.name)}`).join('; ') + '.',
      `Main-thread busy time per request (event-loop utilization × time ÷ requests): ` +
        targets
          .filter((t) => t.pid === undefined)
          .map((t) => `${t.name} ${loads.get(t.name)!.busyMsPerRequest.toFixed(2)} ms`)
          .join(', ') +
        `; ${TARGET.peer}: ${loads.get(TARGET.peer)!.busyMsPerRequest.toFixed(2)} ms of its process's CPU (utime + stime, all threads, /proc) per request. ` +
        'Each target saturates its event loop, so req/s is about the inverse of this cost; the API spends it as the profile below shows.',
      `Session check A/B: two more instances of the API in this process, on the same database, secret and Redis prefix, started alike and sent only the A/B's requests; one as the API runs, one started with createApp's seam \`sessions\` (src/app.ts) set to claims-trusting session states (bench/lib/app.ts \`claimsTrustingSessions\`: the token's role, no cache, no database), as the API was before sessions. ` +
        `${sessionRounds} alternating rounds of ${seconds} s each, every other round reversed: ${checked.rps.toFixed(0)} req/s with the check (p50 ${checked.p50.toFixed(1)} ms, p99 ${checked.p99.toFixed(1)} ms), ${trusting.rps.toFixed(0)} without (p50 ${trusting.p50.toFixed(1)} ms, p99 ${trusting.p99.toFixed(1)} ms); main-thread busy time per request ${checked.busyMsPerRequest.toFixed(2)} vs ${trusting.busyMsPerRequest.toFixed(2)} ms; with ÷ without per round: ${ratios.map((r) => r.toFixed(3)).join(', ')}; their geometric mean ${spread.mean.toFixed(3)}, ± 2 standard errors ${spread.low.toFixed(3)}–${spread.high.toFixed(3)} (what this run can resolve). ` +
        `In the CPU profile below, ${(sessionShare * 100).toFixed(2)}% of the API's busy samples are inside src/auth/sessions.ts (inclusive). ` +
        `In the steady state the check is a lookup in the per-instance cache: a warm request ran ${checkedStatements.count} SQL statements with the check and ${trustingStatements.count} without (the session is read again once its entry is older than SESSION_CACHE_TTL_MS, 60 s by default).`,
      `PostGraphile ${full.peer.version} (Amber preset, grafserv on node:http, NODE_ENV and GRAPHILE_ENV production, a pg pool of ${APP_POOL_SIZE}) in a child process of its own (bench/peers/postgraphile/server.ts, Node ${process.version} with a Promise.withResolvers polyfill) on the same database. ` +
        'The page is a SQL function (viewer and bounds as arguments, the same visibility rule and order as the API), spotsLeft, viewerIsAttending(viewerId) and avatarUrl are computed columns, the host is its foreign-key relation; its context callback verifies the same bearer token (no pgSettings, so no transaction per request). ' +
        'Its plan is 2 statements per request, like the API’s (PostgreSQL’s statement log when this case was written): the page with its computed columns, then the hosts by id. Aliases give its answer the API’s names; timestamps are compared as instants.',
      `The API ran ${statements.count} SQL statements per request (full text under case 2):\n${statements.texts.map((t, i) => `${i + 1}. ${t.length > 400 ? `${t.slice(0, 400)}…` : t}`).join('\n')}`,
      profileNote(`CPU profile of the API process during ${profileSeconds} s of the GraphQL target`, profile),
      ...figures
        .filter((f) => f.met === false && f.goal?.threshold === 0.5)
        .map(
          (f) =>
            `Missed: ${f.name} reached ${(f.ratio! * 100).toFixed(0)}% of the baseline’s req/s, ${((0.5 - f.ratio!) * 100).toFixed(0)} points short of 50%; see the profile for what limits it.`,
        ),
    ];
    return { id: '1', title: 'Map query throughput', figures, notes, seconds: 0 };
  } finally {
    await raw?.stop();
    for (const stop of stack) await stop().catch((error: unknown) => env.log(`stopping: ${String(error)}`));
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
      const measured = await statementsOf(scene.bench, request);
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
      'Counted with the app’s own statement counter (db.statements and db.onStatement: Prisma’s statements and the planned pages’ reads; what tests/helpers/client.ts countStatements uses), signed in, first: 500, one request after a warm-up request.',
      `Statements of the 500-event request:\n${texts[2]!.map((t, i) => `${i + 1}. ${t}`).join('\n')}`,
    ];
    return { id: '2', title: 'SQL statements per map request', figures, notes, seconds: 0 };
  } finally {
    await scene.bench.stop();
  }
};
