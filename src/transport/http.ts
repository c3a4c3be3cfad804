// Queries and mutations over HTTP: Apollo Server on express, applying the operation pipeline
// (./pipeline.ts) through Apollo's hooks. Uploads (multipart) and JSON bodies are parsed here.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
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
import { isRetryableError } from './errors.ts';
import type { OperationPipeline } from './pipeline.ts';
import { graphqlUploads } from './uploads.ts';

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
      return {
        async didResolveOperation({ operationName, operation }) {
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
        async willSendResponse({ operationName, operation, errors, response }) {
          recordTiming({ operation: operationName, type: operation?.operation });
          // A database that cannot answer now fails the request as retryable: 503, as a service
          // that is temporarily unavailable (a domain error says so itself, in its extensions).
          if (errors?.some(isRetryableError)) response.http.status = 503;
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
    context: async ({ req }) =>
      pipeline.context(
        { viewer: await pipeline.authenticate(req.headers.authorization), clientIp: clientIp(req) },
        { requestId: requestIdOf(req), logger: req.log },
      ),
  });

  const handlers: RequestHandler[] = [
    (req, _res, next) => requests.run({ requestId: requestIdOf(req), logger: req.log }, next),
    // Multipart (file upload) requests only; JSON ones pass through to express.json.
    graphqlUploads({ maxFileBytes: IMAGE_LIMITS.maxBytes, maxFieldBytes: opts.jsonBodyBytes }),
    express.json({ limit: opts.jsonBodyBytes }),
    // Refuses hostile document shapes before Apollo's validation spends CPU on them.
    (req, res, next) => {
      const body = req.body as { query?: unknown } | undefined;
      const refused = pipeline.checkShape(body?.query ?? req.query.query);
      if (!refused) return next();
      const scope = { requestId: requestIdOf(req), logger: req.log };
      res.status(400).json({ errors: [pipeline.formatError(refused, 'http', scope)] });
    },
    (req, res, next) => pipeline.inFlight.track(Promise.resolve(graphql(req, res, next))),
  ];
  return { apollo, handlers, errors: bodyErrors };
}

/** One error in GraphQL's response shape, for answers made before GraphQL runs. */
const errorBody = (message: string, extensions: Record<string, string>) => ({ errors: [{ message, extensions }] });

// Body-parser failures (oversized or malformed JSON) answered in GraphQL's error shape.
const bodyErrors: ErrorRequestHandler = (error, req, res, next) => {
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
