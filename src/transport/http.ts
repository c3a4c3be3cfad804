// Queries and mutations over HTTP: Apollo Server on express, applying the operation pipeline
// (./pipeline.ts) through Apollo's hooks. Uploads (multipart) and JSON bodies are parsed here.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Server } from 'node:http';
import { ApolloServer, HeaderMap } from '@apollo/server';
import type { ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import type { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import type { Context } from '../context.ts';
import { IMAGE_LIMITS } from '../services/images/index.ts';
import type { OperationPipeline } from './pipeline.ts';
import { isRetryableError, withDeadlineOnce } from './errors.ts';
import { graphqlUploads, refuse } from './uploads.ts';

export interface HttpOptions {
  httpServer: Server;
  /** Limit on JSON bodies (and multipart fields other than files). */
  jsonBodyBytes: number;
  /** Shared cache for automatic persisted queries (Redis); Apollo's in-memory one otherwise. */
  apqCache?: KeyValueCache<string>;
  /** Called when Apollo drains, after HTTP stopped accepting: closes the WebSocket side. */
  drain: () => Promise<void>;
}

export const clientIp = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';

/** The request id pino-http assigned (server.ts makes it a string: the client's X-Request-Id or a UUID). */
const requestIdOf = (req: Request) => req.id as string;

/** Apollo Server with the pipeline's rules, and the express handlers that serve /graphql with it. */
export async function createHttpHandler(pipeline: OperationPipeline, opts: HttpOptions) {
  // The request being served, for formatting errors outside resolvers (Apollo's formatError has no context).
  const requests = new AsyncLocalStorage<{ requestId: string; logger: Logger }>();
  const drainWebSockets: ApolloServerPlugin = {
    async serverWillStart() {
      return { drainServer: opts.drain };
    },
  };
  const operationSteps: ApolloServerPlugin<Context> = {
    async requestDidStart({ contextValue }) {
      const recordTiming = pipeline.timer('http');
      const startedAt = Date.now();
      let admitted = false;
      return {
        async didResolveOperation({ operationName, operation }) {
          admitted = true;
          pipeline.startDeadline(contextValue, operation?.operation, startedAt);
          contextValue.logger = contextValue.logger.child({ operationName: operationName ?? undefined });
          const refused = await pipeline.admit({
            transport: 'http',
            type: operation?.operation,
            operationName,
            viewer: contextValue.viewer,
            clientIp: contextValue.clientIp,
          });
          // Apollo answers an error thrown here with its extensions' HTTP status (429 for rate limits).
          if (refused.length) throw refused[0];
        },
        // A planned query (src/schema/planned.ts) answers here instead of Apollo's execution.
        async responseForOperation({ schema, document, request, operation }) {
          // No operation resolved (an operationName the document lacks): Apollo's execution refuses it.
          if (!operation) return null;
          const planned = pipeline.planned?.execute({
            schema,
            document,
            operationName: request.operationName,
            variableValues: request.variables,
            contextValue,
          });
          if (!planned) return null;
          const result = await planned;
          // Variables it refused: Apollo's execution refuses them too, and answers that its way (400).
          if (result.data === undefined) return null;
          const http = { status: undefined as number | undefined, headers: new HeaderMap() };
          if (!result.errors?.length) return { http, body: { kind: 'single', singleResult: { data: result.data } } };
          // The errors formatted as Apollo formats those of its execution (its hooks do not run for this answer).
          pipeline.locateInputErrors(document, request.variables, result.errors, schema);
          if (result.errors.some(isRetryableError)) http.status = 503;
          const errors = result.errors.map((e) => pipeline.formatError(e, 'http', requests.getStore()));
          return { http, body: { kind: 'single', singleResult: { data: result.data, errors } } };
        },
        // Input graphql-js refused gets its extensions.field (./input-fields.ts) before formatError.
        async didEncounterErrors({ schema, document, request, errors, operation }) {
          pipeline.locateInputErrors(document, request.variables, errors, schema);
          // A document refused before its operation was known (syntax, validation) still counts
          // as a query against the budget; this answer is already an error.
          // (Not a persisted query's first, hash-only request: the client sends the document next.)
          const persistedQueryMiss = errors.some((e) => e.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND');
          if (!operation && !admitted && !persistedQueryMiss) {
            await pipeline.chargeRefused({
              transport: 'http',
              viewer: contextValue.viewer,
              clientIp: contextValue.clientIp,
            });
          }
        },
        // Apollo sets `operation` only once the document parsed, validated and named an operation.
        async willSendResponse({ operation, errors, response }) {
          recordTiming(operation);
          // A database that cannot answer now fails the request as retryable: 503, as a service
          // that is temporarily unavailable (a domain error says so itself, in its extensions).
          if (errors?.some(isRetryableError)) response.http.status = 503;
          if (response.body.kind === 'single' && response.body.singleResult.errors) {
            response.body.singleResult.errors = withDeadlineOnce(response.body.singleResult.errors);
          }
        },
      };
    },
  };
  const apollo = new ApolloServer<Context>({
    schema: pipeline.schema,
    csrfPrevention: true,
    // main.ts owns signal handling and the order of shutdown.
    stopOnTerminationSignals: false,
    includeStacktraceInErrorResponses: false,
    // The pipeline's validation rules carry the introspection switch, for both transports.
    introspection: true,
    // Automatic persisted queries: clients send a hash instead of the document once it is known.
    persistedQueries: { cache: opts.apqCache, ttl: 24 * 3600 },
    parseOptions: pipeline.parseOptions,
    validationRules: [...pipeline.validationRules],
    // No "Did you mean …?" for probers in production.
    hideSchemaDetailsFromClientErrors: pipeline.deps.config.isProduction,
    formatError: (_formatted, error) => pipeline.formatError(error as GraphQLError, 'http', requests.getStore()),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer: opts.httpServer }),
      // Apollo's own landing page loads from a CDN; ours is GraphiQL (./graphiql.ts).
      ApolloServerPluginLandingPageDisabled(),
      // We send no cache hints; the default plugin would still run a hook on every field.
      ApolloServerPluginCacheControlDisabled(),
      drainWebSockets,
      operationSteps,
    ],
  });
  await apollo.start();
  const graphql = expressMiddleware(apollo, {
    context: async ({ req }) => {
      let viewer;
      try {
        viewer = await pipeline.authenticate(req.headers.authorization);
      } catch (error) {
        // Refused before any operation runs (401): it still counts as a query of the address.
        await pipeline.chargeRefused({ transport: 'http', viewer: null, clientIp: clientIp(req) });
        throw error;
      }
      return pipeline.context({ viewer, clientIp: clientIp(req) }, { requestId: requestIdOf(req), logger: req.log });
    },
  });

  const { config } = pipeline.deps;
  const handlers: RequestHandler[] = [
    (req, _res, next) => requests.run({ requestId: requestIdOf(req), logger: req.log }, next),
    // A caller that keeps sending after its query budget is spent (it has tried twice the budget
    // in the window) is refused before its body is read or parsed, whatever it sends, for the
    // rest of the window: a flood then costs what a 429 costs. The caller is the token's user
    // when the token verifies (signature and expiry only: no session read here), else the
    // address. Below that, a caller over its query budget may still sign up or in.
    (req, res, next) => {
      void (async () => {
        const claims = await pipeline.tokenClaims(req.headers.authorization);
        const ms = await pipeline.floodingFor({ userId: claims?.userId, clientIp: clientIp(req) });
        if (ms === null) return next();
        const seconds = Math.max(1, Math.ceil(ms / 1000));
        refuse(res, 429, 'RATE_LIMITED', `Too many attempts; retry in ${seconds} s`, seconds);
      })().catch(next);
    },
    // Multipart (file upload) requests only; JSON ones pass through to express.json.
    graphqlUploads({
      maxFileBytes: IMAGE_LIMITS.maxBytes,
      maxFieldBytes: opts.jsonBodyBytes,
      maxConcurrent: config.uploadsMaxConcurrent,
      maxConcurrentPerUser: config.uploadsMaxConcurrentPerUser,
      idleTimeoutMs: config.uploadIdleTimeoutSeconds * 1000,
      timeoutMs: config.uploadTimeoutSeconds * 1000,
      // The pipeline's own authentication; a bad token counts as its address here and is
      // refused by the pipeline when the operation runs, as on any request.
      uploaderOf: async (req) => {
        const viewer = await pipeline.authenticate(req.headers.authorization).catch(() => null);
        return viewer ? `user:${viewer.id}` : `ip:${clientIp(req)}`;
      },
    }),
    express.json({ limit: opts.jsonBodyBytes }),
    // Refuses hostile document shapes before Apollo's validation spends CPU on them; each
    // counts against the caller's query budget (RATE_LIMITED once it is spent).
    (req, res, next) => {
      const body = req.body as { query?: unknown } | undefined;
      const refused = pipeline.checkShape(body?.query ?? req.query.query);
      if (!refused) return next();
      const scope = { requestId: requestIdOf(req), logger: req.log };
      void (async () => {
        const viewer = await pipeline.authenticate(req.headers.authorization).catch(() => null);
        const [limited] = await pipeline.chargeRefused({ transport: 'http', viewer, clientIp: clientIp(req) });
        const error = limited ?? refused;
        res.status(limited ? 429 : 400).json({ errors: [pipeline.formatError(error, 'http', scope)] });
      })().catch(next);
    },
    (req, res, next) => pipeline.inFlight.track(Promise.resolve(graphql(req, res, next))),
  ];
  return { apollo, handlers, errors: bodyErrors };
}

/** One error in GraphQL's response shape, for answers made before GraphQL runs. */
const errorBody = (message: string, extensions: Record<string, string>) => ({ errors: [{ message, extensions }] });

// Body-parser failures (oversized or malformed JSON) answered in GraphQL's error shape.
const bodyErrors: ErrorRequestHandler = (error, req, res, next) => {
  // An upload that timed out was answered (408) while its operation still ran; when the
  // operation then fails to write its own answer, there is nothing left to do.
  if (res.writableEnded || res.destroyed) return void req.log.debug({ err: error }, 'response already over');
  if (res.headersSent) return next(error);
  const status = Number((error as { status?: number }).status) || 500;
  const type = (error as { type?: string }).type;
  if (type === 'entity.too.large') {
    res.status(413).json(errorBody('Request body too large', { code: 'PAYLOAD_TOO_LARGE' }));
  } else if (status >= 400 && status < 500) {
    res.status(400).json(errorBody('Malformed request body', { code: 'BAD_USER_INPUT' }));
  } else {
    req.log.error({ err: error }, 'unhandled HTTP error');
    res
      .status(500)
      .json(errorBody('Internal server error', { code: 'INTERNAL_SERVER_ERROR', requestId: requestIdOf(req) }));
  }
};
