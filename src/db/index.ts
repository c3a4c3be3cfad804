// The database adapter: PostgreSQL through @prisma/adapter-pg when DATABASE_URL is set,
// otherwise PGlite (Postgres compiled to WASM) on disk under DATA_DIR. Both run the same
// migrations and the same Prisma client.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { ConfigError } from '../config.ts';
import { Prisma, PrismaClient } from '../generated/prisma/client.ts';
import type { Prisma as PrismaTypes } from '../generated/prisma/client.ts';
import { applyMigrations } from './migrate.ts';
import { DEFAULT_DATABASE_TIMEOUTS, GuardedPool } from './pool.ts';
import type { DatabaseTimeouts } from './pool.ts';

/**
 * The comment that starts a statement run by background work (not by a request), so that
 * `statements` (what the statement-count tests and the bench read) counts requests' statements only.
 */
export const BACKGROUND_SQL = '/* background */';
const TRANSACTION_CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK)\b/i;
export { DEFAULT_DATABASE_TIMEOUTS, statementTimeoutFor } from './pool.ts';
export type { DatabaseTimeouts } from './pool.ts';

export type { PrismaClient } from '../generated/prisma/client.ts';
export { Prisma } from '../generated/prisma/client.ts';

export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly prisma: PrismaClient;
  /** Applies pending migrations; returns their names. */
  migrate(): Promise<string[]>;
  /** Throws when the database cannot answer (used by /readyz). */
  ping(): Promise<void>;
  /**
   * Runs one statement outside the ORM (a read, or a write that is one statement), its rows
   * keyed by column as the driver parses them (numbers, booleans, text, text arrays, Dates;
   * bigints as text on PostgreSQL), within the same deadlines and counted with the same
   * statements unless `background`: for hot paths that build their answer from rows themselves
   * (the planned map pages and changes, sending a message, the change log's relay), where the
   * ORM's own work per statement (~0.3 ms of CPU) is most of the cost. PostgreSQL: straight on
   * the pool. PGlite: through Prisma, whose one connection also carries its transactions.
   */
  query<T>(sql: PrismaTypes.Sql, opts?: { background?: boolean }): Promise<T[]>;
  /** Counts SQL statements, for tests that fail on N+1. */
  readonly statements: { count: number };
  /** Calls `listener` with the text of each statement counted from now on (the bench prints them); returns its removal. */
  onStatement(listener: (text: string) => void): () => void;
  /** Connection pool use (PostgreSQL only), for metrics. */
  poolStats(): { total: number; idle: number; waiting: number } | null;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** PostgreSQL connection string; absent selects PGlite. */
  url?: string;
  /** PGlite data directory (ignored with a url); `memory://` keeps it in memory. */
  pgliteDir?: string;
  /** Maximum pooled connections for PostgreSQL. */
  poolSize?: number;
  /** Deadlines of PostgreSQL statements and connections (DATABASE_QUERY_TIMEOUT_MS, DATABASE_CONNECT_TIMEOUT_MS). */
  timeouts?: Partial<DatabaseTimeouts>;
}

/**
 * Prisma's interactive transactions, within the same deadlines: waiting to start one is waiting
 * for a connection, and one transaction may run a few statements.
 */
