// The change feed of one instance: relays committed changes, reads the log in position order,
// and hands each change to the local subscribers of its topics.
//
// Delivery path. After a commit, the writing instance runs the relay (positions for what
// committed), hands the relayed changes to its own subscribers and publishes them on
// pub/sub for the other instances. An instance takes changes from pub/sub only while they
// continue its last position exactly; anything else (a lost message, a relay that could not
// publish, messages from two relays arriving out of order) makes it read the gap from the log.
// A poll relays what an instance that died at commit left behind and reads what pub/sub did
// not bring, so every change arrives within one poll even when pub/sub is down.
import type { Logger } from 'pino';
import { BACKGROUND_SQL } from '../db/index.ts';
import type { PrismaClient } from '../db/index.ts';
import { DomainError, resyncRequired, unavailable } from '../lib/errors.ts';
import { createPushIterator } from '../pubsub/iterator.ts';
import type { PushIterator } from '../pubsub/iterator.ts';
import { codec } from '../pubsub/hub.ts';
import type { PubSub } from '../pubsub/index.ts';
import type { Change, ChangeFeed, ChangeRef } from './types.ts';

export interface ChangeFeedOptions {
  prisma: PrismaClient;
  pubsub: PubSub;
  logger: Logger;
  /** How often the log is polled (relay left-overs, changes pub/sub did not bring). */
  pollMs: number;
  /** Changes older than this are trimmed … */
  retentionMs: number;
  /** … and at most this many are kept. */
  maxChanges: number;
  /** Changes queued for one subscriber before it counts as fallen behind. Default 1000. */
  maxQueued?: number;
}

/** The pub/sub topic relays publish on. */
const RELAYED_TOPIC = 'changes:relayed';
/** Changes per relay run, per page of a gap read, and per page of a replay. */
const BATCH = 500;
/** The age and size trim runs once per this many polls (and the relay leaves no backlog). */
const TRIM_EVERY_POLLS = 30;
/** Rows one trim statement deletes at most, so it never holds a long transaction. */
const TRIM_BATCH = 10_000;

interface Row {
  id: number;
  position: number;
  topics: string[];
  payload: string;
}

/** A bigint column as the driver returns it. */
type Numeric = bigint | number | string;

interface RawRow {
  id: Numeric;
  position: Numeric;
  topics: string[];
  payload: string;
}

interface RelayedMessage {
  rows: Row[];
}

const toRow = (r: RawRow): Row => ({
  id: Number(r.id),
  position: Number(r.position),
  topics: r.topics,
  payload: r.payload,
});

const fellBehind = () =>
  new DomainError(
    'INTERNAL_SERVER_ERROR',
    'This subscription fell too far behind; subscribe again with `after` set to the last cursor received',
    { retryable: true },
  );

/** A local subscriber: receives changes on its topics with positions above its floor. */
interface Subscriber {
  floor: number;
  queue: PushIterator<Change<unknown>>;
}

