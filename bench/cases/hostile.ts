// Case 7, hostile clients: what clients that misbehave on purpose make the server hold or spend,
// each next to the same measurement without them (or with a harmless request) in the same run.
// Every figure runs on a fresh API child process (bench/lib/server-process.ts: production mode,
// real PostgreSQL and Redis, rate limits off), so its RSS and CPU time are its own; the load
// comes from this process.
//
//   1. 300 anonymous subscribers that stop reading while 20 changes of a ≥ 200 KB payload go out
//   2. the 1,200-field document, refused: server CPU per request, a trivial query's p50 under attack
//   3. /metrics series after thousands of distinct operation names
//   4. 25 signed-in uploads stalled just before their last bytes
//   5. PostgreSQL black-holed, then gone (its old connections silent forever) and back
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import sharp from 'sharp';
import WebSocket from 'ws';
import { DEFAULT_DATABASE_TIMEOUTS } from '../../src/db/pool.ts';
import { createDatabase } from '../../tests/helpers/database.ts';
import { uploadEnvelope } from '../../tests/helpers/images.ts';
import { TcpProxy } from '../../tests/helpers/tcp-proxy.ts';
import { eventInput, gql, gqlOk, registerUser, registerUsers } from '../clients/gql.ts';
import type { BenchUser } from '../clients/gql.ts';
import { round, sleep, summarize, wallClockMs } from '../lib/latency.ts';
import type { Summary } from '../lib/latency.ts';
import { cpuMs, rssMB } from '../lib/proc.ts';
import { deploymentSecrets, GC_ON_SIGNAL_ARGS, liveMemoryMB, startServerProcess } from '../lib/server-process.ts';
import type { ServerProcess } from '../lib/server-process.ts';
import type { BenchCase, BenchEnv, Figure } from '../lib/types.ts';

interface Part {
  figures: Figure[];
  notes: string[];
}

// ---------------------------------------------------------------------------------------------
// The machine's numbers, from /proc (Linux; the child's own are in bench/lib/proc.ts)

/**
 * Memory of the machine's TCP sockets, MB (/proc/net/sockstat counts pages): where the bytes a
 * server wrote to a client that does not read wait, outside the server's RSS. Every process's
 * sockets, both ends of loopback connections included.
 */
async function kernelTcpMB(): Promise<number> {
  const pages = /^TCP:.* mem (\d+)/m.exec(await readFile('/proc/net/sockstat', 'utf8'))?.[1];
  return (Number(pages) * 4096) / 2 ** 20;
}

/** Samples `read()` every `everyMs` until stopped; resolves with the peak. */
function samplePeak(read: () => Promise<number>, everyMs = 50): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await read().catch(() => 0));
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Math.max(peak, await read().catch(() => 0));
    },
  };
}

const sampleRssPeak = (pid: number, everyMs?: number) => samplePeak(() => rssMB(pid), everyMs);

// ---------------------------------------------------------------------------------------------
// Shared helpers

interface Child {
  server: ServerProcess;
  redisPrefix: string;
}

/** A fresh API instance on the case's database; `jwtSecret` to keep tokens of an earlier one valid. */
async function startChild(
  env: BenchEnv,
  databaseUrl: string,
  name: string,
  opts: { jwtSecret?: string; env?: Record<string, string>; nodeArgs?: string[] } = {},
): Promise<Child> {
  const secrets = deploymentSecrets();
  const server = await startServerProcess({
    databaseUrl,
    redisUrl: env.redisUrl,
    redisPrefix: secrets.redisPrefix,
    jwtSecret: opts.jwtSecret ?? secrets.jwtSecret,
    env: opts.env,
    ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
    name,
  });
  return { server, redisPrefix: secrets.redisPrefix };
}

/** Runs fn(0 … count-1), `concurrency` at a time. */
async function forEachConcurrently(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** Polls until `done()` holds; throws with `what` at the deadline. */
async function waitUntil(what: string, done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

const metricValue = async (server: ServerProcess, series: string) => (await server.metrics()).get(series) ?? 0;

async function certify(databaseUrl: string, userId: string): Promise<void> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await db.query('UPDATE users SET is_certified = true WHERE id = $1', [userId]);
  } finally {
    await db.end();
  }
}

const mb = (value: number) => `${round(value, 1)} MB`;

// RSS growth is the peak during the measurement minus the reading before it, 0 when RSS only shrank.

// ---------------------------------------------------------------------------------------------
// 1. Subscribers that stop reading

const NON_READERS = 300;
const READERS = 10;
const COMMENTS = 100;
const BERLIN = { latitude: 52.52, longitude: 13.405 };
const BOUNDS = { south: 52.4, west: 13.2, north: 52.6, east: 13.6 };
// `version` first: a reader finds it in the frame's first bytes without parsing 200 KB.
const BIG_FEED = `subscription HostileFeed($bounds: BoundsInput!) {
  eventChanged(bounds: $bounds) {
    version kind
    event { id title description comments(first: ${COMMENTS}) { edges { node { id body createdAt author { id username } } } } }
  }
}`;

interface BigEvent {
  host: BenchUser;
  eventId: string;
  jwtSecret: string;
}

/** A public event whose eventChanged payload with BIG_FEED's selection is over 200 KB. */
async function seedBigEvent(server: ServerProcess, databaseUrl: string, jwtSecret: string): Promise<BigEvent> {
  const host = await registerUser(server.graphqlUrl, 'hostile');
  await certify(databaseUrl, host.id);
  const filler = (length: number, seed: string) =>
    `${seed} `.repeat(Math.ceil(length / (seed.length + 1))).slice(0, length);
  const { createEvent } = await gqlOk<{ createEvent: { id: string } }>(
    server.graphqlUrl,
    'mutation Create($input: CreateEventInput!) { createEvent(input: $input) { id } }',
    {
      input: eventInput(BERLIN.latitude, BERLIN.longitude, 'Heavy event', {
        description: filler(5000, 'description'),
        maxParticipants: 1000,
      }),
    },
    host.accessToken,
  );
  await forEachConcurrently(COMMENTS, 4, async (i) => {
    await gqlOk(
      server.graphqlUrl,
      'mutation Comment($eventId: ID!, $body: String!) { addEventComment(eventId: $eventId, body: $body) { id } }',
      { eventId: createEvent.id, body: filler(2000, `comment${i}`) },
      host.accessToken,
    );
  });
  return { host, eventId: createEvent.id, jwtSecret };
}

