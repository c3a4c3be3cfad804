// Case 5, chat latency across instances: two API instances (child processes) share one
// PostgreSQL database and Redis. A sender posts sendMessage over HTTP to instance A at a fixed
// rate; a receiver subscribed to messageAdded on instance B gets each message through Redis.
// Baseline, same run: a raw Redis PUBLISH → SUBSCRIBE round trip (ioredis) at the same rate.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import type { Profiler } from 'node:inspector';
import { join, relative } from 'node:path';
import type { Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createDatabase } from '../../tests/helpers/database.ts';
import { befriendAndOpenChat, gql, registerUsers, signedInSocket } from '../clients/gql.ts';
import type { BenchUser } from '../clients/gql.ts';
import { round, sleep, summarize, wallClockMs } from '../lib/latency.ts';
import { PROFILES_DIR, profileNote, summarizeProfile } from '../lib/profile.ts';
import type { Summary } from '../lib/latency.ts';
import { deploymentSecrets, startServerProcess } from '../lib/server-process.ts';
import type { ServerProcess } from '../lib/server-process.ts';
import type { BenchCase, BenchEnv, Figure } from '../lib/types.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const RATE = 200;
/** A rate this machine keeps up with, measured first for reference: latency without queueing. */
const LOW_RATE = 50;
/**
 * Conversations the rate is spread over: 200 messages/s is a deployment's chat traffic, not one
 * person typing. (One chat at 200/s serializes on its row lock: every send increments the
 * chat's sequence number in its transaction, which is what keeps messages in exact order.)
 */
const PAIRS = 20;
const TARGET_P99_MS = 25;
const WARM_UP_SECONDS = 2;

const SEND =
  'mutation Send($chatId: ID!, $body: String!, $clientMessageId: String) { sendMessage(chatId: $chatId, body: $body, clientMessageId: $clientMessageId) { id } }';
const RECEIVE =
  'subscription Incoming($chatId: ID) { messageAdded(chatId: $chatId) { id body clientMessageId createdAt sender { id username } } }';

/**
 * Calls `send(i)` at `rate` per second for `seconds`, on schedule whether or not earlier calls
 * have finished (open loop: a slow answer must not slow the offered load and hide its own delay).
 */
async function openLoop(rate: number, seconds: number, send: (i: number) => Promise<void>): Promise<number> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const start = performance.now();
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const wait = start + i * interval - performance.now();
    if (wait >= 1) await sleep(wait);
    pending.push(send(i));
  }
  await Promise.all(pending);
  return total / ((performance.now() - start) / 1000);
}

