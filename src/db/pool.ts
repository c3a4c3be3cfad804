// The PostgreSQL pool, with deadlines on every wait and no connection kept once it has failed.
//
// pg returns a connection to the pool unless it is released with an error or its socket already
// reported one. A query that hit `query_timeout` leaves neither: pool.query releases it with the
// error (so it is closed), but a transaction's connection is released by @prisma/adapter-pg's
// commit/rollback without one, and a black-holed connection would go back to the pool and fail
// every request that took it. And when the database host vanishes (a failover), every idle
// connection is dead with nothing to tell: each would cost a request its whole query timeout.
// So: a connection whose query failed below PostgreSQL (timeout, socket) is closed on release,
// and such a failure makes every connection that has not answered since then suspect, so the
// next checkouts close them instead of trying them.
import pg from 'pg';
import { markLinkFailure } from './faults.ts';

export interface DatabaseTimeouts {
  /**
   * Client-side deadline of one statement: past it the query fails and its connection is
   * closed, so a database that stopped answering fails requests instead of hanging them.
   */
  queryMs: number;
  /** Deadline to get a pooled connection (waiting for a free one included) or to open one. */
  connectMs: number;
}

/** Deadlines meant to fail a request within 5 s when the database stops answering. */
export const DEFAULT_DATABASE_TIMEOUTS: DatabaseTimeouts = { queryMs: 4_500, connectMs: 3_000 };

export interface PoolTimeouts extends DatabaseTimeouts {
  /** Server-side limit on a session idle inside an open transaction (a client that went away mid-transaction). */
  idleInTransactionMs: number;
}

/** The server's statement_timeout for a client-side query deadline: it cancels first, with a clear error, when it can answer at all. */
export const statementTimeoutFor = (queryMs: number) => queryMs - Math.min(500, Math.round(queryMs / 5));

/** How long an idle connection waits before TCP keepalive probes start, so a vanished peer is noticed by the kernel. */
const KEEPALIVE_INITIAL_DELAY_MS = 10_000;

type Callback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/** Failed below PostgreSQL: no answer in time, or a broken socket; a server's own error (pg.DatabaseError) leaves the connection usable. */
const isLinkFailure = (error: unknown) => !(error instanceof pg.DatabaseError);

export class GuardedPool extends pg.Pool {
  /** Connections whose query failed below PostgreSQL: closed when released. */
  private readonly broken = new WeakSet<pg.ClientBase>();
  /** When each connection last heard from the server. */
  private readonly heardAt = new WeakMap<pg.ClientBase, number>();
  /** When a connection last failed below PostgreSQL; connections silent since then are suspect. */
  private failedAt = 0;

  constructor(url: string, max: number, timeouts: PoolTimeouts) {
    super({
      connectionString: url,
      max,
      connectionTimeoutMillis: timeouts.connectMs,
      query_timeout: timeouts.queryMs,
      statement_timeout: statementTimeoutFor(timeouts.queryMs),
      idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
      idleTimeoutMillis: 30_000,
    });
    this.on('connect', (client) => this.watch(client));
    this.on('error', () => {
      // An idle connection failed; the pool has dropped it and opens another on demand.
    });
  }

  /** Notes each query's outcome on its connection. */
  private watch(client: pg.PoolClient): void {
    this.heardAt.set(client, Date.now());
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    const settle = (error: unknown) => {
      if (error && isLinkFailure(error)) {
        markLinkFailure(error);
        this.broken.add(client);
        this.failedAt = Date.now();
      } else {
        this.heardAt.set(client, Date.now());
      }
    };
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const last = args.at(-1);
      if (typeof last === 'function') {
        args[args.length - 1] = (error: unknown, ...rest: unknown[]) => {
          settle(error);
          return (last as (...a: unknown[]) => unknown)(error, ...rest);
        };
        return query(...args);
      }
      const result = query(...args);
      if (result instanceof Promise) result.then(() => settle(undefined), settle);
      return result;
    };
  }

  private suspect(client: pg.PoolClient): boolean {
    return this.broken.has(client) || (this.heardAt.get(client) ?? 0) < this.failedAt;
  }

  /** A connection that is not suspect; suspect idle ones are closed on the way. */
  private async checkout(): Promise<pg.PoolClient> {
    for (;;) {
      const client = await super.connect().catch((error: unknown) => {
        // No connection in time, or none could be opened.
        markLinkFailure(error);
        throw error;
      });
      const release = client.release.bind(client);
      if (this.suspect(client)) {
        release(new Error('connection suspect after a failure; closed'));
        continue;
      }
      client.release = (error?: Error | boolean) => {
        if (!error && this.broken.has(client)) {
          return release(new Error('connection failed below PostgreSQL; closed'));
        }
        return release(error);
      };
      return client;
    }
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: Callback): void;
  override connect(callback?: Callback): Promise<pg.PoolClient> | void {
    if (!callback) return this.checkout();
    // pool.query takes its connection this way.
    this.checkout().then(
      (client) => callback(undefined, client, (release) => client.release(release as Error | undefined)),
      (error: Error) => callback(error, undefined, () => {}),
    );
  }
}