interface RawSubscriber {
  socket: WebSocket;
  /** version → receipt time (wall clock ms); readers only. */
  receipts: Map<number, number>;
  /** `next` frames received (non-readers count them until they stop reading). */
  frames: number;
  largestFrame: number;
  errors: number;
}

/** A graphql-transport-ws socket subscribed to BIG_FEED, acknowledged and subscribed. */
function openSubscriber(wsUrl: string, reader: boolean): Promise<RawSubscriber> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
    const sub: RawSubscriber = { socket, receipts: new Map(), frames: 0, largestFrame: 0, errors: 0 };
    let acked = false;
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} })));
    socket.on('message', (raw: Buffer) => {
      const at = wallClockMs();
      const head = raw.toString('utf8', 0, Math.min(raw.length, 160));
      if (!acked) {
        acked = true;
        socket.send(
          JSON.stringify({ id: '1', type: 'subscribe', payload: { query: BIG_FEED, variables: { bounds: BOUNDS } } }),
        );
        return resolve(sub);
      }
      if (head.includes('"type":"ping"')) return socket.send(JSON.stringify({ type: 'pong' }));
      if (!head.includes('"type":"next"') || head.includes('"errors"')) {
        sub.errors += 1;
        return;
      }
      sub.frames += 1;
      sub.largestFrame = Math.max(sub.largestFrame, raw.length);
      if (!reader) return;
      const version = Number(/"version":(\d+)/.exec(head)?.[1]);
      if (!sub.receipts.has(version)) sub.receipts.set(version, at);
    });
    socket.on('error', (error) => !acked && reject(error));
    socket.on('close', (code) => !acked && reject(new Error(`closed with ${code} before connection_ack`)));
  });
}

/**
 * When each version of the event was published: the bench listens on the deployment's Redis
 * channel of relayed changes, where the API publishes each change right after the transaction
 * that recorded it commits and the relay gives it its position (src/changes/feed.ts).
 */
async function trackCommits(redisUrl: string, prefix: string, eventId: string) {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  const commits = new Map<number, number>();
  // superjson's { json, meta } around the relayed rows (the metrics wrapper puts them under `p`
  // beside the publish time `t`); each row's payload is the change, superjson-encoded again.
  type Change = { eventId?: string; version?: number };
  type Relayed = { rows?: Array<{ payload?: string }> };
  redis.on('message', (_channel: string, message: string) => {
    const at = wallClockMs();
    const json = (JSON.parse(message) as { json?: Relayed & { p?: Relayed } }).json;
    for (const row of (json?.p ?? json)?.rows ?? []) {
      const change = row.payload ? (JSON.parse(row.payload) as { json?: Change }).json : undefined;
      if (change?.eventId === eventId && typeof change.version === 'number' && !commits.has(change.version))
        commits.set(change.version, at);
    }
  });
  await redis.connect();
  await redis.subscribe(`${prefix}:changes:relayed`);
  return { commits, close: () => redis.disconnect() };
}

async function changeEvent(server: ServerProcess, scene: BigEvent, label: string): Promise<number> {
  const { updateEvent } = await gqlOk<{ updateEvent: { version: number } }>(
    server.graphqlUrl,
    'mutation Rename($id: ID!, $input: UpdateEventInput!) { updateEvent(id: $id, input: $input) { id version } }',
    { id: scene.eventId, input: { title: `Heavy event (${label})` } },
    scene.host.accessToken,
  );
  return updateEvent.version;
}

interface DeliveryRun {
  nonReaders: number;
  rssBefore: number;
  rssPeak: number;
  tcpBefore: number;
  tcpPeak: number;
  latency: Summary;
  frameKB: number;
  missing: number;
  errors: number;
  slowClosed: number;
}

/** One child: READERS reading subscribers (+ `nonReaders` that stop reading), `changes` changes. */
async function deliveryRun(
  env: BenchEnv,
  databaseUrl: string,
  scene: BigEvent | undefined,
  nonReaders: number,
  changes: number,
): Promise<{ run: DeliveryRun; scene: BigEvent }> {
  const jwtSecret = scene?.jwtSecret ?? deploymentSecrets().jwtSecret;
  const { server, redisPrefix } = await startChild(env, databaseUrl, `subscribers (${nonReaders} non-readers)`, {
    jwtSecret,
  });
  const readers: RawSubscriber[] = [];
  const hostile: RawSubscriber[] = [];
  let tracker: Awaited<ReturnType<typeof trackCommits>> | undefined;
  try {
    scene ??= await seedBigEvent(server, databaseUrl, jwtSecret);
    tracker = await trackCommits(env.redisUrl, redisPrefix, scene.eventId);
    const established = 'pinit_ws_subscriptions_established_total';
    const before = await metricValue(server, established);
    // Readers spread among the non-readers: the server writes to a group's members in the order
    // they subscribed, so readers opened first would be served before every slow socket.
    const every = Math.floor(nonReaders / READERS) + 1;
    const isReader = Array.from({ length: READERS + nonReaders }, (_, i) => i % every === 0 && i / every < READERS);
    if (isReader.filter(Boolean).length !== READERS) throw new Error('reader placement is off');
    await forEachConcurrently(isReader.length, 10, async (i) => {
      const reader = isReader[i]!;
      (reader ? readers : hostile).push(await openSubscriber(server.wsUrl, reader));
    });
    await waitUntil(
      'subscriptions established',
      async () => (await metricValue(server, established)) >= before + READERS + nonReaders,
      30_000,
    );
    // A first change that everyone still reads: first-use costs stay out of the measurement.
    const warmUp = await changeEvent(server, scene, 'warm-up');
    const everyone = [...readers, ...hostile];
    await waitUntil('warm-up delivered', async () => everyone.every((s) => s.frames >= 1), 30_000);
    const commits = tracker.commits;
    if (!commits.has(warmUp)) throw new Error('the bench did not see the change on Redis');
    // Stop reading: no more pongs, so the server writes at most WS_MAX_BUFFERED_KB ahead, holds as much, then closes.
    for (const s of hostile) s.socket.pause();

    const rssBefore = await rssMB(server.pid);
    const tcpBefore = await kernelTcpMB();
    const peak = sampleRssPeak(server.pid);
    const tcpPeak = samplePeak(kernelTcpMB, 200);
    const versions: number[] = [];
    for (let k = 0; k < changes; k++) {
      const version = await changeEvent(server, scene, `change ${k}`);
      versions.push(version);
      await waitUntil(
        `change ${k} delivered to every reader`,
        async () => readers.every((r) => r.receipts.has(version)),
        10_000,
      ).catch((error: Error) => env.log(`hostile: ${error.message}`));
      await sleep(100);
    }
    // The slow-consumer close lets a socket finish its close handshake for 2 s before cutting it.
    await sleep(3_000);
    const rssPeak = await peak.stop();
    const tcpPeakMB = await tcpPeak.stop();

    const latencies: number[] = [];
    let missing = 0;
    for (const version of versions) {
      const commit = commits.get(version);
      for (const r of readers) {
        const at = r.receipts.get(version);
        if (at === undefined || commit === undefined) missing += 1;
        else latencies.push(at - commit);
      }
    }
    return {
      scene,
      run: {
        nonReaders,
        rssBefore,
        rssPeak,
        tcpBefore,
        tcpPeak: tcpPeakMB,
        latency: summarize(latencies),
        frameKB: Math.max(...readers.map((r) => r.largestFrame)) / 1024,
        missing,
        errors: readers.reduce((n, r) => n + r.errors, 0),
        slowClosed: await metricValue(server, 'pinit_ws_slow_consumers_closed_total'),
      },
    };
  } finally {
    for (const s of [...readers, ...hostile]) s.socket.terminate();
    tracker?.close();
    await server.stop();
  }
}

