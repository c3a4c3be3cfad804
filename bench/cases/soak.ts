// Case 6, soak: one API instance (child process, PostgreSQL + Redis), 100 concurrent clients for
// 5 minutes, each an app session: a graphql-ws socket holding eventChanged and messageAdded,
// and a loop of queries and mutations with think time between them. The instance's /metrics (on
// its metrics port) is sampled throughout. Targets: zero errors; RSS and open handles flat. Baselines, same run: the
// values at the end of the warm-up (RSS, handles), and the idle server before the clients came
// (handles after they left).
import type { Client } from 'graphql-ws';
import pg from 'pg';
import { createDatabase } from '../../tests/helpers/database.ts';
import { befriendAndOpenChat, eventInput, gql, gqlOk, registerUsers, signedInSocket } from '../clients/gql.ts';
import type { BenchUser } from '../clients/gql.ts';
import { round, sleep, summarize } from '../lib/latency.ts';
import { deploymentSecrets, GC_ON_SIGNAL_ARGS, liveMemoryMB, startServerProcess } from '../lib/server-process.ts';
import type { ServerProcess } from '../lib/server-process.ts';
import type { BenchCase, BenchEnv, Figure } from '../lib/types.ts';

const CLIENTS = 100;
/** Every fifth user is certified and hosts public events. */
const HOST_EVERY = 5;
const EVENTS_PER_HOST = 3;
/** At most this many events a host made during the soak stay; older ones are deleted (the table stays its size). */
const CHURN_EVENTS_KEPT = 2;
/** About 0.7 operations per second per user: busy app use, with headroom on this 2-core machine (a soak looks for leaks, not capacity). */
const THINK_MS = { min: 500, max: 2_500 };
/** RSS and handles count as flat when the end is within this factor of the value after warm-up… */
const FLAT = 1.1;
/** …or, for handle counts (tens), within this many: one keep-alive socket more is not a leak. */
const HANDLE_SLACK = 5;
const WARM_UP_SHARE = 0.2;

// The Berlin area: events are spread over it, map screens look at parts of it.
const AREA = { south: 52.4, north: 52.6, west: 13.2, east: 13.6 };
const VIEWPORTS = Array.from({ length: 10 }, (_, k) => {
  const lat = AREA.south + 0.04 + (k % 5) * 0.03;
  const lng = AREA.west + 0.08 + Math.floor(k / 5) * 0.2;
  return { south: lat - 0.05, north: lat + 0.05, west: lng - 0.1, east: lng + 0.1 };
});
const randomIn = (min: number, max: number) => min + Math.random() * (max - min);
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

// The operations of the app's screens.
const OPS = {
  map: `query Map($bounds: BoundsInput!) { eventsInBounds(bounds: $bounds, first: 100) { edges { node {
    id title latitude longitude startsAt attendeeCount spotsLeft viewerIsAttending host { id username avatarUrl } } } } }`,
  me: '{ me { id username fullName interests friendCount reputation { averageRating totalRatings trustLevel { title } } } }',
  chats:
    '{ chats(first: 20) { edges { node { id kind title unreadCount lastMessage { id body createdAt sender { id username } } } } } }',
  history:
    'query History($id: ID!) { chat(id: $id) { id messages(last: 30) { edges { node { id body createdAt status sender { id } } } } } }',
  send: 'mutation Send($chatId: ID!, $body: String!) { sendMessage(chatId: $chatId, body: $body) { id createdAt } }',
  read: 'mutation Read($chatId: ID!) { markChatRead(chatId: $chatId) { id unreadCount } }',
  join: 'mutation Join($id: ID!) { joinEvent(id: $id) { id attendeeCount viewerIsAttending } }',
  leave: 'mutation Leave($id: ID!) { leaveEvent(id: $id) { id attendeeCount viewerIsAttending } }',
  update:
    'mutation Update($id: ID!, $input: UpdateEventInput!) { updateEvent(id: $id, input: $input) { id version title } }',
  create: 'mutation Create($input: CreateEventInput!) { createEvent(input: $input) { id } }',
  remove: 'mutation Remove($id: ID!) { deleteEvent(id: $id) }',
};
const MAP_CHANGES = `subscription MapChanges($bounds: BoundsInput!) { eventChanged(bounds: $bounds) {
  kind eventId version event { id title latitude longitude attendeeCount spotsLeft viewerIsAttending host { id username } } } }`;
