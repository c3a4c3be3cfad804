// The HTTP and WebSocket front: one express app and one HTTP server carrying health and
// readiness, local files, GraphiQL, and /graphql for both transports (./http.ts, ./ws.ts),
// which run every operation through the one pipeline (./pipeline.ts). Prometheus scrapes
// /metrics on a listener of its own (METRICS_PORT), off the public port.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import cors from 'cors';
import express from 'express';
import type { GraphQLSchema } from 'graphql';
import { pinoHttp } from 'pino-http';
import { createExportsRouter } from './exports.ts';
import proxyAddr from 'proxy-addr';
import { WebSocketServer } from 'ws';
import { ConfigError } from '../config.ts';
import type { AppDeps } from '../context.ts';
import { createFilesRouter } from '../storage/disk.ts';
import { createGraphiQLRouter } from './graphiql.ts';
import { createHealthRouter, serveMetrics } from './health.ts';
import { createHttpHandler } from './http.ts';
import { OperationPipeline } from './pipeline.ts';
import type { PlannedExecutor } from './pipeline.ts';
import { useWebSocketServer } from './ws.ts';

/** Limits on what a client may send. */
export const REQUEST_LIMITS = {
  /** JSON request bodies. */
  jsonBodyBytes: 1024 * 1024,
  /** graphql-ws messages. */
  wsMessageBytes: 256 * 1024,
  /** Operations one WebSocket may run at once. */
  wsOperationsPerConnection: 100,
  /** How long shutdown waits for operations still executing after their connections closed. */
  shutdownGraceMs: 10_000,
  /** requestTimeout is the upload timeout plus this, so that the upload's own 408 comes first. */
  requestTimeoutMarginMs: 10_000,
  /** How often the server checks headersTimeout and requestTimeout (Node's default: 30 s). */
  connectionsCheckingIntervalMs: 1_000,
} as const;

/**
 * The HTTP server's own deadlines, chosen rather than inherited (Node's defaults let a request
 * take five minutes, and check only every 30 s):
 * - headersTimeout: a client must send its headers within HTTP_HEADERS_TIMEOUT_SECONDS, or the
 *   connection is closed (slow-loris).
 * - requestTimeout: the whole request must arrive within UPLOAD_TIMEOUT_SECONDS plus a margin,
 *   the longest any request may take; an upload is cut at UPLOAD_TIMEOUT_SECONDS by ./uploads.ts
 *   first, with a GraphQL-shaped answer. Node answers 408 and closes.
 * - keepAliveTimeout: idle keep-alive connections close after HTTP_KEEPALIVE_TIMEOUT_SECONDS.
 * - connectionsCheckingInterval: how often Node looks for connections past the first two.
 * Responses are not limited: a slow resolver is not the client's doing.
 */
export function httpServerTimeouts(config: AppDeps['config']) {
  const headersTimeout = config.httpHeadersTimeoutSeconds * 1000;
  return {
    headersTimeout,
    requestTimeout: Math.max(
      headersTimeout,
      config.uploadTimeoutSeconds * 1000 + REQUEST_LIMITS.requestTimeoutMarginMs,
    ),
    keepAliveTimeout: config.httpKeepAliveTimeoutSeconds * 1000,
    connectionsCheckingInterval: REQUEST_LIMITS.connectionsCheckingIntervalMs,
  };
}

export interface RunningServer {
  httpServer: Server;
  /** Base URL, e.g. http://127.0.0.1:4000 */
  url: string;
  /** Base URL of the metrics listener, e.g. http://127.0.0.1:9464; undefined with METRICS_PORT=off. */
  metricsUrl?: string;
  stop(): Promise<void>;
}

export interface ServerOptions {
  schema: GraphQLSchema;
  deps: AppDeps;
  /** Queries answered without graphql-js walking their results (src/schema/planned.ts); none: all executed. */
  planned?: PlannedExecutor;
  /** Directory of locally stored files, served at /files; absent when S3 is used. */
  filesDir?: string;
  /** Shared cache for automatic persisted queries (Redis); Apollo's in-memory one otherwise. */
  apqCache?: KeyValueCache<string>;
}

function corsOrigin(allowed: string[]) {
  if (allowed.includes('*')) return true;
  return (origin: string | undefined, cb: (err: Error | null, allow?: boolean) => void) =>
    cb(null, origin === undefined || allowed.includes(origin));
}

