// The one operation pipeline. HTTP (Apollo, ./http.ts) and WebSocket (graphql-ws, ./ws.ts)
// operations pass through the same steps, defined here once:
//
//   authenticate → parse and validate (query limits, introspection switch) → admit (policies:
//   rate limits) → context → execute (timed, tracked for shutdown) → format errors
//
// A transport only adapts these steps to its protocol's hooks. A new rule that every operation
// must obey is a validation rule or a policy below, and both transports apply it.
import { randomUUID } from 'node:crypto';
import { execute, GraphQLError, parse, specifiedRules, validate } from 'graphql';
import type {
  DocumentNode,
  ExecutionArgs,
  ExecutionResult,
  GraphQLFormattedError,
  GraphQLSchema,
  OperationDefinitionNode,
  ValidationRule,
} from 'graphql';
import type { Logger } from 'pino';
import { parseBearer, TokenError } from '../auth/tokens.ts';
import type { AccessClaims } from '../auth/tokens.ts';
import { createContext } from '../context.ts';
import type { AppDeps, Context, Viewer } from '../context.ts';
import { OPERATION_LABELS } from '../metrics/index.ts';
import { limitOperation } from '../ratelimit/index.ts';
import { DomainError } from '../lib/errors.ts';
import { formatError, requestError, toGraphQLError } from './errors.ts';
import { introspectionRules } from './graphiql.ts';
import { locateInputErrors } from './input-fields.ts';
import { checkShape, limitRules, parseOptions } from './limits.ts';

export type Transport = 'http' | 'ws';

/** An operation about to run: what every policy may look at. */
export interface OperationRequest {
  transport: Transport;
  type: 'query' | 'mutation' | 'subscription' | undefined;
  operationName: string | null | undefined;
  viewer: Viewer | null;
  clientIp: string;
}

/** A rule every operation passes before it executes, on either transport; it refuses by throwing. */
export type OperationPolicy = (operation: OperationRequest) => Promise<void> | void;

/**
 * Runs the queries it has a plan for (src/schema/planned.ts): their result, or null for an
 * operation that normal execution must run.
 */
export interface PlannedExecutor {
  execute(args: ExecutionArgs): Promise<ExecutionResult> | ExecutionResult | null;
}

/** Who is asking, as both transports learn it (HTTP per request, WebSocket per connection). */
export interface Caller {
  viewer: Viewer | null;
  clientIp: string;
}

/**
 * Operations still executing. A client that hangs up does not stop its operation, so shutdown
 * waits for this to empty (within a deadline) before the pools it uses are closed.
 */
export class InFlight {
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

/** Documents kept by their text, so a thousand map screens share one parse and validation. */
const DOCUMENTS_KEPT = 1000;
/**
 * Longer texts are not kept: comments and string literals cost no tokens, so a document under the
 * token limit can still be as large as a request body, and a thousand of those would be gigabytes.
 */
const KEPT_TEXT_MAX_CHARS = 20_000;

/** The entry for a text, made the most recently used. */
function recall<T>(map: Map<string, T>, text: string): T | undefined {
  const value = map.get(text);
  if (value !== undefined) {
    map.delete(text);
    map.set(text, value);
  }
  return value;
}

/** Keeps an entry for a text (unless it is too long), dropping the least recently used past DOCUMENTS_KEPT. */
function remember<T>(map: Map<string, T>, text: string, value: T): void {
  if (text.length > KEPT_TEXT_MAX_CHARS) return;
  map.set(text, value);
  if (map.size > DOCUMENTS_KEPT) map.delete(map.keys().next().value!);
}

/** Parses with the token limit; a syntax error as a GraphQL error. */
function parseQuery(query: string): DocumentNode | GraphQLError {
  try {
    return parse(query, parseOptions);
  } catch (error) {
    return error instanceof GraphQLError ? error : new GraphQLError('Malformed query');
  }
}

/**
 * The general rate limits per user (signed in) or per address (anonymous), across both
 * transports: one budget for mutations, one for queries and subscription starts.
 */
const limitOperations =
  (deps: AppDeps): OperationPolicy =>
  ({ type, viewer, clientIp }) =>
    limitOperation(deps.rateLimiter, type === 'mutation' ? 'mutation' : 'query', viewer?.id, clientIp);

/** Attempts, in query budgets, after which a caller is refused before its requests are read. */
export const FLOOD_TIMES = 2;

export class OperationPipeline {
  /** The parser's options (the token limit), for Apollo's own parse. */
  readonly parseOptions = parseOptions;
  /** Query limits, plus the introspection switch: one list for Apollo's validation and ours. */
  readonly validationRules: readonly ValidationRule[];
  /** Operations executing now, on either transport. */
  readonly inFlight = new InFlight();
  private readonly policies: readonly OperationPolicy[];
  private readonly documents = new Map<string, DocumentNode>();
  private readonly wellShaped = new Map<string, true>();