export const transactionOptionsFor = ({ queryMs, connectMs }: DatabaseTimeouts) => ({
  maxWait: connectMs,
  timeout: 2 * queryMs,
});

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  let factory: SqlMigrationAwareDriverAdapterFactory;
  let migrationFactory: () => SqlMigrationAwareDriverAdapterFactory;
  let closeDriver: () => Promise<void> = async () => {};
  let poolStats: Database['poolStats'] = () => null;
  let kind: Database['kind'];
  let query: (sql: PrismaTypes.Sql, background: boolean) => Promise<unknown[]> = (sql, background) =>
    prisma.$queryRaw<unknown[]>(background ? Prisma.sql`${Prisma.raw(BACKGROUND_SQL)} ${sql}` : sql);
  const timeouts = { ...DEFAULT_DATABASE_TIMEOUTS, ...opts.timeouts };
  const transactionOptions = transactionOptionsFor(timeouts);
  if (opts.url) {
    kind = 'postgres';
    // Our own pool, so its use can be measured, with deadlines on every wait and no connection
    // kept after it failed (./pool.ts).
    const pool = new GuardedPool(opts.url, opts.poolSize ?? 10, {
      queryMs: timeouts.queryMs,
      connectMs: timeouts.connectMs,
      // The server ends a session left idle inside a transaction (its client died or was cut
      // off) after Prisma's own transaction deadline would have rolled it back, freeing its locks.
      idleInTransactionMs: transactionOptions.timeout,
    });
    factory = new PrismaPg(pool);
    // Migrations hold a session-level advisory lock: run them on a connection of their own that
    // is closed afterwards, never on a pooled one that would keep the lock for its lifetime.
    migrationFactory = () =>
      new PrismaPg({
        connectionString: opts.url,
        max: 1,
        connectionTimeoutMillis: Math.max(5_000, timeouts.connectMs),
      });
    closeDriver = () => pool.end();
    query = async (sql, background) => {
      if (!background) counted(sql.text);
      return (await pool.query(sql.text, sql.values)).rows as unknown[];
    };
    poolStats = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount });
  } else {
    kind = 'pglite';
    const dir = opts.pgliteDir ?? 'memory://';
    if (!dir.startsWith('memory://')) await mkdir(dir, { recursive: true });
    const pglite = await PGlite.create(dir);
    factory = new PrismaPGlite(pglite);
    migrationFactory = () => factory;
    closeDriver = () => pglite.close();
  }

  const prisma = new PrismaClient({
    adapter: factory,
    log: [{ emit: 'event', level: 'query' }],
    // Bursts (50 people joining one event) queue for pooled connections up to the connection
    // deadline, and one transaction holds a connection at most two statement deadlines.
    transactionOptions,
  });
  const statements = { count: 0 };
  const listeners = new Set<(text: string) => void>();
  const counted = (text: string) => {
    statements.count += 1;
    for (const listener of listeners) listener(text);
  };
  prisma.$on('query', (event) => {
    // Transaction control is not counted: a background transaction's COMMIT carries no mark.
    if (!event.query.startsWith(BACKGROUND_SQL) && !TRANSACTION_CONTROL.test(event.query)) counted(event.query);
  });

  return {
    kind,
    prisma,
    query: ((sql, opts) => query(sql, opts?.background ?? false)) as Database['query'],
    statements,
    onStatement(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    poolStats,
    migrate: async () => {
      // The engine reports an unreachable or missing database as a WASM stack trace; a plain
      // connection first turns the usual mistakes into one line for the operator.
      if (opts.url) await checkConnectable(opts.url);
      return applyMigrations(migrationFactory());
    },
    async ping() {
      await prisma.$queryRaw`SELECT 1`;
    },
    async close() {
      await prisma.$disconnect();
      await closeDriver();
    },
  };
}

/**
 * PostgreSQL cannot be used as DATABASE_URL says: missing database, nothing listening, unknown
 * host, refused login. A ConfigError, so entry points print its one-line message and exit 1.
 */
export class DatabaseUnavailableError extends ConfigError {
  override name = 'DatabaseUnavailableError';
}

/** Where DATABASE_URL points, without its password, for messages. */
function describeUrl(url: string): { database: string; server: string; user: string } {
  try {
    const u = new URL(url);
    const host = u.hostname || new URLSearchParams(u.search).get('host') || 'localhost';
    const user = decodeURIComponent(u.username);
    // PostgreSQL's default database is the one named after the user.
    const database = decodeURIComponent(u.pathname.slice(1)) || user || 'postgres';
    return { database, server: `${host}:${u.port || 5432}`, user: user || '(default user)' };
  } catch {
    return { database: '(unparsable name)', server: '(unparsable address)', user: '(unparsable user)' };
  }
}

/** Opens and closes one connection; throws DatabaseUnavailableError for the usual mistakes. */
export async function checkConnectable(url: string, timeoutMs = 5_000): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  // A connection dropped after connect must not crash the process as an unhandled 'error'.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    const code = (error as { code?: string }).code;
    const { database, server, user } = describeUrl(url);
    const fail = (message: string) =>
      new DatabaseUnavailableError(`Database unavailable: ${message}`, { cause: error });
    switch (code) {
      case '3D000':
        throw fail(
          `database "${database}" does not exist on the PostgreSQL server at ${server} (DATABASE_URL); create it (CREATE DATABASE "${database}") or point DATABASE_URL at an existing database`,
        );
      case 'ECONNREFUSED':
        throw fail(
          `nothing accepts connections at ${server} (DATABASE_URL); start PostgreSQL there or fix the host and port in DATABASE_URL`,
        );
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        throw fail(`the host of DATABASE_URL (${server}) cannot be resolved; fix the host in DATABASE_URL`);
      case '28000':
      case '28P01':
        throw fail(
          `PostgreSQL at ${server} refused the login of user "${user}" (DATABASE_URL): ${(error as Error).message}; fix the user or password in DATABASE_URL`,
        );
      default:
        if (/timeout/i.test((error as Error).message)) {
          throw fail(
            `no answer from PostgreSQL at ${server} within ${timeoutMs / 1000} s (DATABASE_URL); check that it runs and that this host may reach it`,
          );
        }
        throw error;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Where the embedded database lives inside DATA_DIR. */
export const pgliteDirFor = (dataDir: string) => join(dataDir, 'pglite');