const requestLogging = (deps: AppDeps) =>
  pinoHttp({
    logger: deps.logger,
    genReqId: (req, res) => {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && /^[\w.-]{8,100}$/.test(incoming) ? incoming : randomUUID();
      res.setHeader('x-request-id', id);
      return id;
    },
    customAttributeKeys: { reqId: 'requestId' },
    // req.log carries only the request id; the completion line carries the request.
    quietReqLogger: true,
    serializers: {
      req: (req: { method: string; url: string; remoteAddress?: string }) => ({
        method: req.method,
        // The path only: query strings may carry tokens or personal data.
        path: req.url.split('?')[0],
        remoteAddress: req.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
    // Per-operation latency lives here (responseTime), not in a metric label clients could inflate.
    customProps: (req) => {
      const name = (req as { body?: { operationName?: unknown } }).body?.operationName;
      return typeof name === 'string' ? { operationName: name.slice(0, 100) } : {};
    },
  });

/**
 * Listens; the base URL (a wildcard host reads as 127.0.0.1). A port that is taken, or that needs
 * privileges, is a configuration mistake: one line naming the variable (see src/main.ts).
 */
async function listenOn(server: Server, at: { port: number; host: string; variable: string }): Promise<string> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => resolve());
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${at.variable}=${at.port} on ${at.host}`;
    if (code === 'EADDRINUSE') {
      throw new ConfigError(
        `Invalid configuration: ${where} is already in use (another instance on this machine?); give each instance its own ${at.variable}`,
      );
    }
    if (code === 'EACCES')
      throw new ConfigError(`Invalid configuration: ${where} needs privileges; use a port above 1023`);
    throw error;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
}

/** GET /metrics alone, on METRICS_HOST:METRICS_PORT; null with METRICS_PORT=off. */
async function startMetricsListener(deps: AppDeps): Promise<{ url: string; close(): Promise<void> } | null> {
  const { port, host } = deps.config.metrics;
  if (port === null) return null;
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', serveMetrics(deps));
  const server = createServer(app);
  const url = await listenOn(server, { port, host, variable: 'METRICS_PORT' });
  return {
    url,
    // A scrape under way finishes; idle keep-alive connections of scrapers are closed now.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

export async function startServer(opts: ServerOptions, listen: { port: number; host: string }): Promise<RunningServer> {
  const { deps } = opts;
  // First, so that a taken METRICS_PORT stops start-up before anything else is listening.
  const metrics = await startMetricsListener(deps);
  try {
    return await startFront(opts, listen, metrics);
  } catch (error) {
    await metrics?.close();
    throw error;
  }
}

async function startFront(
  opts: ServerOptions,
  listen: { port: number; host: string },
  metrics: { url: string; close(): Promise<void> } | null,
): Promise<RunningServer> {
  const { deps } = opts;
  const pipeline = new OperationPipeline(opts.schema, deps, opts.planned);
  const app = express();
  const httpServer = createServer(httpServerTimeouts(deps.config), app);
  // Which hops' X-Forwarded-For to believe (TRUST_PROXY); req.ip is then the client's address.
  app.set('trust proxy', deps.config.trustProxy);
  app.disable('x-powered-by');
  app.use(requestLogging(deps));
  app.use(cors({ origin: corsOrigin(deps.config.corsOrigins), maxAge: 600 }));
  app.use(createHealthRouter(deps));
  if (opts.filesDir) app.use('/files', createFilesRouter(opts.filesDir));
  app.use(createExportsRouter(deps));
  // Browsers asking GET /graphql for HTML get GraphiQL (or, when it is off, a page saying so);
  // everything else reaches Apollo below.
  app.use(createGraphiQLRouter('/graphql', { enabled: deps.config.graphiql }));

  const wsServer = new WebSocketServer({
    server: httpServer,
    path: '/graphql',
    maxPayload: REQUEST_LIMITS.wsMessageBytes,
  });
  const trust = proxyAddr.compile(deps.config.trustProxy);
  const ws = useWebSocketServer(wsServer, pipeline, {
    operationsPerConnection: REQUEST_LIMITS.wsOperationsPerConnection,
    clientIpOf: (req) => proxyAddr(req, trust),
  });
  const http = await createHttpHandler(pipeline, {
    httpServer,
    jsonBodyBytes: REQUEST_LIMITS.jsonBodyBytes,
    apqCache: opts.apqCache,
    drain: async () => void (await ws.dispose()),
  });
  // GraphQL answers carry no ETag: hashing every response (60 KB for a map page) costs more
  // than the 304s it could save, as the operation runs in full either way. A mounted app of its
  // own for that setting; it inherits the rest (trust proxy).
  const graphqlApp = express();
  graphqlApp.set('etag', false);
  graphqlApp.disable('x-powered-by');
  graphqlApp.use(...http.handlers, http.errors);
  app.use('/graphql', graphqlApp);

  const url = await listenOn(httpServer, { ...listen, variable: 'PORT' });

  let stopping: Promise<void> | undefined;
  return {
    httpServer,
    url,
    metricsUrl: metrics?.url,
    stop: () =>
      (stopping ??= (async () => {
        await http.apollo.stop();
        await pipeline.inFlight.idle(REQUEST_LIMITS.shutdownGraceMs);
        // Last, so the drain can be watched to its end.
        await metrics?.close();
      })()),
  };
}