export function createChangeFeed(opts: ChangeFeedOptions): ChangeFeed & { start(): Promise<void> } {
  const { prisma, pubsub, logger } = opts;
  const log = logger.child({ component: 'changes' });
  const maxQueued = opts.maxQueued ?? 1000;
  const byTopic = new Map<string, Set<Subscriber>>();
  /** The last position handed to local subscribers; they hear every later one, in order. */
  let last = 0;
  let closed = false;

  // ---- local delivery --------------------------------------------------------------------

  function dispatch(row: Row): void {
    last = row.position;
    const reached = new Set<Subscriber>();
    for (const topic of row.topics) for (const s of byTopic.get(topic) ?? []) reached.add(s);
    if (!reached.size) return;
    const change: Change<unknown> = { id: row.id, position: row.position, payload: codec.decode(row.payload) };
    for (const s of reached) if (row.position > s.floor) s.queue.push(change);
  }

  /** Delivers rows that continue `last` exactly; false at a gap (the log must be read). */
  function deliverContiguous(rows: readonly Row[]): boolean {
    for (const row of rows) {
      if (row.position <= last) continue;
      if (row.position !== last + 1) return false;
      dispatch(row);
    }
    return true;
  }

  /** Reads and delivers everything after `last` from the log. */
  async function readGap(): Promise<void> {
    for (;;) {
      const raw = await prisma.$queryRawUnsafe<RawRow[]>(
        `${BACKGROUND_SQL} SELECT id, position, topics, payload FROM change_log WHERE position > $1 ORDER BY position LIMIT ${BATCH}`,
        last,
      );
      const rows = raw.map(toRow);
      if (rows.length && rows[0]!.position !== last + 1)
        log.warn({ from: last + 1, to: rows[0]!.position - 1 }, 'changes trimmed before this instance read them');
      for (const row of rows) dispatch(row);
      if (rows.length < BATCH) return;
    }
  }

  // One piece of work at a time, in arrival order: deliveries and gap reads never interleave.
  let work: Promise<void> = Promise.resolve();
  const serially = (task: () => Promise<void> | void): Promise<void> =>
    (work = work.then(task).catch((err: unknown) => log.warn({ err }, 'change delivery deferred to the next poll')));

  const receive = (rows: readonly Row[]) =>
    serially(async () => {
      if (!deliverContiguous(rows)) await readGap();
    });

  // ---- relay -----------------------------------------------------------------------------

  let relaying: Promise<void> | null = null;
  let relayAgain = false;
  let nudged = false;

  /**
   * Gives the committed changes without a position the next positions, oldest first, in one
   * transaction. The state row's lock makes relays take turns; in READ COMMITTED the statement
   * after the lock reads a snapshot taken once the previous relay committed, so positions are
   * given in the order changes became visible and no reader of "after P" can miss one that
   * commits later.
   */
  async function relayOnce(): Promise<number> {
    const raw = await prisma.$transaction(async (tx) => {
      await tx.$queryRawUnsafe(`${BACKGROUND_SQL} SELECT head FROM change_log_state FOR UPDATE`);
      return tx.$queryRawUnsafe<RawRow[]>(
        `${BACKGROUND_SQL} WITH next AS (
           SELECT p.id, s.head + row_number() OVER (ORDER BY p.id) AS pos
           FROM (SELECT id FROM change_log WHERE position IS NULL ORDER BY id LIMIT ${BATCH}) p, change_log_state s),
         relayed AS (
           UPDATE change_log c SET position = next.pos FROM next WHERE c.id = next.id
           RETURNING c.id, c.position, c.topics, c.payload),
         bumped AS (
           UPDATE change_log_state SET head = head + (SELECT count(*) FROM relayed) WHERE (SELECT count(*) FROM relayed) > 0)
         SELECT * FROM relayed ORDER BY position`,
      );
    });
    const rows = raw.map(toRow);
    if (rows.length) {
      void receive(rows);
      await pubsub.publish(RELAYED_TOPIC, { rows } satisfies RelayedMessage);
    }
    return rows.length;
  }

  /** Whether anything committed waits for a position (the poll relays only then). */
  async function pending(): Promise<boolean> {
    const [row] = await prisma.$queryRawUnsafe<Array<{ waiting: boolean }>>(
      `${BACKGROUND_SQL} SELECT EXISTS (SELECT 1 FROM change_log WHERE position IS NULL) AS waiting`,
    );
    return row?.waiting ?? false;
  }

  /** Relays until nothing committed is left without a position; concurrent calls share one run. */
  function relay(): Promise<void> {
    if (closed) return Promise.resolve();
    if (relaying) {
      relayAgain = true;
      return relaying;
    }
    relaying = (async () => {
      try {
        do {
          relayAgain = false;
          while ((await relayOnce()) === BATCH);
        } while (relayAgain && !closed);
      } finally {
        relaying = null;
      }
    })();
    return relaying;
  }

  // ---- trim ------------------------------------------------------------------------------

  async function trim(): Promise<void> {
    const cutoff = new Date(Date.now() - opts.retentionMs);
    // The first position to keep: the oldest change young enough, and no more than maxChanges
    // below the head. Positions grow with time, so everything before it goes.
    for (;;) {
      const count = await prisma.$executeRawUnsafe(
        `${BACKGROUND_SQL} DELETE FROM change_log WHERE id IN (
           SELECT id FROM change_log
           WHERE position < GREATEST(
             COALESCE((SELECT position FROM change_log WHERE position IS NOT NULL AND created_at >= $1 ORDER BY position LIMIT 1),
                      (SELECT head + 1 FROM change_log_state)),
             (SELECT head + 1 FROM change_log_state) - $2)
           ORDER BY position LIMIT ${TRIM_BATCH})`,
        cutoff,
        opts.maxChanges,
      );
      if (count) log.debug({ count }, 'change log trimmed');
      if (count < TRIM_BATCH) return;
    }
  }

  // ---- polling ---------------------------------------------------------------------------

  let polls = 0;
  let polling = false;
  const poll = setInterval(() => {
    if (polling || closed) return;
    polling = true;
    void (async () => {
      try {
        if (await pending()) await relay();
        await serially(readGap);
        if (++polls % TRIM_EVERY_POLLS === 0) await trim();
      } catch (err) {
        log.debug({ err }, 'change log poll failed');
      } finally {
        polling = false;
      }
    })();
  }, opts.pollMs);
  poll.unref();

  const fromPubSub = pubsub.subscribe<RelayedMessage>(RELAYED_TOPIC);
  void (async () => {
    for await (const message of fromPubSub) void receive(message.rows);
  })();

  // ---- subscribers -----------------------------------------------------------------------

  function register(
    topics: readonly string[],
    floor: number,
    signal?: AbortSignal,
  ): AsyncIterableIterator<Change<unknown>> {
    const subscriber: Subscriber = {
      floor,
      queue: createPushIterator<Change<unknown>>({
        signal,
        maxBuffered: maxQueued,
        overflowError: fellBehind,
        onFinish: () => {
          for (const topic of topics) {
            const set = byTopic.get(topic);
            set?.delete(subscriber);
            if (set?.size === 0) byTopic.delete(topic);
          }
        },
      }),
    };
    for (const topic of topics) {
      let set = byTopic.get(topic);
      if (!set) byTopic.set(topic, (set = new Set()));
      set.add(subscriber);
    }
    if (closed) subscriber.queue.end();
    return subscriber.queue.iterator;
  }

  /**
   * One page of the log after `after` on the topics, and the head of the same snapshot.
   * RESYNC_REQUIRED when changes after `after` were trimmed meanwhile (positions are gapless,
   * so the oldest kept one tells).
   */
  async function readPage(topics: readonly string[], after: number): Promise<{ rows: Row[]; head: number }> {
    const raw = await prisma.$queryRawUnsafe<Array<RawRow & { head: Numeric; oldest: Numeric | null }>>(
      `SELECT s.head, (SELECT min(position) FROM change_log) AS oldest, c.id, c.position, c.topics, c.payload
       FROM change_log_state s
       LEFT JOIN LATERAL (
         SELECT id, position, topics, payload FROM change_log
         WHERE position > $1 AND topics && $2::text[] ORDER BY position LIMIT ${BATCH}) c ON true`,
      after,
      [...topics],
    );
    const head = Number(raw[0]?.head ?? 0);
    const oldest = raw[0]?.oldest;
    if (oldest !== null && oldest !== undefined && Number(oldest) > after + 1) throw resyncRequired();
    return { head, rows: raw.filter((r) => r.id !== null).map(toRow) };
  }

  /** Replays the log after `after`, page by page as the consumer reads, then goes on live. */
  function resume(
    topics: readonly string[],
    after: number,
    signal?: AbortSignal,
  ): AsyncIterableIterator<Change<unknown>> {
    let cursor = after;
    let page: Array<Change<unknown>> = [];
    let live: AsyncIterableIterator<Change<unknown>> | undefined;
    let done = false;
    const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };
    const iterator: AsyncIterableIterator<Change<unknown>> = {
      async next() {
        for (;;) {
          if (done) return DONE;
          const replayed = page.shift();
          if (replayed) return { done: false, value: replayed };
          if (live) return live.next();
          const { rows, head } = await readPage(topics, cursor);
          if (done) return DONE;
          page = rows.map((r) => ({ id: r.id, position: r.position, payload: codec.decode(r.payload) }));
          if (rows.length === BATCH) {
            cursor = rows.at(-1)!.position;
            continue;
          }
          // Everything on these topics up to `head` is read. When local delivery has not gone
          // past it, go live from there (synchronously: nothing is delivered in between);
          // otherwise read what it delivered meanwhile from the log first.
          cursor = Math.max(cursor, head);
          if (last <= cursor) live = register(topics, cursor, signal);
        }
      },
      async return() {
        done = true;
        page = [];
        await live?.return?.();
        return DONE;
      },
      async throw(error?: unknown) {
        await iterator.return!();
        throw error;
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    if (signal?.aborted) done = true;
    else signal?.addEventListener('abort', () => void iterator.return!(), { once: true });
    return iterator;
  }

  // ---- the interface ---------------------------------------------------------------------

  return {
    async start() {
      const [state] = await prisma.$queryRawUnsafe<Array<{ head: Numeric }>>(
        `${BACKGROUND_SQL} SELECT head FROM change_log_state`,
      );
      last = Number(state?.head ?? 0);
      // Changes an instance that died at commit left behind, at once rather than at the first poll.
      await relay().catch((err: unknown) => log.warn({ err }, 'relay at start failed; the poll retries'));
    },

    committed() {
      // Commits in one turn of the event loop share one relay run.
      if (nudged) return;
      nudged = true;
      queueMicrotask(() => {
        nudged = false;
        relay().catch((err: unknown) => log.warn({ err }, 'relay failed; the poll retries'));
      });
    },

    subscribe<T>(topics: readonly string[], after?: number, signal?: AbortSignal) {
      const stream = after === undefined ? register(topics, last, signal) : resume(topics, after, signal);
      return stream as AsyncIterableIterator<Change<T>>;
    },

    async positionOf(ref: ChangeRef) {
      const find = async () => {
        const [row] =
          'id' in ref
            ? await prisma.$queryRaw<Array<{ position: bigint | null }>>`
                SELECT position FROM change_log WHERE id = ${ref.id}`
            : await prisma.$queryRaw<Array<{ position: bigint | null }>>`
                SELECT position FROM change_log WHERE ref = ${ref.ref}::uuid AND topics && ${[...ref.topics]}::text[]
                ORDER BY id LIMIT 1`;
        return row;
      };
      let row = await find();
      // Committed a moment ago and not relayed yet (the cursor came from a mutation's answer).
      if (row && row.position === null) {
        await relay();
        row = await find();
      }
      if (!row) return null;
      if (row.position === null) throw unavailable();
      return Number(row.position);
    },

    async close() {
      closed = true;
      clearInterval(poll);
      await fromPubSub.return?.();
      await relaying?.catch(() => {});
      await work;
      for (const set of byTopic.values()) for (const s of set) s.queue.end();
      byTopic.clear();
    },
  };
}
