// HTTP and WebSocket front: express 5 + Apollo Server for queries and mutations, graphql-ws
// for subscriptions on the same port and path, plus health, readiness and local files.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import type { ApolloServerPlugin } from '@apollo/server';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express from 'express';
import type { ErrorRequestHandler, Request } from 'express';
import { execute, getOperationAST, GraphQLError, subscribe } from 'graphql';
import type { DocumentNode, ExecutionArgs, ExecutionResult, FormattedExecutionResult, GraphQLSchema } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { pinoHttp } from 'pino-http';
import proxyAddr from 'proxy-addr';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { parseBearer, TokenError } from '../auth/tokens.ts';
import { createContext } from '../context.ts';
import { SubscriptionGroups } from './fanout.ts';
import type { GroupKey, Member } from './fanout.ts';
import type { AppDeps, Context, Viewer } from '../context.ts';
import { createGraphiQLRouter, introspectionErrors, introspectionRules } from './graphiql.ts';
import { formatError, requestError } from './errors.ts';
import { checkDocument, limitRules, parseOptions } from './limits.ts';
import { limitMutation } from '../ratelimit/index.ts';
import type { ErrorScope } from './errors.ts';
import * as presence from '../services/presence/index.ts';
import { createFilesRouter } from '../storage/disk.ts';
import { IMAGE_LIMITS } from '../services/images/index.ts';
import { graphqlUploads } from './uploads.ts';

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
  /** Per-dependency deadline of /readyz. */
  readinessTimeoutMs: 2_000,
} as const;

export interface RunningServer {
  httpServer: Server;
  /** Base URL, e.g. http://127.0.0.1:4000 */
  url: string;
  stop(): Promise<void>;
}

export interface ServerOptions {
  schema: GraphQLSchema;
  deps: AppDeps;
  /** Directory of locally stored files, served at /files; absent when S3 is used. */
  filesDir?: string;
  /** Shared cache for automatic persisted queries (Redis); Apollo's in-memory one otherwise. */
  apqCache?: KeyValueCache<string>;
}

/**
 * Operations still executing. A client that hangs up does not stop its operation, so shutdown
 * waits for this to empty (within a deadline) before the pools it uses are closed.
 */
class InFlight {
  private count = 0;
  private waiters: Array<() => void> = [];

  track<T>(work: Promise<T>): Promise<T> {
    this.count += 1;
    return work.finally(() => {
      this.count -= 1;
      if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
    });
  }

  idle(timeoutMs: number): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      // Referenced on purpose: shutdown must not end early because the loop ran dry.
      setTimeout(resolve, timeoutMs);
    });
  }
}

// The request id of the HTTP request being served, for error formatting outside resolvers.
const errorScope = new AsyncLocalStorage<ErrorScope>();

function corsOrigin(allowed: string[]) {
  if (allowed.includes('*')) return true;
  return (origin: string | undefined, cb: (err: Error | null, allow?: boolean) => void) =>
    cb(null, origin === undefined || allowed.includes(origin));
}

async function viewerFromToken(deps: AppDeps, header: unknown): Promise<Viewer | null> {
  const token = parseBearer(header);
  if (token === undefined) return null;
  if (token === null) throw requestError('UNAUTHENTICATED', 'Authorization must be "Bearer <accessToken>"', 401);
  try {
    const claims = await deps.tokens.verify(token);
    return { id: claims.userId, role: claims.role, tokenExpiresAt: claims.expiresAt };
  } catch (error) {
    if (error instanceof TokenError) throw requestError('UNAUTHENTICATED', error.message, 401);
    throw error;
  }
}

async function checkReadiness(deps: AppDeps) {
  const withTimeout = (p: Promise<void>) =>
    Promise.race([
      p,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), REQUEST_LIMITS.readinessTimeoutMs).unref()),
    ]);
  const parts = { database: () => deps.db.ping(), pubsub: () => deps.pubsub.ping(), storage: () => deps.storage.ping() };
  const entries = await Promise.all(
    Object.entries(parts).map(async ([name, check]) => {
      try {
        await withTimeout(check());
        return [name, 'ok'] as const;
      } catch (error) {
        deps.logger.warn({ part: name, err: error }, 'readiness check failed');
        return [name, 'failing'] as const;
      }
    }),
  );
  const checks = Object.fromEntries(entries);
  const failing = entries.filter(([, state]) => state !== 'ok').map(([name]) => name);
  return { ready: failing.length === 0, checks, failing };
}