async function nonReadingSubscribers(env: BenchEnv, databaseUrl: string): Promise<Part> {
  const changes = env.quick ? 6 : 20;
  const { run: quiet, scene } = await deliveryRun(env, databaseUrl, undefined, 0, changes);
  env.log(`hostile 1: readers only, p99 ${round(quiet.latency.p99, 1)} ms, frame ${round(quiet.frameKB)} KB`);
  if (quiet.frameKB < 200) throw new Error(`the payload is ${round(quiet.frameKB)} KB, not ≥ 200 KB`);
  const { run: loud } = await deliveryRun(env, databaseUrl, scene, NON_READERS, changes);
  env.log(`hostile 1: with ${NON_READERS} non-readers, p99 ${round(loud.latency.p99, 1)} ms`);
  const growth = (r: DeliveryRun) => Math.max(0, r.rssPeak - r.rssBefore);
  const figures: Figure[] = [
    {
      name: `server RSS growth, ${NON_READERS} non-reading subscribers, ${changes} changes of ${Math.round(loud.frameKB)} KB`,
      value: round(growth(loud), 1),
      unit: 'MB',
      baseline: { name: `${READERS} reading subscribers only`, value: round(growth(quiet), 1) },
      ratio: round(growth(loud) / Math.max(1, growth(quiet)), 3),
      ratioMeaning: 'growth ÷ the readers-only run’s growth (floored at 1 MB), same run',
      target: '≤ 64 MB',
      met: growth(loud) <= 64,
      goal: { on: 'value', op: '<=', threshold: 64 },
    },
    {
      name: `reading subscribers' p99 delivery, with ${NON_READERS} non-readers`,
      value: round(loud.latency.p99, 1),
      unit: 'ms',
      baseline: { name: 'p99 without the non-readers', value: round(quiet.latency.p99, 1) },
      ratio: round(loud.latency.p99 / quiet.latency.p99, 3),
      ratioMeaning: 'with ÷ without the hostile clients, same run',
      target: '≤ 2× without them',
      met: loud.latency.p99 <= 2 * quiet.latency.p99,
      goal: { on: 'ratio', op: '<=', threshold: 2 },
    },
  ];
  const describe = (r: DeliveryRun) =>
    `RSS ${mb(r.rssBefore)} → peak ${mb(r.rssPeak)} (the machine's TCP socket memory ${mb(r.tcpBefore)} → peak ${mb(r.tcpPeak)}); delivery p50 ${round(r.latency.p50, 1)} / p99 ${round(r.latency.p99, 1)} / max ${round(r.latency.max, 1)} ms over ${r.latency.count} receipts; ` +
    `${r.missing} missing, ${r.errors} error frames; ${r.slowClosed} sockets closed as slow consumers (4413)`;
  const notes = [
    `1. One public event whose eventChanged payload (description of 5,000 characters, ${COMMENTS} comments of 2,000 with their authors) is ${round(loud.frameKB)} KB per frame. ` +
      `${READERS} anonymous reading subscribers and, in the second child, ${NON_READERS} anonymous raw \`ws\` sockets in the bench process that send connection_init and subscribe, read the warm-up change, then stop reading (\`pause()\`: TCP backs up). ` +
      `${changes} updateEvent changes one after another, each once every reader has the previous one. Latency: from the change's PUBLISH on the deployment's Redis channel (seen by the bench, right after the commit) to a reader's receipt. ` +
      `RSS: the child's VmRSS just before the first measured change, and its peak sampled every 50 ms until 3 s after the last (the slow-consumer close cuts a socket 2 s after its close frame). ` +
      `Protection: WS_MAX_BUFFERED_KB (default 256, close 4413); WS_MAX_CONNECTIONS_PER_IP and WS_MAX_ANONYMOUS_CONNECTIONS_PER_IP raised for the one-address load generator. ` +
      `The server writes no more than WS_MAX_BUFFERED_KB ahead of what a socket's pongs acknowledge (src/transport/ws.ts), holds as much again, then closes it: without that, the kernel's socket buffers (tcp_wmem up to 4 MB per loopback socket here, outside the server's RSS and any cap) took every change for every non-reader, 1.3 GB of TCP memory at the peak and a copy into each per change. Results of 16 KB and more leave as one message in fragments that share one encoding of the payload.`,
    `1. Readers only: ${describe(quiet)}. With the non-readers: ${describe(loud)}.`,
  ];
  return { figures, notes };
}

