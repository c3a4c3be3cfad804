// Whether the session an access token names is still live, and the role its user has now, as
// each instance knows it without a database read per request: a cache of session states that
// pub/sub invalidates. Ending a session (logout, logout everywhere, password change, refresh
// token reuse, role change) publishes its id; every instance marks it ended at once and closes
// its sockets. The cache fails closed: an entry is trusted for `ttlMs` only while pub/sub has
// been listening since it was read, and for `unsureTtlMs` otherwise (Redis down, silent, or just
// back), after which the database is asked again; when the database cannot answer, the request
// is refused (retryable), never let through on a guess. Sockets are held to the same rule by
// `refresh`, which the WebSocket transport runs over its open sessions. And since the instance
// that ends a session may itself be cut off from Redis, every instance also polls recent
// revocations in the database (SESSION_REVOCATION_POLL_MS).
import type { Logger } from 'pino';
import { BACKGROUND_SQL } from '../db/index.ts';
import type { PrismaClient } from '../db/index.ts';
import { isDatabaseUnavailable } from '../db/faults.ts';
import { unauthenticated, unavailable } from '../lib/errors.ts';
import { isUuid } from '../lib/validation.ts';
import type { PubSub } from '../pubsub/index.ts';
import type { AccessClaims, Role } from './tokens.ts';

/** The topic on which every instance hears of ended sessions. */
export const SESSIONS_ENDED_TOPIC = 'sessions:ended';

export interface SessionsEnded {
  sessionIds: string[];
}

export interface SessionCacheOptions {
  /** How long a state read from the database is trusted while pub/sub listens throughout. */
  ttlMs: number;
  /** How long it is trusted when pub/sub is down, or reconnected since it was read. */
  unsureTtlMs: number;
  /** How often the database is asked for sessions revoked lately (the backstop for lost messages). */
  revocationPollMs: number;
  /** Entries kept at most (the oldest go first; an evicted one is read again when needed). */
  maxEntries?: number;
}

interface Entry {
  userId: string;
  /** The user's role now; null once the session has ended (which is final). */
  role: Role | null;
  /** When the read that produced it started (epoch ms). */
  checkedAt: number;
}

export interface SessionStates {
  /**
   * The live role of the token's session; throws UNAUTHENTICATED when it has ended, the retryable
   * unavailable error when it cannot be told. `role` is the one the token was signed with (or last
   * checked): this cache ignores it, the bench's claims-trusting variant (bench/lib/app.ts) returns it.
   */
  check(claims: Pick<AccessClaims, 'userId' | 'sessionId' | 'role'>): Promise<{ role: Role }>;
  /**
   * Reads again, in batches, those of the sessions whose entries are no longer trusted, so that
   * connections that outlive a request (sockets) are held to the same rule: an end found is told
   * to `onEnded` listeners. Throws the retryable unavailable error when the database cannot answer.
   */
  refresh(sessionIds: Iterable<string>): Promise<void>;
  /** Marks the sessions ended here and tells every other instance (after the revocation committed). */
  end(sessionIds: readonly string[]): Promise<void>;
  /** Called with the ids of sessions that ended (here or elsewhere); returns the unsubscribe. */
  onEnded(listener: (sessionIds: readonly string[]) => void): () => void;
  close(): void;
}

/** How far before the previous poll the revocation poll looks again. */
const REVOCATION_LOOKBACK_MS = 10_000;

/** Sessions read per statement by `refresh`. */
const REFRESH_BATCH = 500;

export const sessionEnded = () => unauthenticated('The session has ended; sign in again');

