// Case 8, the change log (issue 16): resuming a subscription after missed changes, and a
// change whose writer died between commit and publish.
//
// Two API instances (child processes) share one PostgreSQL database and Redis; the changes are
// chat messages, which messageAdded delivers from the change log (src/changes/).
//
//   resume    a receiver on B holds a Message.cursor; 1,000 messages are sent to A while it is
//             away; it subscribes to messageAdded(chatId, after: cursor) and the time until the
//             1,000th replayed message arrives is taken, REPEATS times (the same cursor, so every
//             repetition replays the same 1,000 changes). Baseline: the same 1,000 message rows
//             read by one raw `pg` query from the bench process, timed the same number of times.
//   orphaned  a receiver on B is subscribed live; the bench process commits a message the way
//             sendMessage does (the same statement: chat sequence, message row, change_log row)
//             and never tells a relay, which is exactly what an instance SIGKILLed right after
//             its commit leaves behind. What relays it is a poll (CHANGE_LOG_POLL_MS, default
//             1 s, on A or B). Baseline: sendMessage on a living A, commit → arrival on B.
import { randomUUID } from 'node:crypto';
import type { Client } from 'graphql-ws';
import pg from 'pg';
import { userChatTopic } from '../../src/services/chat/index.ts';
import { createDatabase } from '../../tests/helpers/database.ts';
import { befriendAndOpenChat, gqlOk, registerUsers, signedInSocket } from '../clients/gql.ts';
import type { BenchUser } from '../clients/gql.ts';
import { round, sleep, summarize, wallClockMs } from '../lib/latency.ts';
import { deploymentSecrets, startServerProcess } from '../lib/server-process.ts';
import type { ServerProcess } from '../lib/server-process.ts';
import type { BenchCase, BenchEnv, Figure } from '../lib/types.ts';

const MISSED = 1_000;
const RESUME_TARGET_MS = 200;
const ORPHAN_TARGET_MS = 5_000;

const SEND =
  'mutation Send($chatId: ID!, $body: String!, $clientMessageId: String) { sendMessage(chatId: $chatId, body: $body, clientMessageId: $clientMessageId) { id cursor createdAt } }';
// What a chat screen asks for each message; the cursor is what it keeps for its next resume.
const RECEIVE =
  'subscription Incoming($chatId: ID, $after: String) { messageAdded(chatId: $chatId, after: $after) { id cursor body clientMessageId createdAt sender { id username } } }';

interface Frame {
  id: string;
  clientMessageId: string | null;
}

/** Nearest-rank p95 (summarize gives p50/p99/max; the figure is a p95). */
function p95(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(0.95 * sorted.length) - 1))]!;
}

/** A graphql-ws client on B, connected before anything is timed (the handshake is not the replay). */
async function connect(b: ServerProcess, token: string): Promise<Client> {
  const client = signedInSocket(b.wsUrl, token);
  await new Promise<void>((resolve, reject) => {
    client.on('connected', () => resolve());
    client.on('closed', (event) => reject(new Error(`socket closed: ${(event as { code?: number }).code}`)));
  });
  return client;
}

/** Subscribes; `onFrame` gets each message with its arrival time; returns the unsubscribe. */
function subscribe(
  client: Client,
  variables: Record<string, unknown>,
  onFrame: (frame: Frame, at: number) => void,
  onError: (error: string) => void,
): () => void {
  return client.subscribe(
    { query: RECEIVE, variables },
    {
      next: (value) => {
        const at = wallClockMs();
        if (value.errors?.length) return onError(JSON.stringify(value.errors));
        onFrame((value.data as { messageAdded: Frame }).messageAdded, at);
      },
      error: (error) => onError(`subscription error: ${JSON.stringify(error)}`),
      complete: () => undefined,
    },
  );
}

const send = (a: ServerProcess, sender: BenchUser, chatId: string, clientMessageId: string) =>
  gqlOk<{ sendMessage: { id: string; cursor: string; createdAt: string } }>(
    a.graphqlUrl,
    SEND,
    { chatId, body: `Message ${clientMessageId}`, clientMessageId },
    sender.accessToken,
  );

// ---------------------------------------------------------------------------------------------
// Resume after 1,000 missed changes