// ---------------------------------------------------------------------------------------------
// 2. Refusing the 1,200-field document

/** 1,200 × `me { id }`: 4,800 tokens (under the token limit), about 12 KB. */
const WIDE_DOCUMENT = `{ ${Array.from({ length: 1200 }, () => 'me { id }').join(' ')} }`;
const TRIVIAL = '{ __typename }';
const ATTACKERS = 4;

async function refusedOk(server: ServerProcess): Promise<string> {
  const result = await gql(server.graphqlUrl, WIDE_DOCUMENT);
  const message = result.errors?.[0]?.message ?? '';
  if (result.data || !/selected more than/.test(message))
    throw new Error(`the 1,200-field document was not refused by its shape: ${JSON.stringify(result).slice(0, 300)}`);
  return `HTTP ${result.status}: ${message}`;
}

/** The child's CPU time per request over `n` requests (`concurrency` in flight), ms. */
async function cpuPerRequest(server: ServerProcess, query: string, n: number): Promise<number> {
  const send = async () => void (await gql(server.graphqlUrl, query));
  await forEachConcurrently(50, 4, send);
  const before = await cpuMs(server.pid);
  await forEachConcurrently(n, 4, send);
  return ((await cpuMs(server.pid)) - before) / n;
}

/**
 * Latencies of trivial queries one after another (signed in with `token`, if given): `n` of
 * them, or, with `paced`, one every `everyMs` for `forMs`.
 */
async function probeLatencies(
  server: ServerProcess,
  n: number,
  token?: string,
  paced?: { everyMs: number; forMs: number },
): Promise<Summary> {
  const latencies: number[] = [];
  const until = paced ? performance.now() + paced.forMs : Infinity;
  for (let i = 0; paced ? performance.now() < until : i < n; i++) {
    if (paced) await sleep(paced.everyMs);
    const started = performance.now();
    const result = await gql(server.graphqlUrl, TRIVIAL, {}, token);
    if (result.status !== 200 || !result.data) throw new Error(`trivial query failed: HTTP ${result.status}`);
    latencies.push(performance.now() - started);
  }
  return summarize(latencies);
}

interface BudgetedFlood {
  calm: Summary;
  attacked: Summary;
  seconds: number;
  attacks: number;
  /** When the last attacker was first refused before its request was read (ms after the start). */
  shutOutAfterMs: number;
}

