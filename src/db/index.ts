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
import { PrismaClient } from '../generated/prisma/client.ts';
import { applyMigrations } from './migrate.ts';

export type { PrismaClient } from '../generated/prisma/client.ts';
export { Prisma } from '../generated/prisma/client.ts';

export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly prisma: PrismaClient;
  /** Applies pending migrations; returns their names. */
  migrate(): Promise<string[]>;
  /** Throws when the database cannot answer (used by /readyz). */
  ping(): Promise<void>;
  /** Counts SQL statements, for tests that fail on N+1. */
  readonly statements: { count: number };
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
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  let factory: SqlMigrationAwareDriverAdapterFactory;
  let migrationFactory: () => SqlMigrationAwareDriverAdapterFactory;
  let closeDriver: () => Promise<void> = async () => {};
  let poolStats: Database['poolStats'] = () => null;
  let kind: Database['kind'];
  if (opts.url) {
    kind = 'postgres';
    // Our own pool, so its use can be measured; we end it on close.
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: 5_000,
      // A request must fail rather than hang when the database stalls.
      statement_timeout: 15_000,
      idleTimeoutMillis: 30_000,
    });
    pool.on('error', () => {
      // An idle client lost its connection; the pool replaces it.
    });
    factory = new PrismaPg(pool);
    // Migrations hold a session-level advisory lock: run them on a connection of their own that
    // is closed afterwards, never on a pooled one that would keep the lock for its lifetime.
    migrationFactory = () => new PrismaPg({ connectionString: opts.url, max: 1, connectionTimeoutMillis: 5_000 });
    closeDriver = () => pool.end();
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
    // Bursts (50 people joining one event) queue for pooled connections; give them time
    // rather than failing, and bound how long one transaction may hold a connection.
    transactionOptions: { maxWait: 5_000, timeout: 10_000 },
  });
  const statements = { count: 0 };
  prisma.$on('query', () => {
    statements.count += 1;
  });

  return {
    kind,
    prisma,
    statements,
    poolStats,
    migrate: () => applyMigrations(migrationFactory()),
    async ping() {
      await prisma.$queryRaw`SELECT 1`;
    },
    async close() {
      await prisma.$disconnect();
      await closeDriver();
    },
  };
}

/** Where the embedded database lives inside DATA_DIR. */
export const pgliteDirFor = (dataDir: string) => join(dataDir, 'pglite');
