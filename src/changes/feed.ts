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
import { BACKGROUND_SQL, Prisma } from '../db/index.ts';
import type { Database, PrismaClient } from '../db/index.ts';
import { DomainError, missedChanges, resyncRequired, unavailable } from '../lib/errors.ts';
import { createPushIterator } from '../pubsub/iterator.ts';
import type { PushIterator } from '../pubsub/iterator.ts';
import { codec } from '../pubsub/codec.ts';
import type { PubSub } from '../pubsub/index.ts';
import type { Change, ChangeFeed, ChangeRef } from './types.ts';

export interface ChangeFeedOptions {
  prisma: PrismaClient;
  /** The hot statements (relay, gap reads) run outside the ORM. */
  db: Pick<Database, 'query'>;
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
/** The feed's own statements are background work: not counted with requests'. */
const BACKGROUND = { background: true } as const;
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
  const { prisma, db, pubsub, logger } = opts;
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

  /**
   * Ends the local subscribers that needed changes in [from, to] with RESYNC_REQUIRED (after
   * what they have queued): those changes were trimmed before this instance read them (it was
   * cut off from the database for longer than the history kept), so none of them can know what
   * it missed. A subscriber above `to` (a resume that read past them) lost nothing.
   */
  function resyncMissed(from: number, to: number): void {
    log.warn({ from, to }, 'changes trimmed before this instance read them; its subscribers must resync');
    for (const set of byTopic.values()) for (const s of set) if (s.floor < to) s.queue.fail(missedChanges());
  }

  /** Reads and delivers everything after `last` from the log. */
  async function readGap(): Promise<void> {
    for (;;) {
      const raw = await db.query<Partial<RawRow> & { head: Numeric }>(
        Prisma.sql`SELECT s.head, c.id, c.position, c.topics, c.payload
         FROM change_log_state s
         LEFT JOIN LATERAL (
           SELECT id, position, topics, payload FROM change_log WHERE position > ${last}::bigint ORDER BY position LIMIT ${BATCH}::int) c ON true`,
        BACKGROUND,
      );
      if (closed) return;
      const head = Number(raw[0]?.head ?? 0);
      const rows = raw.filter((r): r is RawRow & { head: Numeric } => r.id !== null).map(toRow);
      const next = rows[0]?.position ?? head + 1;
      if (next > last + 1) {
        resyncMissed(last + 1, next - 1);
        last = next - 1;
      }
      for (const row of rows) dispatch(row);
      if (rows.length < BATCH) return;
    }
  }

  // One piece of work at a time, in arrival order: deliveries and gap reads never interleave.
  let work: Promise<void> = Promise.resolve();
  const serially = (task: () => Promise<void> | void): Promise<void> =>
    (work = work.then(task).catch((err: unknown) => log.warn({ err }, 'change delivery deferred to the next poll')));

  // While a gap read runs (a slow database), what arrives is not queued as it comes: one more
  // gap read, started after it arrived, reads it all from the log (a relayed change is
  // committed before anyone hears of it). So the work queue holds at most two reads.
  let reading = false;
  let readQueued = false;
  const readGapNow = async (): Promise<void> => {
    reading = true;
    try {
      await readGap();
    } finally {
      reading = false;
    }
  };
  const gapRead = (): Promise<void> => {
    if (readQueued) return work;
    readQueued = true;
    return serially(() => {
      readQueued = false;
      return readGapNow();
    });
  };

  const receive = (rows: readonly Row[]): Promise<void> => {
    if (reading || readQueued) return gapRead();
    return serially(async () => {
      if (!deliverContiguous(rows)) await readGapNow();
    });
  };

  // ---- relay -----------------------------------------------------------------------------

  let relaying: Promise<void> | null = null;
  let relayAgain = false;
  let nudged = false;

  /**
   * Gives the committed changes without a position the next positions, oldest first: one
   * statement, the function change_log_relay (its migration says why the order is commit order).
   */
  async function relayOnce(): Promise<number> {
    const raw = await db.query<RawRow>(
      Prisma.sql`SELECT id, position, topics, payload FROM change_log_relay(${BATCH}::int)`,
      BACKGROUND,
    );
    const rows = raw.map(toRow);
    if (rows.length) {
      void receive(rows);
      await pubsub.publish(RELAYED_TOPIC, { rows } satisfies RelayedMessage);
    }
    return rows.length;
  }