/** Waits until `count()` reaches `expected` or nothing new arrived for `quietMs`. */
async function drain(count: () => number, expected: number, quietMs = 3_000): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  while (count() < expected && Date.now() - lastChange < quietMs) {
    if (count() !== last) {
      last = count();
      lastChange = Date.now();
    }
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// Baseline: Redis alone

async function redisRoundTrip(
  redisUrl: string,
  prefix: string,
  seconds: number,
): Promise<{ latency: Summary; missing: number; rate: number }> {
  const pub = new Redis(redisUrl);
  const sub = new Redis(redisUrl);
  const channel = `${prefix}:bench-baseline`;
  try {
    const sentAt: number[] = [];
    const latencies: number[] = [];
    sub.on('message', (_channel: string, raw: string) => {
      const at = wallClockMs();
      const { i } = JSON.parse(raw) as { i: number };
      latencies.push(at - sentAt[i]!);
    });
    await sub.subscribe(channel);
    // The payload the API publishes for a new message, in its envelope, so both carry the same bytes.
    const payload = (i: number) =>
      JSON.stringify({
        i,
        t: Date.now(),
        p: { type: 'added', chatId: randomBytes(16).toString('hex'), messageId: randomBytes(16).toString('hex') },
      });
    const rate = await openLoop(RATE, seconds, async (i) => {
      sentAt[i] = wallClockMs();
      await pub.publish(channel, payload(i));
    });
    await drain(() => latencies.length, sentAt.length);
    return { latency: summarize(latencies), missing: sentAt.length - latencies.length, rate };
  } finally {
    sub.disconnect();
    pub.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// The API: send on A, receive on B

export interface ChatRun {
  /** Just before the HTTP request is issued → the frame's arrival at the receiver. */
  sendToReceive: Summary;
  /** The message row's createdAt → arrival: an upper bound of commit → arrival (createdAt is set before the commit). */
  rowToReceive: Summary;
  /** The sender's HTTP round trip (the API publishes before it answers). */
  httpRoundTrip: Summary;
  missing: number;
  errors: number;
  errorSamples: string[];
  rate: number;
}

/** What all receivers heard: clientMessageId → arrival time and the row's createdAt; errors. */
export interface Inbox {
  arrivals: Map<string, { at: number; createdAt: number }>;
  errors: string[];
}

export interface Conversation {
  sender: BenchUser;
  chatId: string;
  receiver: Client;
}

/** A receiver on B: one graphql-ws subscription, as the chat screen of an app holds it. */
function subscribeReceiver(b: ServerProcess, token: string, chatId: string, receiver: Inbox): Client {
  const client = signedInSocket(b.wsUrl, token);
  let disposed = false;
  client.on('closed', (event) => {
    if (!disposed) receiver.errors.push(`receiver socket closed: ${(event as { code?: number }).code}`);
  });
  const dispose = client.dispose.bind(client);
  client.dispose = () => {
    disposed = true;
    return dispose();
  };
  client.subscribe(
    { query: RECEIVE, variables: { chatId } },
    {
      next: (value) => {
        const at = wallClockMs();
        if (value.errors?.length) return void receiver.errors.push(JSON.stringify(value.errors));
        const message = (value.data as { messageAdded: { clientMessageId: string; createdAt: string } }).messageAdded;
        receiver.arrivals.set(message.clientMessageId, { at, createdAt: Date.parse(message.createdAt) });
      },
      error: (error) => receiver.errors.push(`subscription error: ${JSON.stringify(error)}`),
      complete: () => {
        if (!disposed) receiver.errors.push('subscription completed by the server');
      },
    },
  );
  return client;
}

/** Sends at `rate` per second, message i in conversation i mod PAIRS, and waits for the deliveries. */
export async function sendMessages(
  a: ServerProcess,
  conversations: Conversation[],
  receiver: Inbox,
  label: string,
  rate: number,
  seconds: number,
): Promise<ChatRun> {
  const sentAt = new Map<string, number>();
  const roundTrips: number[] = [];
  const errors: string[] = [];
  const achieved = await openLoop(rate, seconds, async (i) => {
    const { sender, chatId } = conversations[i % conversations.length]!;
    const clientMessageId = `${label}-${i}`;
    const started = wallClockMs();
    sentAt.set(clientMessageId, started);
    try {
      const result = await gql(
        a.graphqlUrl,
        SEND,
        { chatId, body: `Message ${i} of ${label}`, clientMessageId },
        sender.accessToken,
      );
      roundTrips.push(wallClockMs() - started);
      if (result.status !== 200 || result.errors?.length)
        errors.push(`HTTP ${result.status}: ${JSON.stringify(result.errors)}`);
    } catch (error) {
      errors.push(`request failed: ${(error as Error).message}`);
    }
  });
  const received = () => [...sentAt.keys()].filter((id) => receiver.arrivals.has(id)).length;
  await drain(received, sentAt.size);
  const sendToReceive: number[] = [];
  const rowToReceive: number[] = [];
  for (const [id, sent] of sentAt) {
    const arrival = receiver.arrivals.get(id);
    if (!arrival) continue;
    sendToReceive.push(arrival.at - sent);
    rowToReceive.push(arrival.at - arrival.createdAt);
  }
  const allErrors = [...errors, ...receiver.errors.splice(0)];
  return {
    sendToReceive: summarize(sendToReceive),
    rowToReceive: summarize(rowToReceive),
    httpRoundTrip: summarize(roundTrips),
    missing: sentAt.size - sendToReceive.length,
    errors: allErrors.length,
    errorSamples: allErrors.slice(0, 3),
    rate: achieved,
  };
}

/**
 * graphql-ws does not acknowledge a subscription, and B subscribes to Redis asynchronously:
 * probe messages, one at a time, until one arrives.
 */
async function waitUntilLive(a: ServerProcess, { sender, chatId }: Conversation, receiver: Inbox): Promise<void> {
  for (let probe = 0; probe < 50; probe++) {
    const clientMessageId = `probe-${chatId}-${probe}`;
    await gql(a.graphqlUrl, SEND, { chatId, body: 'Are you there?', clientMessageId }, sender.accessToken);
    await sleep(100);
    if (receiver.arrivals.has(clientMessageId)) return;
  }
  throw new Error(`a receiver's subscription on B never delivered: ${receiver.errors.join('; ')}`);
}

/**
 * What the database's sessions for this deployment are doing, sampled every 50 ms while `work`
 * runs: "active: Lock/transactionid" means waiting for another transaction's row lock,
 * "idle in transaction" means the API holds a transaction open between its statements.
 */
async function watchSessions<T>(
  adminUrl: string,
  databaseUrl: string,
  work: () => Promise<T>,
): Promise<{ result: T; states: string[] }> {
  const name = new URL(databaseUrl).pathname.slice(1);
  const db = new pg.Client({ connectionString: adminUrl });
  await db.connect();
  const tally = new Map<string, number>();
  let samples = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      const { rows } = await db.query<{ key: string; n: number }>(
        `SELECT state || COALESCE(': ' || wait_event_type || '/' || wait_event, '') AS key, count(*)::int AS n
           FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() GROUP BY 1`,
        [name],
      );
      samples += 1;
      for (const row of rows) tally.set(row.key, (tally.get(row.key) ?? 0) + row.n);
      await sleep(50);
    }
  })();
  try {
    const result = await work();
    return {
      result,
      states: [...tally].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${key} ${round(n / Math.max(1, samples), 1)}`),
    };
  } finally {
    running = false;
    await sampler;
    await db.end();
  }
}

const cpuSeconds = async (server: ServerProcess) =>
  (await server.metrics()).get('pinit_process_cpu_seconds_total') ?? NaN;

/** B's publish → local delivery lag histogram (pinit_pubsub_delivery_lag_seconds) as cumulative bucket counts. */
async function lagBuckets(b: ServerProcess): Promise<Map<string, number>> {
  const buckets = new Map<string, number>();
  for (const [series, value] of await b.metrics()) {
    const le = /^pinit_pubsub_delivery_lag_seconds_bucket\{le="([^"]+)"\}$/.exec(series)?.[1];
    if (le) buckets.set(le, value);
  }
  return buckets;
}

/** The bucket bound under which a share of the deliveries between two readings fell ("≤ 5 ms"). */
function bucketPercentile(before: Map<string, number>, after: Map<string, number>, share: number): string {
  const inf = (after.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
  if (!inf) return 'n/a';
  for (const [le, count] of after) {
    if (count - (before.get(le) ?? 0) >= share * inf) return le === '+Inf' ? '> 1 s' : `≤ ${Number(le) * 1000} ms`;
  }
  return 'n/a';
}

// ---------------------------------------------------------------------------------------------

function figuresOf(chat: ChatRun, redis: Awaited<ReturnType<typeof redisRoundTrip>>): Figure[] {
  const ratioMeaning = 'API send → receive ÷ Redis PUBLISH → SUBSCRIBE, same rate, same run';
  const pair = (name: string, key: 'p50' | 'p99' | 'max', target?: number): Figure => ({
    name,
    value: round(chat.sendToReceive[key]),
    unit: 'ms',
    baseline: { name: `Redis pub/sub round trip ${key}`, value: round(redis.latency[key], 3) },
    ratio: round(chat.sendToReceive[key] / redis.latency[key]),
    ratioMeaning,
    ...(target ? { target: `p99 < ${target} ms`, met: chat.sendToReceive[key] < target } : {}),
  });
  return [
    pair(`chat send → receive p99, A → B via Redis, ${RATE} msg/s`, 'p99', TARGET_P99_MS),
    pair('chat send → receive p50', 'p50'),
    pair('chat send → receive max', 'max'),
    {
      name: 'chat errors + missing messages',
      value: chat.errors + chat.missing,
      unit: 'count',
      baseline: { name: 'Redis baseline missing messages', value: redis.missing },
      target: '0',
      met: chat.errors + chat.missing === 0,
    },
  ];
}

/** PAIRS friends with a direct chat each (set up on A), the receivers subscribed on B and proven live. */
export async function converse(a: ServerProcess, b: ServerProcess, inbox: Inbox): Promise<Conversation[]> {
  const users = await registerUsers(a.graphqlUrl, 2 * PAIRS, 'chat');
  const conversations: Conversation[] = [];
  for (let p = 0; p < PAIRS; p++) {
    const [sender, receiver] = [users[2 * p]!, users[2 * p + 1]!];
    const chatId = await befriendAndOpenChat(a.graphqlUrl, sender, receiver);
    conversations.push({ sender, chatId, receiver: subscribeReceiver(b, receiver.accessToken, chatId, inbox) });
  }
  for (const conversation of conversations) await waitUntilLive(a, conversation, inbox);
  return conversations;
}

/** The same path below saturation, against the same Redis baseline: what a message costs when nothing queues. */
function lowRateFigure(low: ChatRun, redis: Awaited<ReturnType<typeof redisRoundTrip>>): Figure {
  return {
    name: `chat send → receive p99 at ${LOW_RATE} msg/s (reference, below this machine's saturation)`,
    value: round(low.sendToReceive.p99),
    unit: 'ms',
    baseline: { name: 'Redis pub/sub round trip p99', value: round(redis.latency.p99, 3) },
    ratio: round(low.sendToReceive.p99 / redis.latency.p99),
    ratioMeaning: 'API send → receive ÷ Redis PUBLISH → SUBSCRIBE at 200/s, same run',
  };
}

async function measure(env: BenchEnv, a: ServerProcess, b: ServerProcess, redisPrefix: string, databaseUrl: string) {
  const seconds = env.quick ? 5 : 20;
  const inbox: Inbox = { arrivals: new Map(), errors: [] };
  const conversations = await converse(a, b, inbox);
  try {
    // First-use costs (JIT, prepared statements, pool connections) out of the measurement.
    const warmUp = await sendMessages(a, conversations, inbox, 'warm-up', 50, WARM_UP_SECONDS);
    if (warmUp.missing || warmUp.errors)
      throw new Error(`warm-up failed: ${warmUp.missing} missing, ${warmUp.errorSamples.join('; ')}`);
    env.log(`chat: warm-up ok (p50 ${round(warmUp.sendToReceive.p50)} ms); Redis baseline for ${seconds} s`);
    const redis = await redisRoundTrip(env.redisUrl, redisPrefix, seconds);
    env.log(
      `chat: Redis p99 ${round(redis.latency.p99, 3)} ms; API at ${LOW_RATE} msg/s, then for ${seconds} s at ${RATE} msg/s`,
    );
    const low = await sendMessages(a, conversations, inbox, 'reference', LOW_RATE, seconds / 2);
    const lagBefore = await lagBuckets(b);
    const cpuBefore = await Promise.all([a, b].map(cpuSeconds));
    const benchCpuBefore = process.cpuUsage();
    const { result: chat, states } = await watchSessions(env.databaseUrl, databaseUrl, () =>
      sendMessages(a, conversations, inbox, 'measured', RATE, seconds),
    );
    const benchCpu = process.cpuUsage(benchCpuBefore);
    const cpuAfter = await Promise.all([a, b].map(cpuSeconds));
    const lagAfter = await lagBuckets(b);
    const measuredSeconds = (chat.sendToReceive.count + chat.missing) / chat.rate;
    const cores = (i: number) => round((cpuAfter[i]! - cpuBefore[i]!) / measuredSeconds, 2);
    const cpuMsPerMessage = (i: number) =>
      round(((cpuAfter[i]! - cpuBefore[i]!) * 1000) / (chat.sendToReceive.count + chat.missing), 1);
    const notes = [
      `Two API instances (child processes, bench/lib/server-process.ts) on one fresh PostgreSQL database and Redis prefix; ${PAIRS} pairs of friends with a direct chat each. ` +
        `Senders: sendMessage over HTTP to A, round-robin over the chats, open loop at ${RATE}/s in total for ${seconds} s (achieved ${round(chat.rate, 1)}/s, ${chat.sendToReceive.count + chat.missing} messages). ` +
        `Receivers: messageAdded(chatId) over graphql-ws on B, one socket each. Latency measured from just before the HTTP request is issued to the frame's arrival at the receiver (both in the bench process, wall clock).`,
      `Parts of it: the sender's HTTP round trip p50/p99 ${round(chat.httpRoundTrip.p50)}/${round(chat.httpRoundTrip.p99)} ms (A answers after the commit and the publish); ` +
        `row createdAt → arrival p50/p99 ${round(chat.rowToReceive.p50)}/${round(chat.rowToReceive.p99)} ms (an upper bound of commit → arrival; createdAt has ms resolution and is set before the commit); ` +
        `B's own publish → delivery lag (pinit_pubsub_delivery_lag_seconds, buckets): p50 ${bucketPercentile(lagBefore, lagAfter, 0.5)}, p99 ${bucketPercentile(lagBefore, lagAfter, 0.99)}.`,
      `PostgreSQL sessions of the deployment while measuring (pg_stat_activity every 50 ms; state: wait → average number of sessions): ${states.join(', ')}. Both instances have a pool of 10.`,
      `CPU while measuring (process_cpu_seconds_total ÷ wall time): instance A ${cores(0)} cores, instance B ${cores(1)} cores, the bench process (senders, receivers) ${round((benchCpu.user + benchCpu.system) / 1e6 / measuredSeconds, 2)} cores, of this machine's 2 (PostgreSQL shares them too). Per message: A ${cpuMsPerMessage(0)} ms of CPU, B ${cpuMsPerMessage(1)} ms, so ${RATE}/s asks for ${round(((cpuMsPerMessage(0) + cpuMsPerMessage(1)) * RATE) / 1000, 2)} cores for the two instances alone.`,
      `On B, each delivery reads the message's sender, writes the DELIVERED marker (chat member row) and re-reads the message for the selection before the frame is sent; A's send is a transaction of 4 statements, a read of the members and the publish.`,
      `Redis baseline: ioredis PUBLISH → SUBSCRIBE of the API's payload shape on one channel, open loop at ${RATE}/s for ${seconds} s (achieved ${round(redis.rate, 1)}/s), p50/p99/max ${round(redis.latency.p50, 3)}/${round(redis.latency.p99, 3)}/${round(redis.latency.max, 3)} ms.`,
      ...(chat.errorSamples.length
        ? [`Errors: ${chat.errorSamples.join(' | ')}`, `Instance A's last log lines: ${a.recentOutput().slice(-1_500)}`]
        : []),
    ];
    notes.splice(
      1,
      0,
      `For reference, at ${LOW_RATE} msg/s for ${seconds / 2} s in the same run: send → receive p50/p99/max ${round(low.sendToReceive.p50)}/${round(low.sendToReceive.p99)}/${round(low.sendToReceive.max)} ms, ` +
        `HTTP round trip p50/p99 ${round(low.httpRoundTrip.p50)}/${round(low.httpRoundTrip.p99)} ms, ${low.errors + low.missing} errors + missing.`,
    );
    return { figures: [...figuresOf(chat, redis), lowRateFigure(low, redis)], notes };
  } finally {
    await Promise.all(conversations.map(async (c) => c.receiver.dispose()));
  }
}

async function stopAll(env: BenchEnv, servers: ServerProcess[]) {
  for (const server of [...servers].reverse())
    await server.stop().catch((error) => env.log(`chat: stopping ${server.name}: ${(error as Error).message}`));
}

/**
 * Summaries of the instances' --cpu-prof files. Node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
 * and writes one per thread: the main thread's (0) is kept as chat-<instance>.cpuprofile, the
 * tsx loader thread's is dropped.
 */
async function profileNotes(servers: ServerProcess[]): Promise<string[]> {
  const files = (await readdir(PROFILES_DIR)).filter((f) => /^CPU\.\d+\.\d+\.\d+\.\d+\.\d+\.cpuprofile$/.test(f));
  const notes: string[] = [];
  for (const server of servers) {
    const own = files.filter((f) => f.split('.')[3] === String(server.pid));
    const main = own.find((f) => f.split('.')[4] === '0');
    for (const other of own.filter((f) => f !== main)) await rm(join(PROFILES_DIR, other), { force: true });
    if (!main) continue;
    const renamed = join(PROFILES_DIR, `chat-${server.name.replace(/\s+/g, '-')}.cpuprofile`);
    await rename(join(PROFILES_DIR, main), renamed);
    const cpuProfile = JSON.parse(await readFile(renamed, 'utf8')) as Profiler.Profile;
    notes.push(
      profileNote(
        `CPU profile of ${server.name} over its life, mostly the measured load (${relative(ROOT, renamed)})`,
        summarizeProfile(cpuProfile),
      ),
    );
  }
  return notes;
}

export const run: BenchCase = async (env) => {
  const started = Date.now();
  const database = await createDatabase(env.databaseUrl, 'pinit_bench');
  const secrets = deploymentSecrets();
  const servers: ServerProcess[] = [];
  await mkdir(PROFILES_DIR, { recursive: true });
  try {
    // Each instance writes a CPU profile of its life when it exits (mostly the measured load).
    const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${PROFILES_DIR}`];
    const common = { databaseUrl: database.url, redisUrl: env.redisUrl, ...secrets, nodeArgs };
    // One after the other: the first applies the migrations to the empty database.
    servers.push(await startServerProcess({ ...common, name: 'instance A' }));
    servers.push(await startServerProcess({ ...common, name: 'instance B' }));
    const { figures, notes } = await measure(env, servers[0]!, servers[1]!, secrets.redisPrefix, database.url);
    await stopAll(env, servers);
    notes.push(...(await profileNotes(servers)));
    return { id: '5', title: 'Chat latency across instances', figures, notes, seconds: (Date.now() - started) / 1000 };
  } finally {
    await stopAll(env, servers);
    await database.drop();
  }
};