async function resume(env: BenchEnv, a: ServerProcess, b: ServerProcess, databaseUrl: string, repeats: number) {
  const [sender, receiver] = await registerUsers(a.graphqlUrl, 2, 'resume');
  const chatId = await befriendAndOpenChat(a.graphqlUrl, sender!, receiver!);
  // The last message the receiver saw before it went away: its cursor is what it resumes after.
  const { sendMessage: seen } = await send(a, sender!, chatId, 'seen');
  const t0 = Date.now();
  // Ten at a time: what the sender does is not measured, only that the changes exist.
  for (let i = 0; i < MISSED; i += 10)
    await Promise.all(Array.from({ length: 10 }, (_, j) => send(a, sender!, chatId, `missed-${i + j}`)));
  env.log(`changelog: ${MISSED} messages sent in ${Date.now() - t0} ms; replaying ${repeats + 2} times`);

  const client = await connect(b, receiver!.accessToken);
  const replays: number[] = [];
  const firstFrames: number[] = [];
  const errors: string[] = [];
  try {
    // Two unmeasured replays first: JIT, prepared statements and pool connections of B's path.
    for (let r = 0; r < repeats + 2; r++) {
      let count = 0;
      let first = NaN;
      let done: () => void = () => undefined;
      const finished = new Promise<void>((resolve) => (done = resolve));
      const started = wallClockMs();
      const unsubscribe = subscribe(
        client,
        { chatId, after: seen.cursor },
        (frame, at) => {
          if (!frame.clientMessageId?.startsWith('missed-')) return;
          if (count === 0) first = at - started;
          if (++count === MISSED) {
            if (r >= 2) {
              replays.push(at - started);
              firstFrames.push(first);
            }
            done();
          }
        },
        (error) => {
          errors.push(error);
          done();
        },
      );
      await Promise.race([finished, sleep(60_000)]);
      unsubscribe();
      if (count !== MISSED) throw new Error(`replay ${r} delivered ${count} of ${MISSED}: ${errors.join('; ')}`);
      // B marks the replayed messages delivered in the background; let it settle between runs.
      await sleep(300);
    }
  } finally {
    await client.dispose();
  }

  // Baseline: the rows themselves, the cheapest way to get them out of PostgreSQL.
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const queries: number[] = [];
  try {
    for (let r = 0; r < repeats + 2; r++) {
      const started = wallClockMs();
      const { rowCount } = await db.query(
        `SELECT m.id, m.seq, m.body, m.client_message_id, m.created_at, u.id AS sender_id, u.username
           FROM messages m JOIN users u ON u.id = m.sender_id
          WHERE m.chat_id = $1 AND m.seq > (SELECT seq FROM messages WHERE id = $2) ORDER BY m.seq`,
        [chatId, seen.id],
      );
      if (r >= 2) queries.push(wallClockMs() - started);
      if (rowCount !== MISSED) throw new Error(`the baseline query read ${rowCount} rows, not ${MISSED}`);
    }
  } finally {
    await db.end();
  }
  return { replays, firstFrames, queries, errors };
}

// ---------------------------------------------------------------------------------------------
// A change whose writer died at commit

/**
 * sendMessage's statement (src/services/chat/index.ts, storeMessage) without the sender's
 * markers: the chat's sequence, the message and its change_log row, committed as one. Nothing
 * calls the feed's committed() afterwards: the relay is left to a poll.
 */
async function commitOrphan(db: pg.Client, chatId: string, sender: BenchUser, clientMessageId: string) {
  await db.query('BEGIN');
  try {
    await db.query(
      `WITH bump AS (
         UPDATE chats SET last_seq = last_seq + 1, last_activity_at = now() WHERE id = $1::uuid RETURNING id, last_seq),
       ins AS (
         INSERT INTO messages (id, chat_id, seq, sender_id, body, client_message_id, created_at)
         SELECT $2::uuid, id, last_seq, $3::uuid, 'Left by a dead instance', $4, now() FROM bump
         RETURNING id, chat_id, seq, sender_id)
       INSERT INTO change_log (topics, payload, ref)
       SELECT ARRAY(SELECT $5 || user_id::text FROM chat_members WHERE chat_id = ins.chat_id),
              json_build_object('json', json_build_object(
                'type', 'added', 'chatId', ins.chat_id::text, 'messageId', ins.id::text,
                'senderId', ins.sender_id::text, 'seq', ins.seq))::text,
              ins.id
       FROM ins`,
      [chatId, randomUUID(), sender.id, clientMessageId, userChatTopic('')],
    );
    await db.query('COMMIT');
  } catch (error) {
    await db.query('ROLLBACK');
    throw error;
  }
}