  /** Whether anything committed waits for a position (the poll relays only then). */
  async function pending(): Promise<boolean> {
    const [row] = await db.query<{ waiting: boolean }>(
      Prisma.sql`SELECT EXISTS (SELECT 1 FROM change_log WHERE position IS NULL) AS waiting`,
      BACKGROUND,
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
  /** The poll in flight, if any (close waits for it). */
  let polling: Promise<void> | null = null;
  const poll = setInterval(() => {
    if (polling || closed) return;
    polling = (async () => {
      try {
        if (await pending()) await relay();
        await gapRead();
        if (++polls % TRIM_EVERY_POLLS === 0 && !closed) await trim();
      } catch (err) {
        log.debug({ err }, 'change log poll failed');
      } finally {
        polling = null;
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
   * One page of the log after `after` (and up to `until`) on the topics, and the head of the
   * same snapshot. RESYNC_REQUIRED when changes after `after` were trimmed meanwhile (positions
   * are gapless, so the oldest kept one tells; with none kept, the head does).
   */
  async function readPage(
    topics: readonly string[],
    after: number,
    until = Number.MAX_SAFE_INTEGER,
  ): Promise<{ rows: Row[]; head: number }> {
    const raw = await prisma.$queryRawUnsafe<Array<RawRow & { head: Numeric; oldest: Numeric }>>(
      `SELECT s.head, COALESCE((SELECT min(position) FROM change_log), s.head + 1) AS oldest,
              c.id, c.position, c.topics, c.payload
       FROM change_log_state s
       LEFT JOIN LATERAL (
         SELECT id, position, topics, payload FROM change_log
         WHERE position > $1 AND position <= $3 AND topics && $2::text[] ORDER BY position LIMIT ${BATCH}) c ON true`,
      after,
      [...topics],
      until,
    );
    const head = Number(raw[0]?.head ?? 0);
    if (Number(raw[0]?.oldest ?? 0) > after + 1) throw resyncRequired();
    return { head, rows: raw.filter((r) => r.id !== null).map(toRow) };
  }

  /**
   * Replays the log after `after`, page by page as the consumer reads, then goes on live.
   *
   * The seam: once a page reaches the head of its snapshot, the subscriber registers for live
   * changes above the last position delivered locally (synchronously, so nothing is delivered
   * in between). When local delivery has already gone past the snapshot's head, the changes in
   * between are read from the log once, up to that floor, while live ones queue; so a busy feed
   * cannot keep a resuming subscriber replaying forever.
   */
  function resume(
    topics: readonly string[],
    after: number,
    signal?: AbortSignal,
  ): AsyncIterableIterator<Change<unknown>> {
    let cursor = after;
    let page: Array<Change<unknown>> = [];
    /** Live changes, above `floor`; replay goes on up to the floor first. */
    let live: AsyncIterableIterator<Change<unknown>> | undefined;
    let floor = Number.MAX_SAFE_INTEGER;
    let done = false;
    const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };
    const iterator: AsyncIterableIterator<Change<unknown>> = {
      async next() {
        for (;;) {
          if (done) return DONE;
          const replayed = page.shift();
          if (replayed) return { done: false, value: replayed };
          if (live && cursor >= floor) return live.next();
          const { rows, head } = await readPage(topics, cursor, floor);
          if (done) return DONE;
          const read = rows.map((r): Change<unknown> => ({
            id: r.id,
            position: r.position,
            payload: codec.decode(r.payload),
          }));
          for (const change of read) change.page = read;
          page = [...read];
          if (rows.length === BATCH) cursor = rows.at(-1)!.position;
          else if (live) cursor = floor;
          else {
            cursor = Math.max(cursor, head);
            floor = Math.max(cursor, last);
            live = register(topics, floor, signal);
          }
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
      await polling;
      await relaying?.catch(() => {});
      await work;
      for (const set of byTopic.values()) for (const s of set) s.queue.end();
      byTopic.clear();
    },
  };
}