export function createSessionStates(deps: {
  prisma: PrismaClient;
  pubsub: PubSub;
  logger: Logger;
  options: SessionCacheOptions;
}): SessionStates {
  const { prisma, pubsub, logger, options } = deps;
  const maxEntries = options.maxEntries ?? 100_000;
  const entries = new Map<string, Entry>();
  const pending = new Map<string, Promise<void>>();
  const listeners = new Set<(sessionIds: readonly string[]) => void>();
  const abort = new AbortController();

  const put = (sessionId: string, entry: Entry) => {
    // Ended is final: a read that started before the end was heard must not revive the session.
    if (entries.get(sessionId)?.role === null && entry.role !== null) return;
    entries.delete(sessionId);
    entries.set(sessionId, entry);
    if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
  };

  const markEnded = (sessionIds: readonly string[]) => {
    const now = Date.now();
    for (const id of sessionIds) put(id, { userId: '', role: null, checkedAt: now });
    for (const listener of listeners) {
      try {
        listener(sessionIds);
      } catch (err) {
        logger.error({ err }, 'session-ended listener failed');
      }
    }
  };

  const fresh = (entry: Entry, now: number) => {
    if (entry.role === null) return true;
    const since = pubsub.listeningSince();
    const sure = since !== null && entry.checkedAt >= since;
    return now - entry.checkedAt < (sure ? options.ttlMs : options.unsureTtlMs);
  };

  /** Reads the sessions' states in one statement; an end found this way is told to the listeners too. */
  const read = async (sessionIds: readonly string[]) => {
    const checkedAt = Date.now();
    let rows;
    try {
      rows = await prisma.sessionFamily.findMany({
        where: { id: { in: [...sessionIds] } },
        select: { id: true, userId: true, revokedAt: true, user: { select: { role: true } } },
      });
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw unavailable();
      throw error;
    }
    const live = new Map(rows.filter((row) => !row.revokedAt).map((row) => [row.id, row]));
    const ended: string[] = [];
    for (const id of sessionIds) {
      const row = live.get(id);
      if (row) put(id, { userId: row.userId, role: row.user.role, checkedAt });
      else if (entries.get(id)?.role !== null) ended.push(id);
    }
    if (ended.length) markEnded(ended);
  };

  // Concurrent requests of one session share one read.
  const load = (sessionId: string) => {
    let promise = pending.get(sessionId);
    if (!promise) {
      promise = read([sessionId]).finally(() => pending.delete(sessionId));
      pending.set(sessionId, promise);
    }
    return promise;
  };

  // The backstop for a message that never went out (the ending instance could not reach Redis):
  // every revocationPollMs, the sessions revoked lately that this instance still trusts are ended
  // here. "Lately" reaches back REVOCATION_LOOKBACK_MS before the previous poll, for instances'
  // clocks (revokedAt is the ending instance's) and for transactions that commit late.
  let pollSince = Date.now() - REVOCATION_LOOKBACK_MS;
  let polling = false;
  const poll = setInterval(() => {
    if (polling) return;
    polling = true;
    const startedAt = Date.now();
    prisma
      .$queryRawUnsafe<Array<{ id: string }>>(
        `${BACKGROUND_SQL} SELECT id::text FROM session_families WHERE revoked_at > $1`,
        new Date(pollSince),
      )
      .then((rows) => {
        pollSince = startedAt - REVOCATION_LOOKBACK_MS;
        const trusted = rows.map((row) => row.id).filter((id) => entries.get(id)?.role);
        if (trusted.length) markEnded(trusted);
      })
      .catch((err: unknown) => logger.debug({ err }, 'revocation poll failed'))
      .finally(() => (polling = false));
  }, options.revocationPollMs);
  poll.unref();

  void (async () => {
    for await (const message of pubsub.subscribe<SessionsEnded>(SESSIONS_ENDED_TOPIC, abort.signal)) {
      if (Array.isArray(message?.sessionIds)) markEnded(message.sessionIds.filter((id) => typeof id === 'string'));
    }
  })().catch((err) => logger.error({ err }, 'session invalidation stream failed'));

  return {
    async check({ userId, sessionId }) {
      if (!isUuid(sessionId)) throw sessionEnded();
      let entry = entries.get(sessionId);
      if (!entry || !fresh(entry, Date.now())) {
        await load(sessionId);
        // What the map holds now: an end heard during the read wins over the read.
        entry = entries.get(sessionId);
      }
      if (!entry || entry.role === null || entry.userId !== userId) throw sessionEnded();
      return { role: entry.role };
    },
    async refresh(sessionIds) {
      const now = Date.now();
      const stale: string[] = [];
      for (const id of sessionIds) {
        const entry = entries.get(id);
        if (isUuid(id) && (!entry || !fresh(entry, now)) && !pending.has(id)) stale.push(id);
      }
      for (let i = 0; i < stale.length; i += REFRESH_BATCH) await read(stale.slice(i, i + REFRESH_BATCH));
    },
    async end(sessionIds) {
      if (!sessionIds.length) return;
      // Here at once, even when pub/sub is down (then other instances find it by their poll).
      markEnded(sessionIds);
      await pubsub.publish(SESSIONS_ENDED_TOPIC, { sessionIds: [...sessionIds] } satisfies SessionsEnded);
    },
    onEnded(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      clearInterval(poll);
      abort.abort();
      listeners.clear();
    },
  };
}
