// Wires configuration to adapters and the server. main.ts, the tests and the scripts all
// start the API through here, so there is one start-up path.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { createSessionStates } from './auth/sessions.ts';
import type { SessionStates } from './auth/sessions.ts';
import { createTokenIssuer } from './auth/tokens.ts';
import { createChangeFeed } from './changes/index.ts';
import { createRedisCache } from './cache/index.ts';
import type { Config } from './config.ts';
import type { AppDeps } from './context.ts';
import { openDatabase, pgliteDirFor } from './db/index.ts';
import { createMetrics, instrumentPubSub } from './metrics/index.ts';
import type { Metrics } from './metrics/index.ts';
import { createPresence } from './presence/index.ts';
import { createPubSub, withTopicPrefix } from './pubsub/index.ts';
import type { PubSub } from './pubsub/index.ts';
import { startPushWorker } from './push/index.ts';
import { flushDeliveries } from './services/chat/index.ts';
import { startReminderSender } from './services/events/reminders.ts';
import { startStorageDeletionSender } from './services/images/deletions.ts';
import { createDownloadLinks } from './auth/links.ts';
import { sweepUploadTemp } from './services/images/index.ts';
import * as presenceService from './services/presence/index.ts';
import { createRateLimiter } from './ratelimit/index.ts';
import { planned, schema } from './schema/index.ts';
import { startServer } from './transport/server.ts';
import type { RunningServer } from './transport/server.ts';
import { createStorage } from './storage/index.ts';
import { seedDemo } from '../prisma/seed.ts';

export interface App {
  deps: AppDeps;
  server: RunningServer;
  /** Drains HTTP, closes WebSockets with 1001, then closes pools. Safe to call twice. */
  stop(): Promise<void>;
}

export function createLogger(config: Pick<Config, 'logLevel' | 'isProduction'>): Logger {
  return pino({
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], remove: true },
  });
}

/**
 * The configured JWT secret, or outside production one generated on first start and kept in
 * DATA_DIR, so a development server never signs with a secret published in the repository.
 */
