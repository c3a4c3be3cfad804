// Starts a real API server on port 0 for a test file: PostgreSQL and Redis when
// TEST_DATABASE_URL/DATABASE_URL and TEST_REDIS_URL/REDIS_URL are set (each server gets a
// database of its own), PGlite and in-process pub/sub otherwise.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, inject } from 'vitest';
import { createApp } from '../../src/app.ts';
import type { App, AppSeams } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { pgliteDirFor } from '../../src/db/index.ts';
import { createDatabase } from './database.ts';
import { TcpProxy } from './tcp-proxy.ts';
import type { Config } from '../../src/config.ts';

const execFileAsync = promisify(execFile);

export const testDatabaseUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
export const testRedisUrl = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL;

export interface TestServer extends App {
  url: string;
  graphqlUrl: string;
  wsUrl: string;
  /** Base URL of the server's metrics listener (METRICS_PORT, 0 here); undefined with METRICS_PORT=off. */
  metricsUrl?: string;
  config: Config;
  /** Stops the server and removes its database and data directory. */
  close(): Promise<void>;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  /** Reuse another server's database (for several instances of one deployment). */
  shareWith?: TestServer;
  /** Collects the server's log lines (parsed JSON) at level info and above. */
  logLines?: Array<Record<string, unknown>>;
  /** createApp's seams (the bench's replacements), for the test that keeps them honest. */
  seams?: AppSeams;
}

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = opts.shareWith?.config.dataDir ?? (await mkdtemp(join(tmpdir(), 'pinit-test-')));
  const cleanups: Array<() => Promise<void>> = [];
  if (!opts.shareWith) cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

  // A copy of the migrated template from tests/helpers/global-setup.ts, not an empty database.
  let databaseUrl = opts.shareWith?.config.databaseUrl;
  if (!opts.shareWith && testDatabaseUrl) {
    const db = await createDatabase(testDatabaseUrl, 'pinit_test', inject('postgresTemplate') ?? undefined);
    databaseUrl = db.url;
    cleanups.push(db.drop);
  }
  const pgliteTemplate = inject('pgliteTemplate');
  if (!opts.shareWith && !databaseUrl) {
    // cp(1), not fs.cp: Node 20's copies the template's 1,100 files one by one in JavaScript,
    // about three times as long (most of a second per server on the 2-core machine).
    await execFileAsync('cp', ['-R', pgliteTemplate, pgliteDirFor(dataDir)]);
  }
  if (opts.shareWith && !databaseUrl) throw new Error('sharing a server needs PostgreSQL (PGlite is single-process)');

  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    // Any free port: suites run side by side, and the default 9464 would be taken.
    METRICS_PORT: '0',
    DATA_DIR: dataDir,
    SEED_DEMO: 'false',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...(testRedisUrl ? { REDIS_URL: testRedisUrl } : {}),
    // Each deployment (a server, or servers sharing a database) gets its own Redis keys and
    // channels, so suites sharing one Redis neither spend each other's rate-limit points nor
    // hear each other's live changes.
    REDIS_PREFIX: opts.shareWith?.config.redisPrefix ?? `t${randomBytes(6).toString('hex')}`,
    // Suites register many users from one address; rate-limit tests set their own rules.
    RATE_LIMIT_REGISTER_PER_IP: '100000/3600',
    RATE_LIMIT_LOGIN_PER_IP: '100000/3600',
    RATE_LIMIT_MUTATIONS_PER_USER: '100000/60',
    RATE_LIMIT_MUTATIONS_PER_IP: '100000/60',
    RATE_LIMIT_QUERIES_PER_USER: '100000/60',
    RATE_LIMIT_QUERIES_PER_IP: '100000/60',
    // Every test client connects from 127.0.0.1; the socket-cap tests set their own caps.
    WS_MAX_CONNECTIONS_PER_IP: '100000',
    WS_MAX_ANONYMOUS_CONNECTIONS_PER_IP: '100000',
    ...opts.env,
  });
  const logger = opts.logLines
    ? pino({ level: 'info' }, { write: (line: string) => void opts.logLines!.push(JSON.parse(line)) })
    : pino({ level: config.logLevel });
  let app: App;
  try {
    app = await createApp(config, logger, opts.seams);
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    throw error;
  }
  // Node closes idle keep-alive sockets after 5 s and fetch drops its own after 3 s (the
  // server's Keep-Alive hint minus a margin). When in-process work (PGlite runs on this
  // thread) blocks the event loop past both, the next request reuses the socket in the same
  // turn that the server's overdue timer destroys it: ECONNRESET (seen in events-map's
  // 100,000-row setup under load). A server timeout far above any such stall keeps fetch's
  // own, shorter one (advertised minus the margin) always first.
  app.server.httpServer.keepAliveTimeout = 120_000;
  const url = app.server.url;
  return {
    ...app,
    config,
    url,
    graphqlUrl: `${url}/graphql`,
    wsUrl: `${url.replace(/^http/, 'ws')}/graphql`,
    metricsUrl: app.server.metricsUrl,
    async close() {
      await app.stop();
      for (const cleanup of cleanups.reverse()) await cleanup();
    },
  };
}

/**
 * Two instances of one deployment (same PostgreSQL, same Redis keys), started before the
 * enclosing suite and closed after it. Call inside a describe that runs on PostgreSQL + Redis.
 * With `redisProxyForB`, B reaches Redis through a TcpProxy (`redis()`), which a test can take
 * down or make a black hole while A's link stays healthy.
 */
export function twoInstances(
  env: Record<string, string> = {},
  opts: { redisProxyForB?: boolean } = {},
): { a: () => TestServer; b: () => TestServer; redis: () => TcpProxy } {
  let a: TestServer | undefined;
  let b: TestServer | undefined;
  let redis: TcpProxy | undefined;
  beforeAll(async () => {
    a = await startTestServer({ env });
    if (opts.redisProxyForB) {
      redis = TcpProxy.for(testRedisUrl!, 6379);
      await redis.start();
    }
    b = await startTestServer({ shareWith: a, env: redis ? { ...env, REDIS_URL: redis.url(testRedisUrl!) } : env });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await redis?.stop();
  });
  return {
    a: () => a!,
    b: () => b!,
    redis: () => {
      if (!redis) throw new Error('twoInstances: pass { redisProxyForB: true } for a Redis proxy');
      return redis;
    },
  };
}