/** Attackers at full speed against the default budgets, each from an address of its own. */
async function floodWithBudgets(env: BenchEnv, databaseUrl: string): Promise<BudgetedFlood> {
  const { server } = await startChild(env, databaseUrl, 'wide document, budgets on', {
    env: { RATE_LIMITS: 'on', RATE_LIMIT_QUERIES_PER_USER: '1000000/60' },
  });
  try {
    const probe = await registerUser(server.graphqlUrl, 'probe');
    const paced = { everyMs: 10, forMs: env.quick ? 5_000 : 15_000 };
    const calm = await probeLatencies(server, 0, probe.accessToken, { ...paced, forMs: paced.forMs / 3 });
    let attacking = true;
    let attacks = 0;
    const started = performance.now();
    const shutOut: number[] = [];
    const attackers = Array.from({ length: ATTACKERS }, async (_, i) => {
      let out = false;
      while (attacking) {
        const res = await fetch(server.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${i + 1}` },
          body: JSON.stringify({ query: WIDE_DOCUMENT }),
        });
        await res.arrayBuffer();
        attacks += 1;
        // Refused before it was read: the answer closes the connection.
        if (!out && res.status === 429 && res.headers.get('connection') === 'close') {
          out = true;
          shutOut.push(performance.now() - started);
        }
      }
    });
    let attacked: Summary;
    try {
      attacked = await probeLatencies(server, 0, probe.accessToken, paced);
      // The measurement covers the attack's first seconds, when the budgets are still being spent.
      while (shutOut.length < ATTACKERS && performance.now() - started < 30_000) await sleep(50);
    } finally {
      attacking = false;
      await Promise.all(attackers);
    }
    if (shutOut.length < ATTACKERS) throw new Error(`only ${shutOut.length} of ${ATTACKERS} attackers were shut out`);
    const seconds = (performance.now() - started) / 1000;
    env.log(
      `hostile 2: budgets on, trivial p50 ${round(calm.p50, 2)} ms calm, ${round(attacked.p50, 2)} ms under attack; shut out after ${round(Math.max(...shutOut))} ms`,
    );
    return { calm, attacked, seconds, attacks, shutOutAfterMs: Math.max(...shutOut) };
  } finally {
    await server.stop();
  }
}

async function wideDocument(env: BenchEnv, databaseUrl: string): Promise<Part> {
  const requests = env.quick ? 300 : 2_000;
  const probes = env.quick ? 100 : 400;
  const { server } = await startChild(env, databaseUrl, 'wide document');
  try {
    const refusal = await refusedOk(server);
    const trivialCpu = await cpuPerRequest(server, TRIVIAL, requests);
    const refusedCpu = await cpuPerRequest(server, WIDE_DOCUMENT, requests);
    env.log(`hostile 2: CPU per request ${round(trivialCpu, 3)} ms trivial, ${round(refusedCpu, 3)} ms refused`);

    const calm = await probeLatencies(server, probes);
    let attacking = true;
    let attacks = 0;
    const attackStarted = Date.now();
    const attackers = Array.from({ length: ATTACKERS }, async () => {
      while (attacking) {
        await gql(server.graphqlUrl, WIDE_DOCUMENT);
        attacks += 1;
      }
    });
    let underAttack: Summary;
    try {
      await sleep(500);
      underAttack = await probeLatencies(server, probes);
    } finally {
      attacking = false;
      await Promise.all(attackers);
    }
    const attackSeconds = (Date.now() - attackStarted) / 1000;
    env.log(
      `hostile 2: trivial p50 ${round(calm.p50, 2)} ms calm, ${round(underAttack.p50, 2)} ms under attack (no budgets)`,
    );
    const budgeted = await floodWithBudgets(env, databaseUrl);
    const figures: Figure[] = [
      {
        name: 'server CPU per refused 1,200-field document (HTTP, anonymous)',
        value: round(refusedCpu, 3),
        unit: 'ms',
        baseline: { name: 'CPU per `{ __typename }`', value: round(trivialCpu, 3) },
        ratio: round(refusedCpu / trivialCpu, 3),
        ratioMeaning: 'hostile ÷ harmless request, same run',
        target: '≤ 5 ms',
        met: refusedCpu <= 5,
        goal: { on: 'value', op: '<=', threshold: 5 },
      },
      {
        name: `trivial query p50 while ${ATTACKERS} anonymous attackers (4 addresses) send the 1,200-field document in a loop, default budgets`,
        value: round(budgeted.attacked.p50, 2),
        unit: 'ms',
        baseline: { name: 'p50 without attackers', value: round(budgeted.calm.p50, 2) },
        ratio: round(budgeted.attacked.p50 / budgeted.calm.p50, 3),
        ratioMeaning: 'with ÷ without the hostile clients, same run',
        target: '≤ 2× without them',
        met: budgeted.attacked.p50 <= 2 * budgeted.calm.p50,
        goal: { on: 'ratio', op: '<=', threshold: 2 },
      },
    ];
    const notes = [
      `2. The document: \`me { id }\` 1,200 times in one selection set (${WIDE_DOCUMENT.length} characters, 4,800 tokens, under the 5,000-token parser limit), POSTed as JSON without a token; the server answers ${refusal}. ` +
        `CPU: the child's utime + stime from /proc/<pid>/stat (10 ms ticks) across ${requests} requests, 4 in flight, after 50 of warm-up; the same for \`{ __typename }\` as the baseline. ` +
        `This child runs with RATE_LIMITS=off (as every bench child does), so RATE_LIMIT_QUERIES_PER_IP does not refuse them earlier: this is the cost of the shape check itself. ` +
        `Without budgets, ${ATTACKERS} attackers in this process sending the document back to back (${attacks} sent in ${round(attackSeconds, 1)} s, ${Math.round(attacks / attackSeconds)}/s) take a trivial query from p50 ${round(calm.p50, 2)} / p99 ${round(calm.p99, 2)} ms to p50 ${round(underAttack.p50, 2)} / p99 ${round(underAttack.p99, 2)} ms: each refusal costs about what a trivial query does, so the server is saturated and the probe queues behind them.`,
      `2. With the production budgets (a second child, RATE_LIMITS=on at the defaults: 300 anonymous queries a minute per address; the probe signed in, with RATE_LIMIT_QUERIES_PER_USER raised so that it never runs out): ${ATTACKERS} attackers, each from its own address (X-Forwarded-For through the trusted loopback proxy), send the document back to back for ${round(budgeted.seconds, 1)} s, ${budgeted.attacks} requests in all. ` +
        `Each address's first 300 are refused by their shape (400), the next 300 by the budget after parsing (429), and from then on, having tried twice its budget, before the request is read (429 and the connection closed): the four were all shut out ${round(budgeted.shutOutAfterMs / 1000, 2)} s into the attack. ` +
        `${probes} trivial queries one after another from the start of the attack: p50 ${round(budgeted.attacked.p50, 2)} / p99 ${round(budgeted.attacked.p99, 2)} ms, against p50 ${round(budgeted.calm.p50, 2)} / p99 ${round(budgeted.calm.p99, 2)} ms calm (the same pacing, before the attack). The p99 is the burst while the budgets are being spent; every minute the window starts again. ` +
        'The attackers and the probe share the machine’s two cores with the server: part of the slowdown is client CPU.',
    ];
    return { figures, notes };
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. /metrics series after thousands of operation names

/** What an app legitimately sends: a handful of named operations. */
const APP_OPERATIONS = 10;

async function metricsSeries(env: BenchEnv, databaseUrl: string): Promise<Part> {
  const names = env.quick ? 1_000 : 5_000;
  const { server } = await startChild(env, databaseUrl, 'metrics');
  try {
    const named = async (name: string) => {
      const result = await gql(server.graphqlUrl, `query ${name} { __typename }`);
      if (result.status !== 200) throw new Error(`query ${name}: HTTP ${result.status}`);
    };
    // The same load with the app's names first: series that any load brings (the GC-duration
    // histogram of each kind of collection, once one has run) are in the baseline, and the
    // comparison is about the names alone.
    await forEachConcurrently(names, 8, (i) => named(`AppOperation${i % APP_OPERATIONS}`));
    const before = await server.metrics();
    await forEachConcurrently(names, 8, (i) => named(`Hostile${i}`));
    const after = await server.metrics();
    const operations = (series: Map<string, number>) =>
      new Set([...series.keys()].flatMap((k) => /operation="([^"]*)"/.exec(k)?.[1] ?? [])).size;
    env.log(`hostile 3: ${before.size} → ${after.size} series`);
    return {
      figures: [
        {
          name: `/metrics series after ${names.toLocaleString('en-US')} distinct operation names`,
          value: after.size,
          unit: 'series',
          baseline: {
            name: `after the same load with ${APP_OPERATIONS} operation names of the app`,
            value: before.size,
          },
          ratio: round(after.size / before.size, 3),
          ratioMeaning: 'after ÷ before the hostile names, same child',
          target: '≤ 2× before',
          met: after.size <= 2 * before.size,
          goal: { on: 'ratio', op: '<=', threshold: 2 },
        },
      ],
      notes: [
        `3. ${names} requests of ${APP_OPERATIONS} named operations (the app; the same load, so that series any load brings, such as the GC-duration histogram of each kind of collection, are in the baseline), then \`query Hostile<i> { __typename }\` for ${names} values of i, 8 in flight, over HTTP; series counted in the child's /metrics on its own port (every sample line: histogram buckets, sums and counts, process metrics). ` +
          `Distinct \`operation\` label values: ${operations(before)} before, ${operations(after)} after (METRICS_MAX_OPERATION_NAMES default 100, then \`__other\`).`,
      ],
    };
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Uploads stalled before their last bytes

const STALLED = 25;
const UPLOAD_BYTES = 9 * 1024 * 1024;
/** How long after the last client write live memory is read (UPLOAD_IDLE_TIMEOUT_SECONDS, 10 by default, closes them after). */
const STALL_READINGS_MS = 7_000;
/** What a stalled client keeps back: the end of the file and the closing boundary. */
const HELD_BACK = 64;
const BOUNDARY = '----pinit-bench-hostile';

/** A real JPEG header (so that a server sniffing the type sees an image) padded to UPLOAD_BYTES. */
async function uploadFile(): Promise<Buffer> {
  const { width, height } = { width: 64, height: 64 };
  const jpeg = await sharp({ create: { width, height, channels: 3, background: '#336699' } })
    .jpeg()
    .toBuffer();
  return Buffer.concat([jpeg, Buffer.alloc(UPLOAD_BYTES - jpeg.length, 0x20)]);
}

/** A GraphQL multipart request for uploadImage, as raw HTTP/1.1 bytes (Connection: close). */
function multipartRequest(port: number, token: string, file: Buffer): Buffer {
  const { head: preamble, tail } = uploadEnvelope(BOUNDARY);
  const body = Buffer.concat([preamble, file, tail]);
  const head =
    `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n` +
    `apollo-require-preflight: true\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\n` +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), body]);
}

interface RawRequest {
  /** When the last byte we meant to send was handed to the kernel (wall clock ms). */
  sentAt: Promise<number>;
  /** When the server closed the connection, or null at the deadline. */
  closedAt: Promise<number | null>;
  /** The first line of the server's answer, if any. */
  answer: () => string;
  destroy: () => void;
}

/** Sends `bytes` over a fresh connection and keeps it open; nothing more is ever sent. */
function sendRaw(port: number, bytes: Buffer, deadlineMs: number): RawRequest {
  const socket = net.connect(port, '127.0.0.1');
  let answer = '';
  socket.on('data', (chunk) => {
    if (answer.length < 200) answer += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  // A server that stops reading never lets the write finish: past the deadline it counts as sent.
  const sentAt = new Promise<number>((resolve) => {
    const timer = setTimeout(() => resolve(Date.now()), Math.min(deadlineMs, 60_000));
    socket.write(bytes, () => {
      clearTimeout(timer);
      resolve(Date.now());
    });
  });
  const closedAt = new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), deadlineMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now());
    });
  });
  return { sentAt, closedAt, answer: () => answer.split('\r\n')[0] ?? '', destroy: () => socket.destroy() };
}

