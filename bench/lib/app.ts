// The API started in this process for a benchmark case: production settings, a fresh
// PostgreSQL database of its own, the real Redis under a key prefix of its own, rate limits off.
// stop() closes the API, drops the database and removes the data directory, so a case leaves
// nothing behind even when it fails half-way (call it from `finally`). A second instance of the
// same deployment (`shareWith`) uses the first one's database, secret, prefix and public URL, and
// leaves the database to it.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createApp } from '../../src/app.ts';
import type { App, AppSeams } from '../../src/app.ts';
import type { SessionStates } from '../../src/auth/sessions.ts';
import { loadConfig } from '../../src/config.ts';
import { createDatabase } from '../../tests/helpers/database.ts';

export interface BenchApp {
  app: App;
  /** Base URL, e.g. http://127.0.0.1:43121 */
  url: string;
  /** `${url}/graphql` */
  graphqlUrl: string;
  /** The database's own connection string (for seeding with pg or EXPLAIN). */
  databaseUrl: string;
  /** Stops the API, then drops its database and data directory. Safe to call twice. */
  stop: () => Promise<void>;
}

export interface BenchAppOptions {
  /** Admin connection string of the PostgreSQL server (BenchEnv.databaseUrl). */
  databaseUrl: string;
  redisUrl: string;
  /** Extra environment for loadConfig, e.g. { WS_MAX_CONNECTIONS_PER_USER: '1000' }. */
  env?: Record<string, string>;
  /**
   * A second instance of that app's deployment: its database (not dropped by this one's stop),
   * JWT secret (its tokens work here), Redis prefix and public URL (the same image links).
   */
  shareWith?: BenchApp;
  /** Replaced parts of the wiring (createApp's seams), e.g. { sessions: claimsTrustingSessions() }. */
  seams?: AppSeams;
}

/**
 * Session states as the API had them before it checked sessions: the token's claims are
 * trusted (its role is the viewer's), nothing is cached, the database is never asked. Ending a
 * session still closes this instance's sockets. Only for measuring what the check costs (case 1).
 */
export function claimsTrustingSessions(): SessionStates {
  const listeners = new Set<(sessionIds: readonly string[]) => void>();
  return {
    async check({ role }) {
      return { role };
    },
    async refresh() {},
    async end(sessionIds) {
      for (const listener of listeners) listener(sessionIds);
    },
    onEnded(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      listeners.clear();
    },
  };
}

/** How to undo every app not yet stopped (or still starting), so Ctrl-C can drop their databases. */
const running = new Set<() => Promise<void>>();

/** Stops every app still running; bench/run.ts calls it on SIGINT/SIGTERM. */
export async function stopAllBenchApps(): Promise<void> {
  await Promise.allSettled([...running].map((stop) => stop()));
}

export async function startBenchApp(opts: BenchAppOptions): Promise<BenchApp> {
  const shared = opts.shareWith;
  const database = shared
    ? { url: shared.databaseUrl, drop: async () => undefined }
    : await createDatabase(opts.databaseUrl, 'pinit_bench');
  const dataDir = await mkdtemp(join(tmpdir(), 'pinit-bench-'));
  const cleanUp = async () => {
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  };
  // Until the app is up, an interruption only needs the database dropped.
  running.add(cleanUp);
  let app: App;
  try {
    const config = loadConfig({
      NODE_ENV: 'production',
      JWT_SECRET: shared?.app.deps.config.jwtSecret ?? randomBytes(32).toString('base64url'),
      PORT: '0',
      HOST: '127.0.0.1',
      // Any free port: several apps may run in this process, and 9464 may be taken.
      METRICS_PORT: '0',
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      REDIS_URL: opts.redisUrl,
      // Concurrent runs (and the other cases of this run) must not see each other's keys.
      REDIS_PREFIX: shared?.app.deps.config.redisPrefix ?? `bench-${randomBytes(4).toString('hex')}`,
      // The load generator hammers from one IP with few users; limits would measure themselves.
      RATE_LIMITS: 'off',
      // Cases seed exactly the data they measure.
      SEED_DEMO: 'false',
      // No case uploads images; production must choose local files explicitly.
      STORAGE: 'disk',
      LOG_LEVEL: 'warn',
      // The load generator is one address with thousands of sockets.
      WS_MAX_CONNECTIONS_PER_IP: '100000',
      WS_MAX_ANONYMOUS_CONNECTIONS_PER_IP: '100000',
      ...(shared ? { PUBLIC_URL: shared.url } : {}),
      ...opts.env,
    });
    app = await createApp(config, pino({ level: config.logLevel }), opts.seams);
  } catch (error) {
    running.delete(cleanUp);
    await cleanUp();
    throw error;
  }
  running.delete(cleanUp);
  let stopping: Promise<void> | undefined;
  const benchApp: BenchApp = {
    app,
    url: app.server.url,
    graphqlUrl: `${app.server.url}/graphql`,
    databaseUrl: database.url,
    stop: () =>
      (stopping ??= (async () => {
        running.delete(benchApp.stop);
        try {
          await app.stop();
        } finally {
          await cleanUp();
        }
      })()),
  };
  running.add(benchApp.stop);
  return benchApp;
}
