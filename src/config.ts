// Environment → typed configuration. Every variable the server reads is here, with the
// embedded defaults that make `npm start` work on a fresh clone.
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_DATABASE_TIMEOUTS } from './db/pool.ts';
import type { DatabaseTimeouts } from './db/pool.ts';
import type { LimitName, LimitRule } from './ratelimit/index.ts';
import type { S3StorageOptions } from './storage/index.ts';
import { pushConfigFrom, pushEnv } from './push/config.ts';
import type { PushConfig } from './push/config.ts';

const optionalBool = () =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { error: 'must be true or false' })
    .optional()
    .transform((v) => (v === undefined ? undefined : ['true', '1', 'yes', 'on'].includes(v)));
const bool = (fallback: boolean) => optionalBool().transform((v) => v ?? fallback);

/** A whole number in [min, max], `fallback` when unset; `what` words the error ("a number of seconds"). */
const whole = (what: string, min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: `must be ${what}` })
    .int()
    .min(min)
    .max(max)
    .default(fallback);

const url = (protocols: string[]) =>
  z
    .string()
    .optional()
    .refine((v) => !v || protocols.some((p) => v.startsWith(`${p}://`)), {
      message: `must be a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}`,
    });

// "<points>/<seconds>", e.g. "10/900" for ten per quarter hour.
const limitRule = z
  .string()
  .regex(/^\d+\/\d+$/, 'must look like <points>/<seconds>, e.g. 10/900')
  .optional()
  .transform((v) => {
    if (!v) return undefined;
    const [points, durationSeconds] = v.split('/').map(Number) as [number, number];
    return { points, durationSeconds };
  })
  .refine((r) => !r || (r.points >= 1 && r.durationSeconds >= 1), 'must have at least 1 point and 1 second');

const envSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'], { error: 'must be development, production or test' })
    .default('development'),
  PORT: whole('a port number', 0, 65535, 4000),
  HOST: z.string().default('0.0.0.0'),
  METRICS_PORT: z
    .string()
    .regex(/^(\d{1,5}|off)$/, 'must be a port number, 0 (any free port) or off')
    .default('9464')
    .transform((v) => (v === 'off' ? null : Number(v)))
    .refine((v) => v === null || v <= 65535, 'must be a port number, 0 (any free port) or off'),
  METRICS_HOST: z.string().optional(),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  METRICS_MAX_OPERATION_NAMES: whole('a whole number', 0, 10_000, 100),
  DATA_DIR: z.string().default('.data'),
  DATABASE_URL: url(['postgres', 'postgresql']),
  DATABASE_QUERY_TIMEOUT_MS: whole('a number of milliseconds', 100, 600_000, DEFAULT_DATABASE_TIMEOUTS.queryMs),
  DATABASE_CONNECT_TIMEOUT_MS: whole('a number of milliseconds', 100, 600_000, DEFAULT_DATABASE_TIMEOUTS.connectMs),
  REDIS_URL: url(['redis', 'rediss']),
  STORAGE: z.enum(['disk', 's3'], { error: 'must be disk or s3' }).optional(),
  S3_BUCKET: z.string().min(3, 'must have at least 3 characters').optional(),
  S3_REGION: z.string().default('auto'),
  S3_ENDPOINT: url(['http', 'https']),
  S3_ACCESS_KEY_ID: z.string().optional(),
  S3_SECRET_ACCESS_KEY: z.string().optional(),
  S3_PUBLIC_URL: url(['http', 'https']),
  S3_FORCE_PATH_STYLE: bool(false),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  CORS_ORIGINS: z.string().default('*'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'must be a pino level' })
    .default('info'),
  SEED_DEMO: optionalBool(),
  GRAPHIQL: optionalBool(),
  RATE_LIMITS: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[\w-]{1,40}$/, 'must be 1–40 letters, digits, _ or -')
    .default('pinit'),
  RATE_LIMIT_LOGIN_PER_USERNAME: limitRule,
  RATE_LIMIT_LOGIN_PER_IP: limitRule,
  RATE_LIMIT_REGISTER_PER_IP: limitRule,
  RATE_LIMIT_CHANGE_PASSWORD_PER_USER: limitRule,
  RATE_LIMIT_SEND_MESSAGE_PER_USER: limitRule,
  RATE_LIMIT_RATINGS_PER_USER: limitRule,
  RATE_LIMIT_MUTATIONS_PER_USER: limitRule,
  RATE_LIMIT_MUTATIONS_PER_IP: limitRule,
  RATE_LIMIT_QUERIES_PER_USER: limitRule,
  RATE_LIMIT_QUERIES_PER_IP: limitRule,
  RATE_LIMIT_UPLOADS_PER_USER: limitRule,
  RATE_LIMIT_SHARES_PER_USER: limitRule,
  RATE_LIMIT_INVITATIONS_PER_USER: limitRule,
  RATE_LIMIT_REPORTS_PER_USER: limitRule,
  RATE_LIMIT_EXPORTS_PER_USER: limitRule,
  RATE_LIMIT_DELETE_ACCOUNT_PER_USER: limitRule,
  WS_MAX_CONNECTIONS_PER_USER: whole('a whole number', 1, 1000, 10),
  WS_INIT_TIMEOUT_SECONDS: whole('a number of seconds', 1, 60, 10),
  WS_KEEPALIVE_SECONDS: whole('a number of seconds', 1, 300, 20),
  WS_MAX_CONNECTIONS: whole('a whole number', 1, 1_000_000, 20_000),
  WS_MAX_CONNECTIONS_PER_IP: whole('a whole number', 1, 100_000, 200),
  WS_MAX_ANONYMOUS_CONNECTIONS_PER_IP: whole('a whole number', 1, 100_000, 10),
  WS_MAX_BUFFERED_KB: whole('a whole number of KiB', 16, 1_048_576, 256),
  OPERATION_TIMEOUT_MS: whole('a number of milliseconds', 1, 600_000, 10_000),
  UPLOADS_MAX_CONCURRENT_PER_USER: whole('a whole number', 1, 100, 2),
  UPLOADS_MAX_CONCURRENT: whole('a whole number', 1, 10_000, 16),
  UPLOAD_IDLE_TIMEOUT_SECONDS: whole('a number of seconds', 1, 300, 10),
  UPLOAD_TIMEOUT_SECONDS: whole('a number of seconds', 1, 3600, 60),
  HTTP_HEADERS_TIMEOUT_SECONDS: whole('a number of seconds', 1, 300, 10),
  HTTP_KEEPALIVE_TIMEOUT_SECONDS: whole('a number of seconds', 1, 600, 5),
  SESSION_CACHE_TTL_MS: whole('a number of milliseconds', 100, 900_000, 60_000),
  SESSION_CACHE_UNSURE_TTL_MS: whole('a number of milliseconds', 0, 60_000, 1_000),
  SESSION_REVOCATION_POLL_MS: whole('a number of milliseconds', 100, 60_000, 500),
  CHANGE_LOG_POLL_MS: whole('a number of milliseconds', 50, 60_000, 1_000),
  CHANGE_LOG_RETENTION_HOURS: whole('a number of hours', 24, 8_760, 24),
  CHANGE_LOG_MAX_CHANGES: whole('a number of changes', 100, 1_000_000_000, 5_000_000),
  PRESENCE_TTL_SECONDS: whole('a number of seconds', 2, 3600, 30),
  REMINDER_POLL_MS: whole('a number of milliseconds', 10, 600_000, 15_000),
  STORAGE_DELETION_POLL_MS: whole('a number of milliseconds', 10, 3_600_000, 30_000),
  EXPORT_LINK_TTL_SECONDS: whole('a number of seconds', 1, 7 * 24 * 3600, 15 * 60),
  PUBLIC_URL: url(['http', 'https']),
  ...pushEnv,
  TRUST_PROXY: z
    .string()
    .regex(
      /^[\w.:/, -]+$/,
      'must be a comma-separated list of addresses, subnets or names (loopback, linklocal, uniquelocal)',
    )
    .default('loopback'),
});