async function stalledUploads(env: BenchEnv, databaseUrl: string): Promise<Part> {
  const capSeconds = env.quick ? 30 : 120;
  // The timeouts at their defaults: the figure is about what a deployment gets out of the box.
  const { server } = await startChild(env, databaseUrl, 'uploads', { nodeArgs: GC_ON_SIGNAL_ARGS });
  const requests: RawRequest[] = [];
  try {
    const port = Number(new URL(server.url).port);
    const file = await uploadFile();
    // One user per upload: UPLOADS_MAX_CONCURRENT_PER_USER (default 2, where it exists) must not be what stops them.
    const users = await registerUsers(server.graphqlUrl, STALLED, 'stall');

    // Baseline: the same request sent in full by an honest client, answered.
    const honestRss = sampleRssPeak(server.pid);
    const honestBefore = await rssMB(server.pid);
    const honestStarted = Date.now();
    const honest = sendRaw(port, multipartRequest(port, users[0]!.accessToken, file), 60_000);
    requests.push(honest);
    const honestClosed = await honest.closedAt;
    const honestSeconds = honestClosed === null ? NaN : (honestClosed - honestStarted) / 1000;
    const honestGrowth = Math.max(0, (await honestRss.stop()) - honestBefore);
    env.log(`hostile 4: honest upload answered "${honest.answer()}" in ${round(honestSeconds, 2)} s`);

    const liveBefore = await liveMemoryMB(server, 300);
    const rssBefore = await rssMB(server.pid);
    const peak = sampleRssPeak(server.pid, 200);
    const stalled = users.map((user) => {
      const full = multipartRequest(port, user.accessToken, file);
      const request = sendRaw(port, full.subarray(0, full.length - HELD_BACK), (capSeconds + 60) * 1000);
      requests.push(request);
      return request;
    });
    const sent = await Promise.all(stalled.map((r) => r.sentAt));
    const stallStart = Math.max(...sent);
    // What the stalled uploads hold: live memory once the server has read what they sent (it
    // may still be reading the kernel's backlog after the client's last write), so the lowest
    // of readings taken each second while they stall, before the idle timeout closes them.
    const uncollected = ((await server.metrics()).get('pinit_nodejs_external_memory_bytes') ?? NaN) / 2 ** 20;
    const liveReadings: Array<{ heap: number; external: number }> = [];
    while (Date.now() < stallStart + STALL_READINGS_MS) liveReadings.push(await liveMemoryMB(server, 500));
    const total = (m: { heap: number; external: number }) => m.heap + m.external;
    const liveStalled = liveReadings.reduce((a, b) => (total(b) < total(a) ? b : a));
    const held = Math.max(0, total(liveStalled) - total(liveBefore));
    const deadline = stallStart + capSeconds * 1000;
    const closed = await Promise.all(
      stalled.map((r) =>
        Promise.race([r.closedAt, sleep(Math.max(0, deadline - Date.now())).then(() => null as number | null)]),
      ),
    );
    const rssPeak = await peak.stop();
    const times = closed.map((at, i) => (at === null || at > deadline ? null : (at - sent[i]!) / 1000));
    const open = times.filter((t) => t === null).length;
    const slowest = open ? capSeconds : Math.max(...(times as number[]));
    const growth = Math.max(0, rssPeak - rssBefore);
    const answers = [...new Set(stalled.map((r) => r.answer() || '(no answer)'))];
    env.log(`hostile 4: RSS +${mb(growth)}, ${open} of ${STALLED} still open after ${capSeconds} s`);
    const figures: Figure[] = [
      {
        name: `server memory held by ${STALLED} uploads of 9 MB stalled before their last ${HELD_BACK} bytes (live heap + Buffers)`,
        value: round(held, 1),
        unit: 'MB',
        baseline: { name: 'RSS growth of one honest upload of the same request', value: round(honestGrowth, 1) },
        ratio: round(held / Math.max(1, honestGrowth), 3),
        ratioMeaning: 'held ÷ one complete upload’s RSS growth (floored at 1 MB), same child',
        target: '≤ 16 MB',
        met: held <= 16,
        goal: { on: 'value', op: '<=', threshold: 16 },
      },
      {
        name: `server RSS peak growth while the ${STALLED} bodies arrive and stall`,
        value: round(growth, 1),
        unit: 'MB',
        baseline: { name: 'one honest upload of the same request', value: round(honestGrowth, 1) },
        ratio: round(growth / Math.max(1, honestGrowth), 3),
        ratioMeaning: 'growth ÷ one complete upload’s growth (floored at 1 MB), same child',
      },
      {
        name: open
          ? `time until the server closes ${STALLED} stalled uploads (${open} not closed within ${capSeconds} s)`
          : `time until the server closes ${STALLED} stalled uploads`,
        value: round(slowest, 1),
        unit: 's',
        baseline: { name: 'one honest upload, sent and answered', value: round(honestSeconds, 2) },
        ratio: round(slowest / honestSeconds, 3),
        ratioMeaning: 'the slowest close ÷ one complete upload’s time, same child',
        target: '≤ 60 s',
        met: open === 0 && slowest <= 60,
        goal: { on: 'value', op: '<=', threshold: 60 },
      },
    ];
    const closedTimes = times.filter((t): t is number => t !== null);
    const notes = [
      `4. ${STALLED} signed-in users (one each, so UPLOADS_MAX_CONCURRENT_PER_USER, default 2, is not what stops them; UPLOADS_MAX_CONCURRENT, per instance, stays at its default) open raw TCP connections and send an uploadImage GraphQL multipart request ` +
        `(apollo-require-preflight, Connection: close) declaring a ${UPLOAD_BYTES / 2 ** 20} MB JPEG (a valid 64×64 JPEG padded with spaces) and hold back its last ${HELD_BACK} bytes. ` +
        `Every timeout at its default (UPLOAD_IDLE_TIMEOUT_SECONDS, UPLOAD_TIMEOUT_SECONDS, HTTP_HEADERS_TIMEOUT_SECONDS). Time: from the moment the client's last write was handed to the kernel to the server closing the connection, the slowest of the ${STALLED}, waited for at most ${capSeconds} s. ` +
        `Held: V8's heap in use plus its external memory (Buffers) right after a full collection (SIGUSR2, bench/clients/gc-on-signal.mjs), the lowest of the readings taken every ~0.5 s from the last client write until ${STALL_READINGS_MS / 1000} s after it (the server may still be reading the kernel's backlog at first), minus the same just before the uploads. RSS: VmRSS before the uploads, peak sampled every 200 ms until all closed or the cap. Baseline: the same request sent in full first (answered "${honest.answer()}" in ${round(honestSeconds, 2)} s, RSS +${mb(honestGrowth)}).`,
      `4. Stalled: RSS ${mb(rssBefore)} → peak ${mb(rssPeak)}; ${closedTimes.length} closed by the server` +
        (closedTimes.length
          ? ` (after ${round(Math.min(...closedTimes), 1)}–${round(Math.max(...closedTimes), 1)} s)`
          : '') +
        `, ${open} still open after ${capSeconds} s; what they were answered: ${answers.join(' | ')}. ` +
        `Live heap + Buffers ${round(liveBefore.heap + liveBefore.external, 1)} MB before → ${round(liveStalled.heap + liveStalled.external, 1)} MB while stalled (Buffers ${round(liveBefore.external, 1)} → ${round(liveStalled.external, 1)} MB; ${round(uncollected, 1)} MB at the last client write, before any collection; readings ${liveReadings.map((r) => round(total(r), 1)).join(', ')} MB). ` +
        `The RSS peak is the transfer's garbage, not what the uploads hold: ${STALLED} × ${UPLOAD_BYTES / 2 ** 20} MB arrive in 64 KB socket reads, each a Buffer streamed to its temporary file and dropped, and V8 collects them when their external memory has grown enough to be worth it; the allocator keeps part of what was freed.`,
    ];
    return { figures, notes };
  } finally {
    for (const r of requests) r.destroy();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 5. PostgreSQL black-holed, then gone and back

/** A signed-in `me` reads the user's row: it must reach the database (nothing caches it). */
const ME = 'query Me { me { id username } }';

type Outcome = { ms: number; ok: boolean; what: string };

/** One `me`, given up on by the client after `timeoutMs`. */
async function timedMe(server: ServerProcess, token: string, timeoutMs: number): Promise<Outcome> {
  const started = performance.now();
  try {
    const res = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: ME }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as {
      data?: { me?: { id: string } | null };
      errors?: Array<{ extensions?: { code?: string } }>;
    };
    const ok = res.status === 200 && !!body.data?.me && !body.errors?.length;
    return {
      ms: performance.now() - started,
      ok,
      what: ok ? 'ok' : `HTTP ${res.status} ${body.errors?.[0]?.extensions?.code ?? ''}`.trim(),
    };
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError';
    return { ms: performance.now() - started, ok: false, what: timedOut ? 'no answer' : (error as Error).message };
  }
}

async function databaseBlackhole(env: BenchEnv, databaseUrl: string): Promise<Part> {
  // The same caps in quick mode: how soon it recovers depends on how long the connections sat idle.
  const failCapMs = 15_000;
  const recoverCapMs = 60_000;
  const attemptMs = 5_000;
  const proxy = TcpProxy.for(databaseUrl, 5432);
  await proxy.start();
  let server: ServerProcess | undefined;
  try {
    ({ server } = await startChild(env, proxy.url(databaseUrl), 'database through a proxy'));
    const user = await registerUser(server.graphqlUrl, 'dbhole');
    // A pool as a server that has seen some load holds it: several connections, open and idle.
    await forEachConcurrently(40, 8, async () => {
      const r = await timedMe(server!, user.accessToken, 5_000);
      if (!r.ok) throw new Error(`me failed with the database healthy: ${r.what}`);
    });
    const healthy: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await timedMe(server, user.accessToken, 5_000);
      if (!r.ok) throw new Error(`me failed with the database healthy: ${r.what}`);
      if (i >= 10) healthy.push(r.ms);
    }
    const baseline = summarize(healthy);
    const poolStats = async () => {
      const m = await server!.metrics();
      return ['total', 'idle', 'waiting'].map((k) => `${m.get(`pinit_db_pool_${k}`)} ${k}`).join(', ');
    };
    const pool = await poolStats();

    proxy.mode = 'blackhole';
    const failing = await timedMe(server, user.accessToken, failCapMs);
    env.log(`hostile 5: black-holed, me → ${failing.what} after ${round(failing.ms)} ms`);

    // The host comes back as a new one: its old connections are gone without a word, new ones work.
    proxy.reset({ silently: true });
    proxy.mode = 'up';
    const backAt = performance.now();
    const attempts: Outcome[] = [];
    let recovered: number | null = null;
    while (performance.now() - backAt < recoverCapMs) {
      const left = recoverCapMs - (performance.now() - backAt);
      const attempt = await timedMe(server, user.accessToken, Math.min(attemptMs, left));
      attempts.push(attempt);
      if (attempt.ok) {
        recovered = performance.now() - backAt;
        break;
      }
      if (attempt.ms < 250) await sleep(250);
    }
    env.log(`hostile 5: ${recovered === null ? 'not recovered' : `recovered after ${round(recovered)} ms`}`);
    const poolAfter = await poolStats();
    const failed = !failing.ok && failing.what !== 'no answer';
    const failValue = failed ? failing.ms : failCapMs;
    const recoverValue = recovered ?? recoverCapMs;
    const tally = new Map<string, number>();
    for (const a of attempts) tally.set(a.what, (tally.get(a.what) ?? 0) + 1);
    const figures: Figure[] = [
      {
        name: failed
          ? 'time for a signed-in `me` to fail, database black-holed'
          : `time for a signed-in \`me\` to fail, database black-holed (no answer within ${failCapMs / 1000} s)`,
        value: round(failValue, 1),
        unit: 'ms',
        baseline: { name: '`me` p50 with the database healthy', value: round(baseline.p50, 2) },
        ratio: round(failValue / baseline.p50, 3),
        ratioMeaning: 'time ÷ the healthy query’s p50, same child',
        target: '≤ 5 s',
        met: failed && failing.ms <= 5_000,
        goal: { on: 'value', op: '<=', threshold: 5_000 },
      },
      {
        name:
          recovered === null
            ? `time until \`me\` succeeds again once the database is back (not within ${recoverCapMs / 1000} s)`
            : 'time until `me` succeeds again once the database is back (old connections vanished)',
        value: round(recoverValue, 1),
        unit: 'ms',
        baseline: { name: '`me` p50 with the database healthy', value: round(baseline.p50, 2) },
        ratio: round(recoverValue / baseline.p50, 3),
        ratioMeaning: 'time ÷ the healthy query’s p50, same child',
        target: '≤ 30 s',
        met: recovered !== null && recovered <= 30_000,
        goal: { on: 'value', op: '<=', threshold: 30_000 },
      },
    ];
    const notes = [
      `5. The child's DATABASE_URL goes through a TCP proxy in the bench process (tests/helpers/tcp-proxy.ts); Redis does not. A signed-in \`me\` (one primary-key read of the user; the token is checked without the database) ` +
        `with the database healthy: p50 ${round(baseline.p50, 2)} / p99 ${round(baseline.p99, 2)} ms (20 one after another, after 10 of warm-up and 40 with 8 in flight to open the pool); the pool then held ${pool} connections. ` +
        `Then the proxy black-holes (accepts connections and bytes, answers nothing): one \`me\`, given up on by the client after ${failCapMs / 1000} s, got "${failing.what}" after ${round(failing.ms)} ms. ` +
        `Then the host "vanishes and comes back": every open proxied connection has its upstream destroyed and its client side left open and silent forever (\`reset({ silently: true })\`), and new connections pass again. ` +
        `From then on one \`me\` at a time (each given up after ${attemptMs / 1000} s, 250 ms apart when they fail fast) until one succeeds, for at most ${recoverCapMs / 1000} s: ` +
        `${attempts.length} attempt${attempts.length === 1 ? '' : 's'} (${[...tally].map(([what, n]) => `${n}× ${what}`).join(', ')}); the pool then: ${poolAfter}. ` +
        'An attempt that draws a vanished connection from the pool hangs; one that gets a new connection works, so without timeouts how soon it recovers depends on how many idle connections the pool held. ' +
        `Timeouts at their defaults: DATABASE_QUERY_TIMEOUT_MS ${DEFAULT_DATABASE_TIMEOUTS.queryMs}, DATABASE_CONNECT_TIMEOUT_MS ${DEFAULT_DATABASE_TIMEOUTS.connectMs}.`,
    ];
    return { figures, notes };
  } finally {
    await server?.stop();
    await proxy.stop();
  }
}

// ---------------------------------------------------------------------------------------------

export const run: BenchCase = async (env) => {
  const started = Date.now();
  const database = await createDatabase(env.databaseUrl, 'pinit_bench');
  try {
    const parts: Part[] = [];
    for (const [label, part] of [
      ['non-reading subscribers', nonReadingSubscribers],
      ['the 1,200-field document', wideDocument],
      ['operation names in /metrics', metricsSeries],
      ['stalled uploads', stalledUploads],
      ['database black-holed', databaseBlackhole],
    ] as const) {
      env.log(`hostile: ${label}`);
      parts.push(await part(env, database.url));
    }
    return {
      id: '7',
      title: 'Hostile clients',
      figures: parts.flatMap((p) => p.figures),
      notes: [
        'Each numbered part runs on a fresh API child process (production mode, its own Redis prefix, RATE_LIMITS=off) on one PostgreSQL database of the case; the hostile clients are in the bench process. RSS and CPU time are read from /proc/<pid> of the child.',
        ...parts.flatMap((p) => p.notes),
      ],
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await database.drop();
  }
};