const INCOMING = 'subscription Incoming { messageAdded { id body createdAt chat { id } sender { id username } } }';

// ---------------------------------------------------------------------------------------------
// Set-up: users, friendships with a chat each, events

interface Session {
  user: BenchUser;
  isHost: boolean;
  chatId: string;
  viewport: (typeof VIEWPORTS)[number];
  /** Public events this user hosts from the start (updated, never deleted). */
  ownEvents: string[];
  /** Events this user made during the soak, oldest first. */
  churnEvents: string[];
  /** Events this user has joined. */
  joined: Set<string>;
}

async function inBatches<T>(items: T[], size: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size)
    await Promise.all(items.slice(i, i + size).map((item, k) => work(item, i + k)));
}

async function setUp(server: ServerProcess, databaseUrl: string): Promise<{ sessions: Session[]; joinable: string[] }> {
  const users = await registerUsers(server.graphqlUrl, CLIENTS, 'soak');
  const hosts = users.filter((_, i) => i % HOST_EVERY === 0);
  // Certification is an admin's decision; the soak is not about that path.
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  await db.query('UPDATE users SET is_certified = true WHERE id = ANY($1::uuid[])', [hosts.map((h) => h.id)]);
  await db.end();

  const sessions: Session[] = users.map((user, i) => ({
    user,
    isHost: i % HOST_EVERY === 0,
    chatId: '',
    viewport: VIEWPORTS[i % VIEWPORTS.length]!,
    ownEvents: [],
    churnEvents: [],
    joined: new Set(),
  }));
  // Friends in pairs, each pair with its direct chat.
  const pairs = Array.from({ length: CLIENTS / 2 }, (_, p) => [sessions[2 * p]!, sessions[2 * p + 1]!] as const);
  await inBatches(pairs, 5, async ([a, b]) => {
    a.chatId = b.chatId = await befriendAndOpenChat(server.graphqlUrl, a.user, b.user);
  });
  await inBatches(
    sessions.filter((s) => s.isHost),
    5,
    async (host) => {
      for (let e = 0; e < EVENTS_PER_HOST; e++) {
        const input = eventInput(randomIn(AREA.south, AREA.north), randomIn(AREA.west, AREA.east), `Soak meetup ${e}`, {
          maxParticipants: 1000,
        });
        const { createEvent } = await gqlOk<{ createEvent: { id: string } }>(
          server.graphqlUrl,
          OPS.create,
          { input },
          host.user.accessToken,
        );
        host.ownEvents.push(createEvent.id);
      }
    },
  );
  return { sessions, joinable: sessions.flatMap((s) => s.ownEvents) };
}

// ---------------------------------------------------------------------------------------------
// The clients

interface Tally {
  operations: number;
  errors: number;
  errorSamples: Set<string>;
  deliveries: number;
  /** Operation name → latencies (ms). */
  latencies: Map<string, number[]>;
}

function noteError(tally: Tally, message: string) {
  tally.errors += 1;
  if (tally.errorSamples.size < 8) tally.errorSamples.add(message.slice(0, 300));
}

/** The session's socket with its two live subscriptions, as the app's map and chat screens hold them. */
function connect(server: ServerProcess, session: Session, tally: Tally): { client: Client; closing: () => void } {
  let closing = false;
  const client = signedInSocket(server.wsUrl, session.user.accessToken, {
    closed: (event) => !closing && noteError(tally, `socket closed: ${(event as { code?: number }).code}`),
  });
  const sink = (name: string) => ({
    next: (value: { errors?: readonly unknown[] }) => {
      if (value.errors?.length) noteError(tally, `${name}: ${JSON.stringify(value.errors)}`);
      else tally.deliveries += 1;
    },
    error: (error: unknown) => noteError(tally, `${name} failed: ${JSON.stringify(error)}`),
    complete: () => !closing && noteError(tally, `${name} completed by the server`),
  });
  client.subscribe({ query: MAP_CHANGES, variables: { bounds: session.viewport } }, sink('eventChanged'));
  client.subscribe({ query: INCOMING }, sink('messageAdded'));
  return { client, closing: () => (closing = true) };
}