export interface Config {
  env: 'development' | 'production' | 'test';
  isProduction: boolean;
  port: number;
  host: string;
  metrics: {
    /** Port of the Prometheus listener (0: any free port); null: no listener. */
    port: number | null;
    host: string;
    /** When set, /metrics is also served on the public port to `Authorization: Bearer <token>`. */
    token?: string;
    /** Distinct operation names kept as label values; the rest are counted as `__other`. */
    maxOperationNames: number;
  };
  /** Where the embedded database and local files live. */
  dataDir: string;
  /** PostgreSQL; absent means the embedded PGlite under dataDir. */
  databaseUrl?: string;
  /** Deadlines of PostgreSQL statements and connections, so a stalled database fails requests instead of hanging them. */
  databaseTimeouts: DatabaseTimeouts;
  /** Redis for pub/sub and rate limits; absent means in-process. */
  redisUrl?: string;
  /** Prefix of every Redis key and channel, so deployments can share one Redis. */
  redisPrefix: string;
  /**
   * S3/R2/MinIO; absent means local files under dataDir served at /files (STORAGE=disk, which
   * production must choose explicitly).
   */
  s3?: S3StorageOptions;
  /** HS256 key of access tokens. Unset outside production: a random one kept in DATA_DIR. */
  jwtSecret?: string;
  /** Browser origins allowed by CORS and the WebSocket Origin check; ['*'] allows all. */
  corsOrigins: string[];
  logLevel: string;
  seedDemo: boolean;
  /** GraphiQL at GET /graphql for browsers, and schema introspection (HTTP and WebSocket). */
  graphiql: boolean;
  rateLimits: {
    enabled: boolean;
    /** Overrides of the default rules (src/ratelimit). */
    rules: Partial<Record<LimitName, LimitRule>>;
  };
  /** WebSocket connections one user may hold open on one instance. */
  wsMaxConnectionsPerUser: number;
  /** How long a WebSocket may stay open without connection_init (closed with 4408). */
  wsInitTimeoutSeconds: number;
  /** Ping interval that keeps idle sockets alive through proxies; a peer that misses a pong is dropped. */
  wsKeepAliveSeconds: number;
  /** WebSockets one instance holds open at once; further upgrades are answered 503. */
  wsMaxConnections: number;
  /** WebSockets one client address may hold open on one instance (signed in or not); further upgrades are answered 429. */
  wsMaxConnectionsPerIp: number;
  /** Anonymous WebSockets one client address may hold on one instance (more are closed with 4429). */
  wsMaxAnonymousConnectionsPerIp: number;
  /** Bytes a socket may have queued unread before it is closed with 4413 (a consumer that stopped reading). */
  wsMaxBufferedBytes: number;
  /** How long a query may resolve fields before the rest fail with DEADLINE_EXCEEDED (src/schema/deadline.ts). */
  operationTimeoutMs: number;
  /** Uploads (multipart requests) one user, or one address without a valid token, may have in progress on one instance; more are answered 429. */
  uploadsMaxConcurrentPerUser: number;
  /** Uploads one instance receives and processes at once; more are answered 503. */
  uploadsMaxConcurrent: number;
  /** An upload whose body sends nothing for this long is answered 408 and closed. */
  uploadIdleTimeoutSeconds: number;
  /** An upload whose body has not fully arrived after this long is answered 408 and closed. */
  uploadTimeoutSeconds: number;
  /** How long a client may take to send a request's headers (slow-loris); then the connection is closed. */
  httpHeadersTimeoutSeconds: number;
  /** How long an idle keep-alive HTTP connection stays open between requests. */
  httpKeepAliveTimeoutSeconds: number;
  /** How long an instance's presence claims last without renewal (a crashed instance's users go offline after it). */
  presenceTtlSeconds: number;
  /** How often this instance sends the event reminders that are due (src/services/events/reminders.ts). */
  reminderPollMs: number;
  /** How often this instance retries removing stored objects whose rows are gone; also the first retry's delay, doubled per failure (src/services/images/deletions.ts). */
  storageDeletionPollMs: number;
  /** How long an exportMyData link works (it also stops when the session that asked for it ends). */
  exportLinkTtlSeconds: number;
  /** The change log behind resumable subscriptions (src/changes/): poll period and what is kept. */
  changeLog: { pollMs: number; retentionMs: number; maxChanges: number };
  /** How long a session's state (live or ended, role) is trusted per instance (src/services/accounts/sessions.ts). */
  sessionCache: { ttlMs: number; unsureTtlMs: number; revocationPollMs: number };
  /** Proxies whose X-Forwarded-For is believed (express/proxy-addr syntax). */
  trustProxy: string[];
  /** Base URL the API is reachable at, for links to locally stored files; unset: the listening address (src/app.ts). */
  publicUrl?: string;
  /** Push providers (APNs, FCM) and the outbox worker's pacing; no provider means push is off. */
  push: PushConfig;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; throws ConfigError with one line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset", as in most .env tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`Invalid configuration: ${String(issue.path[0])} ${issue.message}`);
  }
  const e = parsed.data;
  const isProduction = e.NODE_ENV === 'production';
  if (isProduction && !e.JWT_SECRET) {
    throw new ConfigError(
      'Invalid configuration: JWT_SECRET must be set (32+ random characters) when NODE_ENV=production',
    );
  }
  if (e.STORAGE === 's3' && !e.S3_BUCKET) {
    throw new ConfigError('Invalid configuration: S3_BUCKET must be set when STORAGE=s3');
  }
  if (e.STORAGE === 'disk' && e.S3_BUCKET) {
    throw new ConfigError('Invalid configuration: STORAGE=disk and S3_BUCKET contradict each other; unset one of them');
  }
  // Several instances behind a load balancer would each keep the images uploaded through them
  // on their own disk, and the others would answer 404 for them: production says so explicitly.
  if (isProduction && !e.S3_BUCKET && e.STORAGE !== 'disk') {
    throw new ConfigError(
      'Invalid configuration: S3_BUCKET must be set when NODE_ENV=production (each instance would keep its own images on its own disk); set STORAGE=disk to store them under DATA_DIR/files on a single instance',
    );
  }
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError('Invalid configuration: S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together');
  }
  if (e.METRICS_PORT !== null && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT) {
    throw new ConfigError(
      `Invalid configuration: METRICS_PORT must differ from PORT (${e.PORT}); /metrics has a listener of its own, or METRICS_PORT=off`,
    );
  }
  let push: PushConfig;
  try {
    push = pushConfigFrom(e);
  } catch (error) {
    throw new ConfigError(`Invalid configuration: ${(error as Error).message}`);
  }
  return {
    env: e.NODE_ENV,
    isProduction,
    port: e.PORT,
    host: e.HOST,
    metrics: {
      port: e.METRICS_PORT,
      host: e.METRICS_HOST ?? e.HOST,
      token: e.METRICS_TOKEN,
      maxOperationNames: e.METRICS_MAX_OPERATION_NAMES,
    },
    dataDir: resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    databaseTimeouts: { queryMs: e.DATABASE_QUERY_TIMEOUT_MS, connectMs: e.DATABASE_CONNECT_TIMEOUT_MS },
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    s3: e.S3_BUCKET
      ? {
          bucket: e.S3_BUCKET,
          region: e.S3_REGION,
          endpoint: e.S3_ENDPOINT,
          accessKeyId: e.S3_ACCESS_KEY_ID,
          secretAccessKey: e.S3_SECRET_ACCESS_KEY,
          publicUrl: e.S3_PUBLIC_URL,
          forcePathStyle: e.S3_FORCE_PATH_STYLE,
        }
      : undefined,
    jwtSecret: e.JWT_SECRET,
    corsOrigins: e.CORS_ORIGINS.split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    logLevel: e.LOG_LEVEL,
    // Demo accounts have a published password: off by default in production.
    seedDemo: e.SEED_DEMO ?? !isProduction,
    // Exploring the schema is for development; production opts in.
    graphiql: e.GRAPHIQL ?? !isProduction,
    rateLimits: {
      enabled: e.RATE_LIMITS === 'on',
      rules: Object.fromEntries(
        Object.entries({
          loginPerUsername: e.RATE_LIMIT_LOGIN_PER_USERNAME,
          loginPerIp: e.RATE_LIMIT_LOGIN_PER_IP,
          registerPerIp: e.RATE_LIMIT_REGISTER_PER_IP,
          changePasswordPerUser: e.RATE_LIMIT_CHANGE_PASSWORD_PER_USER,
          sendMessagePerUser: e.RATE_LIMIT_SEND_MESSAGE_PER_USER,
          ratingsPerUser: e.RATE_LIMIT_RATINGS_PER_USER,
          mutationsPerUser: e.RATE_LIMIT_MUTATIONS_PER_USER,
          mutationsPerIp: e.RATE_LIMIT_MUTATIONS_PER_IP,
          queriesPerUser: e.RATE_LIMIT_QUERIES_PER_USER,
          queriesPerIp: e.RATE_LIMIT_QUERIES_PER_IP,
          uploadsPerUser: e.RATE_LIMIT_UPLOADS_PER_USER,
          sharesPerUser: e.RATE_LIMIT_SHARES_PER_USER,
          invitationsPerUser: e.RATE_LIMIT_INVITATIONS_PER_USER,
          reportsPerUser: e.RATE_LIMIT_REPORTS_PER_USER,
          exportsPerUser: e.RATE_LIMIT_EXPORTS_PER_USER,
          deleteAccountPerUser: e.RATE_LIMIT_DELETE_ACCOUNT_PER_USER,
        }).filter(([, rule]) => rule !== undefined),
      ),
    },
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    presenceTtlSeconds: e.PRESENCE_TTL_SECONDS,
    reminderPollMs: e.REMINDER_POLL_MS,
    storageDeletionPollMs: e.STORAGE_DELETION_POLL_MS,
    exportLinkTtlSeconds: e.EXPORT_LINK_TTL_SECONDS,
    changeLog: {
      pollMs: e.CHANGE_LOG_POLL_MS,
      retentionMs: e.CHANGE_LOG_RETENTION_HOURS * 3_600_000,
      maxChanges: e.CHANGE_LOG_MAX_CHANGES,
    },
    sessionCache: {
      ttlMs: e.SESSION_CACHE_TTL_MS,
      unsureTtlMs: e.SESSION_CACHE_UNSURE_TTL_MS,
      revocationPollMs: e.SESSION_REVOCATION_POLL_MS,
    },
    operationTimeoutMs: e.OPERATION_TIMEOUT_MS,
    wsMaxConnectionsPerUser: e.WS_MAX_CONNECTIONS_PER_USER,
    wsInitTimeoutSeconds: e.WS_INIT_TIMEOUT_SECONDS,
    wsKeepAliveSeconds: e.WS_KEEPALIVE_SECONDS,
    wsMaxConnections: e.WS_MAX_CONNECTIONS,
    wsMaxConnectionsPerIp: e.WS_MAX_CONNECTIONS_PER_IP,
    wsMaxAnonymousConnectionsPerIp: e.WS_MAX_ANONYMOUS_CONNECTIONS_PER_IP,
    wsMaxBufferedBytes: e.WS_MAX_BUFFERED_KB * 1024,
    uploadsMaxConcurrentPerUser: e.UPLOADS_MAX_CONCURRENT_PER_USER,
    uploadsMaxConcurrent: e.UPLOADS_MAX_CONCURRENT,
    uploadIdleTimeoutSeconds: e.UPLOAD_IDLE_TIMEOUT_SECONDS,
    uploadTimeoutSeconds: e.UPLOAD_TIMEOUT_SECONDS,
    httpHeadersTimeoutSeconds: e.HTTP_HEADERS_TIMEOUT_SECONDS,
    httpKeepAliveTimeoutSeconds: e.HTTP_KEEPALIVE_TIMEOUT_SECONDS,
    trustProxy: e.TRUST_PROXY.split(',')
      .map((v) => v.trim())
      .filter(Boolean),
    push,
  };
}