  constructor(
    readonly schema: GraphQLSchema,
    readonly deps: AppDeps,
    /** Queries run from a plan instead of graphql-js's field-by-field execution; none: all executed. */
    readonly planned: PlannedExecutor | null = null,
  ) {
    // Introspection follows the GraphiQL switch (GRAPHIQL): apps generate types from schema.graphql.
    this.validationRules = [...limitRules, ...introspectionRules(deps.config.graphiql)];
    this.policies = [limitOperations(deps)];
  }

  /**
   * The viewer named by an `Authorization: Bearer …` value; null when there is none. Refuses a
   * bad token, and one whose session has ended (HTTP 401); the role is the session's now, from
   * the per-instance session cache (no database read unless its entry is stale).
   */
  async authenticate(header: unknown): Promise<Viewer | null> {
    const token = parseBearer(header);
    if (token === undefined) return null;
    if (token === null) throw requestError('UNAUTHENTICATED', 'Authorization must be "Bearer <accessToken>"', 401);
    try {
      const claims = await this.deps.tokens.verify(token);
      const { role } = await this.deps.sessions.check(claims);
      return { id: claims.userId, role, sessionId: claims.sessionId, tokenExpiresAt: claims.expiresAt };
    } catch (error) {
      if (error instanceof TokenError) throw requestError('UNAUTHENTICATED', error.message, 401);
      if (error instanceof DomainError) {
        if (error.code === 'UNAUTHENTICATED') throw requestError('UNAUTHENTICATED', error.message, 401);
        throw toGraphQLError(error);
      }
      throw error;
    }
  }

  /**
   * How long (ms) the caller (the user when signed in, else the address) is shut out because it
   * kept sending after its query budget was spent (FLOOD_TIMES × the budget tried in the
   * window), or null: such a caller is refused before its requests are read or parsed.
   */
  floodingFor(caller: { userId?: string | null; clientIp: string }): Promise<number | null> {
    const limiter = this.deps.rateLimiter;
    return caller.userId
      ? limiter.exhaustedFor('queriesPerUser', caller.userId, FLOOD_TIMES)
      : limiter.exhaustedFor('queriesPerIp', caller.clientIp, FLOOD_TIMES);
  }

  /**
   * The claims of the `Authorization` header's token when it verifies (signature, expiry), or
   * null; never throws and reads no session: for deciding whose budget a request spends before
   * it is read.
   */
  async tokenClaims(header: unknown): Promise<AccessClaims | null> {
    const token = parseBearer(header);
    if (!token) return null;
    return this.deps.tokens.verify(token).catch(() => null);
  }

  /** Whether a viewer's session is still live (for connections that outlive a request); throws as authenticate does. */
  async recheck(viewer: Viewer): Promise<void> {
    try {
      await this.deps.sessions.check({ userId: viewer.id, sessionId: viewer.sessionId, role: viewer.role });
    } catch (error) {
      if (error instanceof DomainError) {
        if (error.code === 'UNAUTHENTICATED') throw requestError('UNAUTHENTICATED', error.message, 401);
        throw toGraphQLError(error);
      }
      throw error;
    }
  }

  /**
   * Parses and validates a document with every rule; errors instead of a document when it
   * fails. (Apollo does the same for HTTP with `parseOptions` and `validationRules`.)
   */
  prepare(query: string): DocumentNode | readonly GraphQLError[] {
    const known = recall(this.documents, query);
    if (known) return known;
    const document = parseQuery(query);
    if (document instanceof GraphQLError) return [document];
    const misshapen = checkShape(document);
    if (misshapen) return [misshapen];
    const errors = validate(this.schema, document, [...specifiedRules, ...this.validationRules]);
    if (errors.length) {
      this.locateInputErrors(document, undefined, errors);
      return errors;
    }
    remember(this.documents, query, document);
    return document;
  }