export async function startServer(opts: ServerOptions, listen: { port: number; host: string }): Promise<RunningServer> {
  const { deps, schema } = opts;
  const app = express();
  const httpServer = createServer(app);
  // Which hops' X-Forwarded-For to believe (TRUST_PROXY); req.ip is then the client's address.
  app.set('trust proxy', deps.config.trustProxy);
  app.disable('x-powered-by');

  app.use(
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
    }),
  );
  app.use(cors({ origin: corsOrigin(deps.config.corsOrigins), maxAge: 600 }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  app.get('/readyz', async (_req, res) => {
    const { ready, checks, failing } = await checkReadiness(deps);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', failing, checks });
  });
  if (opts.filesDir) app.use('/files', createFilesRouter(opts.filesDir));
  // Browsers asking GET /graphql for HTML get GraphiQL; everything else reaches Apollo below.
  app.use(createGraphiQLRouter('/graphql', { enabled: deps.config.graphiql }));

  const inFlight = new InFlight();
  const errorOptions = (transport: 'http' | 'ws') => ({
    hideSuggestions: deps.config.isProduction,
    onCode: (code: string) => deps.metrics.errors.inc({ code, transport }),
  });
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: REQUEST_LIMITS.wsMessageBytes });
  const trust = proxyAddr.compile(deps.config.trustProxy);
  const wsCleanup = useWebSocketServer(wsServer, schema, deps, inFlight, (req) => proxyAddr(req, trust), errorOptions('ws'));

  const drainWebSockets: ApolloServerPlugin = {
    async serverWillStart() {
      return { drainServer: async () => void (await wsCleanup.dispose()) };
    },
  };
  // Names the operation in logs and metrics, and applies the general mutation limit.
  const operationHooks: ApolloServerPlugin<Context> = {
    async requestDidStart({ contextValue }) {
      const stopTimer = deps.metrics.operationDuration.startTimer({ transport: 'http', operation: 'unknown', type: 'unknown' });
      return {
        async didResolveOperation({ operationName, operation }) {
          contextValue.logger = contextValue.logger.child({ operationName: operationName ?? undefined });
          if (operation?.operation === 'mutation') await limitMutation(deps.rateLimiter, contextValue.viewer?.id, contextValue.clientIp);
        },
        async willSendResponse({ operationName, operation }) {
          stopTimer({ operation: operationName ?? 'anonymous', type: operation?.operation ?? 'invalid' });
        },
      };
    },
  };
  const apollo = new ApolloServer<Context>({
    schema,
    csrfPrevention: true,
    // main.ts owns signal handling and the order of shutdown.
    stopOnTerminationSignals: false,
    includeStacktraceInErrorResponses: false,
    introspection: true, // refused by introspectionRules when GRAPHIQL is off, with a message naming it
    // Automatic persisted queries: clients send a hash instead of the document once it is known.
    persistedQueries: { cache: opts.apqCache, ttl: 24 * 3600 },
    // The same limits as graphql-ws operations (src/transport/limits.ts).
    parseOptions,
    validationRules: [...limitRules, ...introspectionRules(deps.config.graphiql)],
    // No "Did you mean …?" for probers in production.
    hideSchemaDetailsFromClientErrors: deps.config.isProduction,
    formatError: (_formatted, error) => formatError(error as GraphQLError, errorScope.getStore()),
    // Apollo's own landing page loads from a CDN; ours is GraphiQL (src/transport/graphiql.ts).
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginLandingPageDisabled(),
      // We send no cache hints; the default plugin would still run a hook on every field.
      ApolloServerPluginCacheControlDisabled(),
      drainWebSockets,
      operationHooks,
    ],
  });
  await apollo.start();
  const graphqlHandler = expressMiddleware(apollo, {
    context: async ({ req }) =>
      createContext(deps, {
        viewer: await viewerFromToken(deps, req.headers.authorization),
        requestId: String(req.id),
        logger: req.log,
        clientIp: clientIp(req),
      }),
  });

  app.use(
    '/graphql',
    (req, _res, next) => errorScope.run({ requestId: String(req.id), logger: req.log, ...errorOptions('http') }, next),
    // Multipart (file upload) requests only; JSON ones pass through to express.json.
    graphqlUploads({ maxFileBytes: IMAGE_LIMITS.maxBytes, maxFieldBytes: REQUEST_LIMITS.jsonBodyBytes }),
    express.json({ limit: REQUEST_LIMITS.jsonBodyBytes }),
    (req, res, next) => inFlight.track(Promise.resolve(graphqlHandler(req, res, next))),
  );
  app.use('/graphql', bodyErrors);

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(listen.port, listen.host, () => resolve());
  });
  const address = httpServer.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;

  let stopping: Promise<void> | undefined;
  return {
    httpServer,
    url,
    stop: () =>
      (stopping ??= (async () => {
        await apollo.stop();
        await inFlight.idle(REQUEST_LIMITS.shutdownGraceMs);
      })()),
  };
}