type Step = { name: keyof typeof OPS; variables: Record<string, unknown>; after?: (data: unknown) => void };

/**
 * The next thing this user does. Weights (of 100): map 30, me 10, chat list 10, history 5,
 * send 15, mark read 5, join/leave 10, and for hosts update 10 and create/delete 5 (others
 * look at the map instead).
 */
function nextStep(session: Session, joinable: string[]): Step {
  const roll = Math.random() * 100;
  if (roll < 30) return { name: 'map', variables: { bounds: session.viewport } };
  if (roll < 40) return { name: 'me', variables: {} };
  if (roll < 50) return { name: 'chats', variables: {} };
  if (roll < 55) return { name: 'history', variables: { id: session.chatId } };
  if (roll < 70)
    return { name: 'send', variables: { chatId: session.chatId, body: `Soak message at ${new Date().toISOString()}` } };
  if (roll < 75) return { name: 'read', variables: { chatId: session.chatId } };
  if (roll < 85) {
    const id = pick(joinable.filter((e) => !session.ownEvents.includes(e)));
    if (session.joined.has(id)) return { name: 'leave', variables: { id }, after: () => session.joined.delete(id) };
    return { name: 'join', variables: { id }, after: () => session.joined.add(id) };
  }
  if (!session.isHost) return { name: 'map', variables: { bounds: session.viewport } };
  if (roll < 95) {
    // A host edits a meetup: new title, the pin nudged (it stays in the area).
    const input = {
      title: `Soak meetup, edited ${Date.now() % 100_000}`,
      latitude: randomIn(AREA.south, AREA.north),
      longitude: randomIn(AREA.west, AREA.east),
    };
    return { name: 'update', variables: { id: pick(session.ownEvents), input } };
  }
  if (session.churnEvents.length >= CHURN_EVENTS_KEPT) {
    const id = session.churnEvents[0]!;
    return { name: 'remove', variables: { id }, after: () => session.churnEvents.shift() };
  }
  const input = eventInput(randomIn(AREA.south, AREA.north), randomIn(AREA.west, AREA.east), 'Soak pop-up meetup', {
    maxParticipants: 1000,
  });
  return {
    name: 'create',
    variables: { input },
    after: (data) => session.churnEvents.push((data as { createEvent: { id: string } }).createEvent.id),
  };
}

async function runSession(
  server: ServerProcess,
  session: Session,
  joinable: string[],
  until: number,
  tally: Tally,
): Promise<void> {
  // Spread the starts over one think time, as users arriving would.
  await sleep(randomIn(0, THINK_MS.max));
  while (Date.now() < until) {
    const step = nextStep(session, joinable);
    const started = performance.now();
    try {
      const result = await gql(server.graphqlUrl, OPS[step.name], step.variables, session.user.accessToken);
      const list = tally.latencies.get(step.name) ?? [];
      list.push(performance.now() - started);
      tally.latencies.set(step.name, list);
      if (result.status !== 200 || result.errors?.length || !result.data)
        noteError(tally, `${step.name}: HTTP ${result.status} ${JSON.stringify(result.errors)}`);
      else step.after?.(result.data);
    } catch (error) {
      noteError(tally, `${step.name}: ${(error as Error).message}`);
    }
    tally.operations += 1;
    await sleep(randomIn(THINK_MS.min, THINK_MS.max));
  }
}

// ---------------------------------------------------------------------------------------------
// The server's vital signs

interface Sample {
  /** Seconds since the clients started (negative: before). */
  at: number;
  rssMB: number;
  heapMB: number;
  handles: number;
  sockets: number;
}