async function jwtSecretFor(config: Config): Promise<string> {
  if (config.jwtSecret) return config.jwtSecret;
  const file = join(config.dataDir, 'jwt-secret');
  const existing = await readFile(file, 'utf8').catch(() => '');
  if (existing.trim().length >= 32) return existing.trim();
  const secret = randomBytes(48).toString('base64url');
  await mkdir(config.dataDir, { recursive: true });
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** The deployment's pub/sub as every instance opens it (prefix, metrics envelope); scripts that publish use it too. */
export function openPubSub(config: Config, logger: Logger, metrics: Metrics): PubSub {
  return instrumentPubSub(
    withTopicPrefix(createPubSub({ redisUrl: config.redisUrl, logger }), config.redisPrefix),
    metrics,
  );
}

/**
 * Parts of the wiring a benchmark replaces to measure what they cost: a seam for the bench
 * (bench/lib/app.ts), not configuration. Nothing in the environment reaches it, and main.ts
 * and the tests pass none.
 */
export interface AppSeams {
  /**
   * Used instead of the session cache (src/auth/sessions.ts), which it then does not start:
   * case 1 runs the map page against an instance that trusts the token's claims, beside one
   * that checks the session.
   */
  sessions?: SessionStates;
}

export async function createApp(
  config: Config,
  logger: Logger = createLogger(config),
  seams: AppSeams = {},
): Promise<App> {
  const started = Date.now();
  const db = await openDatabase({
    url: config.databaseUrl,
    pgliteDir: pgliteDirFor(config.dataDir),
    timeouts: config.databaseTimeouts,
  });
  const closers: Array<() => Promise<void>> = [() => db.close()];
  try {
    const applied = await db.migrate();
    if (applied.length) logger.info({ applied }, 'migrations applied');
    if (config.seedDemo && (await db.prisma.user.count()) === 0) {
      const seeded = await seedDemo(db.prisma);
      if (seeded) logger.info(seeded, 'empty database: demo data loaded (SEED_DEMO=false turns this off)');
    }

    const metrics = createMetrics(() => db.poolStats(), config.metrics);
    const pubsub = openPubSub(config, logger, metrics);
    closers.unshift(() => pubsub.close());
    const rateLimiter = createRateLimiter({
      ...config.rateLimits,
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
    });
    closers.unshift(() => rateLimiter.close());
    const presence = createPresence({
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      logger,
      ttlSeconds: config.presenceTtlSeconds,
    });
    closers.unshift(() => presence.close());

    // Uploads are streamed to DATA_DIR/tmp; a crash mid-upload leaves a file there.
    const swept = await sweepUploadTemp(config.dataDir);
    if (swept) logger.info({ swept }, 'removed temporary upload files left by a previous run');

    const filesDir = config.s3 ? undefined : join(config.dataDir, 'files');
    // Without PUBLIC_URL, links to local files use the address the server listens on, known once
    // it listens (PORT=0 picks the port): server.url, which is http://127.0.0.1:<port> on the
    // default HOST=0.0.0.0. Not "localhost": it may resolve to ::1 first while 0.0.0.0 is IPv4
    // only, and a client that does not fall back to IPv4 then cannot fetch the image.
    let baseUrl = config.publicUrl ?? '';
    const storage = createStorage({
      s3: config.s3,
      // A lazy base: with PORT=0 the port is known only once the server listens.
      disk: { rootDir: join(config.dataDir, 'files'), publicBaseUrl: () => `${baseUrl}/files` },
    });

    const sessions =
      seams.sessions ?? createSessionStates({ prisma: db.prisma, pubsub, logger, options: config.sessionCache });
    closers.unshift(async () => sessions.close());
    const changes = createChangeFeed({ prisma: db.prisma, db, pubsub, logger, ...config.changeLog });
    closers.unshift(() => changes.close());
    await changes.start();
    const jwtSecret = await jwtSecretFor(config);
    const deps: AppDeps = {
      config,
      logger,
      db,
      prisma: db.prisma,
      pubsub,
      presence,
      metrics,
      storage,
      rateLimiter,
      tokens: createTokenIssuer(jwtSecret),
      downloads: createDownloadLinks(jwtSecret, { ttlSeconds: config.exportLinkTtlSeconds, baseUrl: () => baseUrl }),
      sessions,
      changes,
    };
    // Deliveries pushed in the last moment are recorded before the pools close.
    closers.unshift(() => flushDeliveries(deps));
    const apqCache = config.redisUrl ? createRedisCache(config.redisUrl, config.redisPrefix, logger) : undefined;
    if (apqCache) closers.unshift(() => apqCache.close());
    const server = await startServer(
      { schema, planned, deps, filesDir, apqCache },
      { port: config.port, host: config.host },
    );
    // Users of instances that died without closing their sockets go offline once their claims lapse.
    const sweeper = setInterval(
      () => {
        presenceService.sweep(deps).catch((err) => logger.warn({ err }, 'presence sweep failed'));
      },
      Math.max(1_000, (config.presenceTtlSeconds * 1000) / 3),
    );
    sweeper.unref();
    closers.unshift(async () => clearInterval(sweeper));
    // Push jobs are rows: whatever is queued when this instance stops is delivered by another, or after a restart.
    const pushWorker = startPushWorker({ prisma: db.prisma, config: config.push, logger });
    closers.unshift(() => pushWorker.stop());
    // Reminders are rows too: every instance sends the due ones, each exactly once.
    const reminderSender = startReminderSender(deps, { pollMs: config.reminderPollMs, logger });
    closers.unshift(() => reminderSender.stop());
    // Stored objects whose rows are gone are removed until the storage confirms, by any instance.
    const storageDeletions = startStorageDeletionSender(deps, logger);
    closers.unshift(() => storageDeletions.stop());
    if (!config.publicUrl) baseUrl = server.url;
    logger.info(
      {
        url: `${server.url}/graphql`,
        metrics: server.metricsUrl && `${server.metricsUrl}/metrics`,
        database: db.kind,
        pubsub: config.redisUrl ? 'redis' : 'in-process',
        storage: config.s3 ? 's3' : 'disk',
        startupMs: Date.now() - started,
      },
      'PinIt API ready',
    );

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        await server.stop();
        logger.debug('HTTP drained and WebSockets closed');
        for (const close of closers) await close().catch((err) => logger.warn({ err }, 'error while closing'));
        logger.debug('pools closed');
      })());
    return { deps, server, stop };
  } catch (error) {
    for (const close of closers) await close().catch(() => undefined);
    throw error;
  }
}