const clientIp = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';

// Body-parser failures (oversized or malformed JSON) answered in GraphQL's error shape.
const bodyErrors: ErrorRequestHandler = (error, req, res, next) => {
  if (res.headersSent) return next(error);
  const status = Number((error as { status?: number }).status) || 500;
  const type = (error as { type?: string }).type;
  if (type === 'entity.too.large') {
    res.status(413).json({ errors: [{ message: 'Request body too large', extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
  } else if (status >= 400 && status < 500) {
    res.status(400).json({ errors: [{ message: 'Malformed request body', extensions: { code: 'BAD_USER_INPUT' } }] });
  } else {
    req.log.error({ err: error }, 'unhandled HTTP error');
    res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: String(req.id) } }] });
  }
};

interface WsExtra {
  viewer: Viewer | null;
  clientIp: string;
  expiryTimer?: NodeJS.Timeout;
}

function useWebSocketServer(
  wsServer: WebSocketServer,
  schema: GraphQLSchema,
  deps: AppDeps,
  inFlight: InFlight,
  clientIpOf: (req: IncomingMessage) => string,
  errorOptions: Pick<ErrorScope, 'hideSuggestions' | 'onCode'>,
) {
  const ready = new WeakMap<object, WsExtra>();
  const connectionsByUser = new Map<string, number>();
  const { metrics } = deps;
  const timed = <T>(args: ExecutionArgs, run: () => T) => {
    const type = getOperationAST(args.document, args.operationName)?.operation ?? 'unknown';
    const stop = metrics.operationDuration.startTimer({ transport: 'ws', type, operation: args.operationName ?? 'anonymous' });
    return inFlight.track(Promise.resolve(run())).finally(() => stop());
  };
  const formatResult = (result: ExecutionResult, args: ExecutionArgs): FormattedExecutionResult => {
    if (!result.errors?.length) return result as FormattedExecutionResult;
    const context = args.contextValue as Context;
    const scope = { requestId: context.requestId, logger: context.logger, ...errorOptions };
    return { ...result, errors: result.errors.map((e) => formatError(e, scope)) };
  };
  // Identical subscriptions share one execution per event (src/transport/fanout.ts). graphql-ws hands
  // our `subscribe` only the execution arguments; the socket and operation id travel with the
  // operation's context.
  const groups = new SubscriptionGroups({
    format: formatResult,
    onExecution: (operation) => metrics.subscriptionExecutions.inc({ operation }),
    onDelivery: (operation, members) => metrics.subscriptionDeliveries.inc({ operation }, members),
    onGroupCount: (n) => metrics.subscriptionGroups.set(n),
  });
  const subscribers = new WeakMap<object, { key: GroupKey; member: Member }>();
  // Subscription ids per connection, so the gauge counts each one down exactly once.
  const subscriptionIds = new WeakMap<object, Set<string>>();
  const liveSubscriptions = (ctx: object) => {
    let ids = subscriptionIds.get(ctx);
    if (!ids) subscriptionIds.set(ctx, (ids = new Set()));
    return ids;
  };
  const allowedOrigins = deps.config.corsOrigins;
  const originAllowed = (origin: string | undefined) => origin === undefined || allowedOrigins.includes('*') || allowedOrigins.includes(origin);
  return useServer<Record<string, unknown> | undefined, { request: IncomingMessage; socket: WebSocket }>(
    {
      schema,
      connectionInitWaitTimeout: deps.config.wsInitTimeoutSeconds * 1000,
      // Executions are tracked so shutdown waits for them; a subscription counts until it is set up.
      execute: (args) => timed(args, () => execute(args)),
      subscribe: (args) =>
        timed(args, () => {
          const subscriber = subscribers.get(args.contextValue as object);
          if (!subscriber) return subscribe(args);
          subscribers.delete(args.contextValue as object);
          return groups.join(subscriber.key, args, subscriber.member);
        }),
      onConnect: async (ctx) => {
        // Browsers send Origin; native apps do not. A page from another origin may not ride
        // on a user's network position.
        if (!originAllowed(ctx.extra.request.headers.origin)) return false;
        let viewer: Viewer | null;
        try {
          viewer = await viewerFromToken(deps, ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization);
        } catch {
          // graphql-ws closes with 4403 Forbidden; the client refreshes its token and reconnects.
          return false;
        }
        if (viewer && (connectionsByUser.get(viewer.id) ?? 0) >= deps.config.wsMaxConnectionsPerUser) {
          ctx.extra.socket.close(4429, 'Too many connections for this user');
          return false;
        }
        const extra: WsExtra = { viewer, clientIp: clientIpOf(ctx.extra.request) };
        if (viewer) {
          connectionsByUser.set(viewer.id, (connectionsByUser.get(viewer.id) ?? 0) + 1);
          // The socket lives no longer than its token.
          const ms = viewer.tokenExpiresAt * 1000 - Date.now();
          extra.expiryTimer = setTimeout(() => ctx.extra.socket.close(CloseCode.Forbidden, 'Access token expired'), Math.max(ms, 0));
          extra.expiryTimer.unref();
        }
        ready.set(ctx, extra);
        metrics.wsConnections.inc();
        if (viewer) await inFlight.track(presence.connected(deps, viewer.id)).catch((err) => deps.logger.warn({ err }, 'presence update failed'));
        return true;
      },
      onClose: (ctx) => {
        const extra = ready.get(ctx);
        if (!extra) return;
        metrics.wsConnections.dec();
        clearTimeout(extra.expiryTimer);
        if (extra.viewer) {
          const left = (connectionsByUser.get(extra.viewer.id) ?? 1) - 1;
          if (left > 0) connectionsByUser.set(extra.viewer.id, left);
          else connectionsByUser.delete(extra.viewer.id);
        }
        // Tracked, so shutdown lets the offline notice go out before the pools close.
        if (extra?.viewer) {
          void inFlight.track(presence.disconnected(deps, extra.viewer.id)).catch((err) => deps.logger.warn({ err }, 'presence update failed'));
        }
      },
      // Parse and validate here so that a bad document is an error for that operation, not a
      // broken connection (graphql-ws closes the socket when parsing throws inside it).
      onSubscribe: async (ctx, id, payload) => {
        if (Object.keys(ctx.subscriptions).length > REQUEST_LIMITS.wsOperationsPerConnection) {
          return [new GraphQLError(`At most ${REQUEST_LIMITS.wsOperationsPerConnection} operations per connection`, { extensions: { code: 'RATE_LIMITED' } })];
        }
        const document = checkDocument(schema, payload.query);
        if (Array.isArray(document)) return [...document];
        const refused = introspectionErrors(deps.config.graphiql, schema, document as DocumentNode);
        if (refused.length) return [...refused];
        const operation = getOperationAST(document as DocumentNode, payload.operationName)?.operation;
        if (operation === 'mutation') {
          const extra = ready.get(ctx);
          try {
            await limitMutation(deps.rateLimiter, extra?.viewer?.id, extra?.clientIp ?? 'unknown');
          } catch (error) {
            if (error instanceof GraphQLError) return [error];
            throw error;
          }
        }
        if (operation === 'subscription') {
          liveSubscriptions(ctx).add(id);
          metrics.wsSubscriptions.inc();
        }
        return { schema, document: document as DocumentNode, operationName: payload.operationName, variableValues: payload.variables };
      },
      context: (ctx, id, payload) => {
        const extra = ready.get(ctx) ?? { viewer: null, clientIp: 'unknown' };
        const requestId = randomUUID();
        const context = createContext(deps, {
          viewer: extra.viewer,
          requestId,
          logger: deps.logger.child({ requestId, operationName: payload.operationName ?? undefined, transport: 'ws' }),
          clientIp: extra.clientIp,
        });
        const { socket } = ctx.extra;
        subscribers.set(context, {
          key: { query: payload.query, operationName: payload.operationName, variables: payload.variables, viewer: extra.viewer },
          member: { id, send: (frame) => socket.readyState === socket.OPEN && socket.send(frame) },
        });
        return context;
      },
      onNext: (_ctx, _id, _payload, args, result) => formatResult(result, args),
      // Called for every operation that ends: completed by either side, or its socket closed.
      onComplete: (ctx, id) => {
        if (liveSubscriptions(ctx).delete(id)) metrics.wsSubscriptions.dec();
      },
      onError: (_ctx, _id, _payload, errors) => {
        const scope = { requestId: randomUUID(), logger: deps.logger.child({ transport: 'ws' }), ...errorOptions };
        return errors.map((e) => formatError(e, scope)) as unknown as readonly GraphQLError[];
      },
    },
    wsServer,
    deps.config.wsKeepAliveSeconds * 1000,
  );
}