  /**
   * The shape check alone, for HTTP, where Apollo parses and validates itself: it must run
   * before Apollo's validation does. Syntax errors are left to Apollo's answer.
   */
  checkShape(query: unknown): GraphQLError | null {
    if (typeof query !== 'string' || recall(this.wellShaped, query)) return null;
    const document = parseQuery(query);
    if (document instanceof GraphQLError) return null;
    const misshapen = checkShape(document);
    if (!misshapen) remember(this.wellShaped, query, true);
    return misshapen;
  }

  /**
   * Names the input field of errors about input graphql-js refused (bad literals at validation,
   * bad variables at execution), for formatError's extensions.field.
   */
  locateInputErrors(
    document: DocumentNode | undefined,
    variables: Readonly<Record<string, unknown>> | null | undefined,
    errors: readonly GraphQLError[],
    schema: GraphQLSchema = this.schema,
  ): void {
    locateInputErrors(schema, document, variables, errors);
  }

  /**
   * Counts a document refused before its operation was known (syntax, shape, validation) as a
   * query against the caller's budget, so that sending refused documents is not free of it; the
   * budget's RATE_LIMITED error when it is spent, or none.
   */
  chargeRefused(caller: Pick<OperationRequest, 'transport' | 'viewer' | 'clientIp'>): Promise<readonly GraphQLError[]> {
    return this.admit({ ...caller, type: 'query', operationName: undefined });
  }

  /** Runs every policy; the errors of the first that refuses (as GraphQL errors, for either transport), or none. */
  async admit(operation: OperationRequest): Promise<readonly GraphQLError[]> {
    try {
      for (const policy of this.policies) await policy(operation);
      return [];
    } catch (error) {
      if (error instanceof DomainError) return [toGraphQLError(error)];
      if (error instanceof GraphQLError) return [error];
      throw error;
    }
  }

  /**
   * Starts a query's execution deadline (OPERATION_TIMEOUT_MS from `startedAt`). Only queries
   * have one: a mutation's effects are committed by its root field, so cutting its response
   * short would only hide them, and a subscription lives as long as its client wants.
   */
  startDeadline(context: Context, type: OperationRequest['type'], startedAt = Date.now()): void {
    context.deadline = type === 'query' ? startedAt + this.deps.config.operationTimeoutMs : Infinity;
  }

  /** Executes a query or mutation: from its plan when it has one, else field by field (graphql-js). */
  execute(args: ExecutionArgs): Promise<ExecutionResult> | ExecutionResult {
    return this.planned?.execute(args) ?? execute(args);
  }

  /** A fresh per-operation context (fresh loaders, so nothing cached outlives the operation). */
  context(caller: Caller, scope: { requestId: string; logger: Logger }): Context {
    return createContext(this.deps, { ...caller, ...scope });
  }

  /** A fresh request id and a logger that names it, for operations that arrive without one. */
  scope(transport: Transport, operationName?: string | null): { requestId: string; logger: Logger } {
    const requestId = randomUUID();
    return {
      requestId,
      logger: this.deps.logger.child({ requestId, operationName: operationName ?? undefined, transport }),
    };
  }

  /**
   * Starts timing an operation; the returned function records it with the operation that ran:
   * the one the document (parsed and validated) resolved to, or none when it did not get that
   * far. Only names of validated documents enter the bounded set of operation labels.
   */
  timer(transport: Transport): (operation: OperationDefinitionNode | null | undefined) => void {
    const { metrics } = this.deps;
    const stop = metrics.operationDuration.startTimer({ transport });
    return (operation) => {
      const type = operation?.operation ?? 'invalid';
      stop({ type });
      const name = operation ? metrics.operationNames.label(operation.name?.value) : OPERATION_LABELS.invalid;
      metrics.operations.inc({ operation: name, type, transport });
    };
  }

  /** Formats one error for the wire (contract codes; unexpected errors logged and masked), counting it. */
  formatError(error: GraphQLError, transport: Transport, scope = this.scope(transport)): GraphQLFormattedError {
    return formatError(error, {
      ...scope,
      hideSuggestions: this.deps.config.isProduction,
      onCode: (code) => this.deps.metrics.errors.inc({ code, transport }),
    });
  }
}