async function orphaned(a: ServerProcess, b: ServerProcess, databaseUrl: string, tries: number) {
  const [sender, receiver] = await registerUsers(a.graphqlUrl, 2, 'orphan');
  const chatId = await befriendAndOpenChat(a.graphqlUrl, sender!, receiver!);
  const client = await connect(b, receiver!.accessToken);
  const arrivals = new Map<string, number>();
  const errors: string[] = [];
  const unsubscribe = subscribe(
    client,
    { chatId },
    (frame, at) => arrivals.set(frame.clientMessageId ?? '', at),
    (error) => errors.push(error),
  );
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const waitFor = async (id: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!arrivals.has(id) && Date.now() < deadline) await sleep(5);
    return arrivals.get(id);
  };
  try {
    // graphql-ws does not acknowledge a subscription: probe until one arrives.
    for (let probe = 0; ; probe++) {
      if (probe === 50) throw new Error(`the receiver on B never got a message: ${errors.join('; ')}`);
      await send(a, sender!, chatId, `probe-${probe}`);
      if (await waitFor(`probe-${probe}`, 200)) break;
    }
    const live: number[] = [];
    const dead: number[] = [];
    let lost = 0;
    for (let t = 0; t < tries; t++) {
      // Baseline: a living writer relays and publishes right after its commit. A's answer comes
      // after the commit, so the request's start bounds commit → arrival from above.
      const liveId = `live-${t}`;
      const started = wallClockMs();
      await send(a, sender!, chatId, liveId);
      const liveAt = await waitFor(liveId, 10_000);
      if (liveAt === undefined) lost += 1;
      else live.push(liveAt - started);
      // A random phase against the polls, as a crash has.
      await sleep(Math.random() * 1_000);
      const deadId = `dead-${t}`;
      await commitOrphan(db, chatId, sender!, deadId);
      const committed = wallClockMs();
      const deadAt = await waitFor(deadId, 30_000);
      if (deadAt === undefined) lost += 1;
      else dead.push(deadAt - committed);
    }
    return { live, dead, lost, errors };
  } finally {
    unsubscribe();
    await client.dispose();
    await db.end();
  }
}

// ---------------------------------------------------------------------------------------------