async function sample(server: ServerProcess, startedAt: number): Promise<Sample> {
  const m = await server.metrics();
  return {
    at: Math.round((Date.now() - startedAt) / 1000),
    rssMB: (m.get('pinit_process_resident_memory_bytes') ?? NaN) / 2 ** 20,
    heapMB: (m.get('pinit_nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20,
    handles: m.get('pinit_nodejs_active_handles_total') ?? NaN,
    sockets: m.get('pinit_ws_connections') ?? NaN,
  };
}

/** Samples every `everyMs` until `until`, then once more. */
async function sampleUntil(
  server: ServerProcess,
  startedAt: number,
  until: number,
  everyMs: number,
  samples: Sample[],
): Promise<void> {
  while (Date.now() + everyMs <= until) {
    await sleep(everyMs);
    samples.push(await sample(server, startedAt));
  }
  await sleep(Math.max(0, until - Date.now()));
  samples.push(await sample(server, startedAt));
}

// ---------------------------------------------------------------------------------------------

function flatFigure(name: string, unit: string, start: number, end: number, startName: string, slack = 0): Figure {
  return {
    name,
    value: round(end, 1),
    unit,
    baseline: { name: startName, value: round(start, 1) },
    ratio: round(end / start, 3),
    ratioMeaning: 'end ÷ baseline, same run',
    target: slack ? `flat: ≤ ${FLAT} × baseline or ≤ baseline + ${slack}` : `flat: ≤ ${FLAT} × baseline`,
    met: end <= Math.max(FLAT * start, start + slack),
  };
}

async function soak(env: BenchEnv, server: ServerProcess, databaseUrl: string) {
  const seconds = env.quick ? 30 : 300;
  const sampleEveryMs = env.quick ? 3_000 : 10_000;
  const { sessions, joinable } = await setUp(server, databaseUrl);
  env.log(`soak: ${sessions.length} users, ${joinable.length} events; ${seconds} s of load`);
  // Settle: the set-up's HTTP keep-alive sockets close after 5 s idle.
  await sleep(6_000);
  const startedAt = Date.now();
  const idleBefore = await sample(server, startedAt);

  const tally: Tally = { operations: 0, errors: 0, errorSamples: new Set(), deliveries: 0, latencies: new Map() };
  const sockets = sessions.map((s) => connect(server, s, tally));
  const until = startedAt + seconds * 1000;
  const samples: Sample[] = [];
  const warmUpEnd = seconds * WARM_UP_SHARE;
  // A forced collection under load every fifth of the run (a pause of a few hundred ms each):
  // live heap after the warm-up, then whether it keeps growing or levels off.
  const liveHeap: Array<{ at: number; mb: number }> = [];
  const measureLiveHeap = async () => {
    for (let k = 1; k <= 5; k++) {
      await sleep(Math.max(0, startedAt + k * warmUpEnd * 1000 - (k === 5 ? 3_000 : 0) - Date.now()));
      liveHeap.push({ at: Math.round((Date.now() - startedAt) / 1000), mb: (await liveMemoryMB(server)).heap });
    }
  };
  await Promise.all([
    ...sessions.map((s) => runSession(server, s, joinable, until, tally)),
    sampleUntil(server, startedAt, until, sampleEveryMs, samples),
    measureLiveHeap(),
  ]);
  for (const socket of sockets) socket.closing();
  await Promise.all(sockets.map(async (s) => s.client.dispose()));
  await sleep(6_000);
  const idleAfter = await sample(server, startedAt);

  const start = samples.find((s) => s.at >= warmUpEnd) ?? samples[0]!;
  const end = samples[samples.length - 1]!;
  const max = samples.reduce((m, s) => (s.rssMB > m.rssMB ? s : m));
  const figures: Figure[] = [
    {
      name: `errors in ${seconds} s of ${CLIENTS} clients (GraphQL + HTTP + subscription + socket closes)`,
      value: tally.errors,
      unit: 'count',
      baseline: { name: 'operations', value: tally.operations },
      ratio: tally.errors / Math.max(1, tally.operations),
      ratioMeaning: 'errors ÷ operations',
      target: '0',
      met: tally.errors === 0,
    },
    flatFigure('server RSS at the end of the load', 'MB', start.rssMB, end.rssMB, `RSS after warm-up (${start.at} s)`),
    flatFigure(
      'server live heap (after a full GC) at the end of the load',
      'MB',
      liveHeap[0]!.mb,
      liveHeap[liveHeap.length - 1]!.mb,
      `live heap after warm-up (${liveHeap[0]!.at} s)`,
    ),
    flatFigure(
      'server active handles at the end of the load',
      'handles',
      start.handles,
      end.handles,
      `handles after warm-up (${start.at} s)`,
      HANDLE_SLACK,
    ),
    flatFigure(
      'server active handles, idle after the clients left',
      'handles',
      idleBefore.handles,
      idleAfter.handles,
      'idle before the clients came',
      HANDLE_SLACK,
    ),
  ];
  const opLines = [...tally.latencies].map(([name, l]) => {
    const s = summarize(l);
    return `${name} ${s.count}× p50 ${round(s.p50, 1)} / p99 ${round(s.p99, 1)} ms`;
  });
  const notes = [
    `One API instance (child process, bench/lib/server-process.ts) on a fresh PostgreSQL database and Redis; ${CLIENTS} signed-in clients in the bench process for ${seconds} s. ` +
      `Each holds one graphql-ws socket with eventChanged (one of ${VIEWPORTS.length} viewports over Berlin) and messageAdded (all chats), and loops over real operations with ${THINK_MS.min}–${THINK_MS.max} ms think time: ` +
      `map page 30%, me 10%, chat list 10%, chat history 5%, sendMessage 15%, markChatRead 5%, join/leave 10%, and for the ${CLIENTS / HOST_EVERY} certified hosts updateEvent 10% and create/delete 5% ` +
      `(at most ${CHURN_EVENTS_KEPT} pop-up events per host live at once, so the tables don't grow beyond what a day of use would add; messages do accumulate).`,
    `Done: ${tally.operations} operations (${round(tally.operations / seconds, 1)}/s), ${tally.deliveries} subscription deliveries (${round(tally.deliveries / seconds, 1)}/s). Per operation: ${opLines.join('; ')}.`,
    `"Flat": the value at the end of the load within ${FLAT}× the first sample after the warm-up (the first ${WARM_UP_SHARE * 100}% of the run, ${warmUpEnd} s); handle counts may also be within ${HANDLE_SLACK} of it. RSS max ${round(max.rssMB, 1)} MB at ${max.at} s. ` +
      `Idle before the clients: RSS ${round(idleBefore.rssMB, 1)} MB, ${idleBefore.handles} handles; idle after (6 s after the sockets closed): RSS ${round(idleAfter.rssMB, 1)} MB, ${idleAfter.handles} handles.`,
    `Live heap after a forced full GC (SIGUSR2, bench/clients/gc-on-signal.mjs), s: MB: ${liveHeap.map((h) => `${h.at}: ${round(h.mb, 1)}`).join(', ')}. ` +
      "The forced collections also let RSS shrink, so RSS here is flatter than an unobserved server's.",
    `Samples of /metrics (s: RSS MB / heap MB / handles / ws sockets): ${samples.map((s) => `${s.at}: ${round(s.rssMB, 1)}/${round(s.heapMB, 1)}/${s.handles}/${s.sockets}`).join(', ')}.`,
    ...(tally.errorSamples.size
      ? [
          `Errors (first distinct): ${[...tally.errorSamples].join(' | ')}`,
          `Server's last log lines: ${server.recentOutput().slice(-1_500)}`,
        ]
      : []),
  ];
  return { figures, notes };
}

export const run: BenchCase = async (env) => {
  const started = Date.now();
  const database = await createDatabase(env.databaseUrl, 'pinit_bench');
  let server: ServerProcess | undefined;
  try {
    server = await startServerProcess({
      databaseUrl: database.url,
      redisUrl: env.redisUrl,
      ...deploymentSecrets(),
      name: 'soak instance',
      nodeArgs: GC_ON_SIGNAL_ARGS,
    });
    const { figures, notes } = await soak(env, server, database.url);
    return { id: '6', title: 'Soak', figures, notes, seconds: (Date.now() - started) / 1000 };
  } finally {
    await server?.stop();
    await database.drop();
  }
};