export const run: BenchCase = async (env) => {
  const started = Date.now();
  const repeats = env.quick ? 5 : 20;
  const tries = env.quick ? 4 : 12;
  const database = await createDatabase(env.databaseUrl, 'pinit_bench');
  const secrets = deploymentSecrets();
  const servers: ServerProcess[] = [];
  try {
    const common = { databaseUrl: database.url, redisUrl: env.redisUrl, ...secrets };
    // One after the other: the first applies the migrations to the empty database.
    servers.push(await startServerProcess({ ...common, name: 'instance A' }));
    servers.push(await startServerProcess({ ...common, name: 'instance B' }));
    const [a, b] = servers as [ServerProcess, ServerProcess];

    const r = await resume(env, a, b, database.url, repeats);
    env.log(`changelog: replay p95 ${round(p95(r.replays))} ms, query p95 ${round(p95(r.queries))} ms; orphans`);
    const o = await orphaned(a, b, database.url, tries);
    const dead = summarize(o.dead);
    const live = summarize(o.live);
    const replay = summarize(r.replays);
    const first = summarize(r.firstFrames);

    const figures: Figure[] = [
      {
        name: `resume of ${MISSED.toLocaleString('en-US')} missed changes: subscribe → last replayed change received, p95 (messageAdded(after:) on B)`,
        value: round(p95(r.replays)),
        unit: 'ms',
        baseline: { name: `the same ${MISSED} rows, one raw pg query, p95`, value: round(p95(r.queries)) },
        ratio: round(p95(r.replays) / p95(r.queries)),
        ratioMeaning: 'replay over graphql-ws ÷ reading the rows with pg, same run',
        target: `p95 < ${RESUME_TARGET_MS} ms`,
        met: p95(r.replays) < RESUME_TARGET_MS,
        goal: { on: 'value', op: '<=', threshold: RESUME_TARGET_MS },
      },
      {
        name: 'commit → delivery on B, the writer dead at commit (relayed by a poll), max',
        value: round(dead.max),
        unit: 'ms',
        baseline: { name: 'sendMessage on a living A → B, max', value: round(live.max) },
        ratio: round(dead.max / live.max),
        ratioMeaning: 'orphaned change ÷ a living writer’s change, same run',
        target: `< ${ORPHAN_TARGET_MS / 1000} s`,
        met: o.lost === 0 && dead.max < ORPHAN_TARGET_MS,
        goal: { on: 'value', op: '<=', threshold: ORPHAN_TARGET_MS },
      },
      {
        name: 'commit → delivery on B, the writer dead at commit, p50',
        value: round(dead.p50),
        unit: 'ms',
        baseline: { name: 'sendMessage on a living A → B, p50', value: round(live.p50) },
        ratio: round(dead.p50 / live.p50),
        ratioMeaning: 'orphaned change ÷ a living writer’s change, same run',
      },
    ];
    const notes = [
      `Two API instances (child processes, bench/lib/server-process.ts) on one fresh PostgreSQL database and Redis prefix, CHANGE_LOG_POLL_MS at its default (1,000 ms). The changes are chat messages (messageAdded is served from the change log).`,
      `Resume: a receiver's last seen message's cursor, then ${MISSED} messages sent to A (sendMessage over HTTP, 10 at a time); the receiver, on B over an already connected graphql-ws socket, subscribes to messageAdded(chatId, after: cursor) with a chat screen's selection (id cursor body clientMessageId createdAt sender { id username }), and the time from subscribe() to the ${MISSED}th frame is taken; ${repeats} measured repetitions after 2 unmeasured, each replaying the same ${MISSED} changes from the same cursor. ` +
        `Replay p50/p95/max ${round(replay.p50)}/${round(p95(r.replays))}/${round(replay.max)} ms (${round(MISSED / (replay.p50 / 1000))} changes/s at the p50); subscribe → first replayed frame p50/max ${round(first.p50)}/${round(first.max)} ms. ` +
        `Baseline: the same ${MISSED} message rows with their senders, one raw pg query from the bench process, p50/p95 ${round(summarize(r.queries).p50)}/${round(p95(r.queries))} ms. ` +
        `The replay reads the log in pages of 500 (src/changes/feed.ts), then for every change B resolves the selection (the message row and its sender, one findUnique each, as live delivery does) and marks the message delivered, and graphql-ws sends one frame per change: the cost is per change, not per page.`,
      `Dead writer: the bench process commits sendMessage's own statement (chat sequence, message row, change_log row in one transaction) and tells no relay, which is the state an instance SIGKILLed between its commit and its relay leaves; ${tries} tries at a random phase against the polls. ` +
        `Commit → arrival on B p50/max ${round(dead.p50)}/${round(dead.max)} ms (${dead.count} of ${tries} arrived); the relay is whichever instance's poll (every 1,000 ms) comes first, then pub/sub or B's own read of the log. ` +
        `Baseline, the same try: sendMessage on A, which relays and publishes right after its commit, request start → arrival on B p50/max ${round(live.p50)}/${round(live.max)} ms. ` +
        `The process is not literally killed: a kill cannot be placed between a commit and the relay that follows it in the same request, while the committed row with no relay is exactly what such a kill leaves.`,
      ...(r.errors.length || o.errors.length ? [`Errors: ${[...r.errors, ...o.errors].slice(0, 3).join(' | ')}`] : []),
    ];
    return { id: '8', title: 'Change log', figures, notes, seconds: (Date.now() - started) / 1000 };
  } finally {
    for (const server of servers.reverse()) await server.stop().catch(() => undefined);
    await database.drop();
  }
};
