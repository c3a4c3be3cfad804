// One error policy for HTTP and WebSocket operations: contract codes pass through, request
// problems become BAD_USER_INPUT, a database that cannot answer now becomes a retryable
// INTERNAL_SERVER_ERROR ("temporarily unavailable", HTTP 503), and anything else unexpected is
// logged in full and reaches the client masked as INTERNAL_SERVER_ERROR with the request id.
import { PothosValidationError } from '@pothos/core';
import { GraphQLError } from 'graphql';
import type { GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/faults.ts';
import { DomainError, unavailable } from '../lib/errors.ts';
import type { ErrorCode } from '../lib/errors.ts';
import { inputFieldOf } from './input-fields.ts';
import { withoutSuggestions } from './limits.ts';

/**
 * The wire form of a domain error: extensions.code, extensions.field and
 * extensions.retryAfterSeconds for the client, and extensions.http for Apollo, which takes the
 * response's HTTP status from it (and strips it) before formatError runs.
 */
export function domainErrorExtensions(error: DomainError): Record<string, unknown> {
  return {
    code: error.code,
    ...(error.field !== undefined && { field: error.field }),
    ...(error.retryAfterSeconds !== undefined && { retryAfterSeconds: error.retryAfterSeconds }),
    ...(error.retryable && { retryable: true }),
    ...(error.httpStatus !== undefined && { http: { status: error.httpStatus } }),
    ...(error.reason !== undefined && { reason: error.reason }),
  };
}

// Services throw plain DomainErrors. graphql-js (locatedError, for resolver errors), Apollo
// (ensureGraphQLError, for errors thrown by plugins) and graphql-ws wrap them in a GraphQLError
// whose extensions are copied from the original error's `extensions`; this accessor supplies
// them, so the code, the field and the HTTP 429 of RATE_LIMITED survive every path without
// the domain knowing about GraphQL.
Object.defineProperty(DomainError.prototype, 'extensions', {
  configurable: true,
  get(this: DomainError) {
    return domainErrorExtensions(this);
  },
});

/** A domain error as a GraphQLError, for code that must hand graphql-ws a GraphQLError. */
export const toGraphQLError = (error: DomainError) =>
  new GraphQLError(error.message, { originalError: error, extensions: domainErrorExtensions(error) });

const CONTRACT_CODES = new Set<string>([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'CONFLICT',
  'RATE_LIMITED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RESYNC_REQUIRED',
]);

// Apollo's and graphql-js's codes for a request that is wrong, not a server fault.
const REQUEST_ERROR_CODES = new Set<string>([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
]);

// Protocol codes Apollo's automatic persisted queries rely on; clients react to them.
const PROTOCOL_CODES = new Set<string>(['PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED']);

// Pothos rejects malformed connection arguments (a cursor that does not decode, a negative
// page size) before our resolvers run; those are the client's mistake.
const isConnectionArgError = (error: unknown) =>
  error instanceof PothosValidationError &&
  /^(Invalid cursor|Cursor must be|Argument "(first|last)")/.test(error.message);

// PostgreSQL's "this value cannot be that type" codes (malformed uuid, NUL byte, too long).
// Validation should catch these first; this is the net under it.
const INPUT_DATA_SQLSTATES = new Set(['22P02', '22021', '22P05', '22001']);
/** The SQLSTATE of a PostgreSQL error: through Prisma's driver adapter, or straight from pg (db.query). */
const sqlStateOf = (error: unknown): string | undefined => {
  const e = error as
    | { code?: unknown; severity?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: string } } } }
    | undefined;
  if (typeof e?.code === 'string' && typeof e.severity === 'string') return e.code;
  return e?.meta?.driverAdapterError?.cause?.originalCode;
};

/**
 * The retryable domain error an error stands for: one a service threw, or a database fault
 * (down, black-holed, failing over: src/db/faults.ts) met anywhere during the operation.
 */
function retryableOf(error: GraphQLError): DomainError | undefined {
  const original = error.originalError;
  if (original instanceof DomainError) return original.retryable ? original : undefined;
  return isDatabaseUnavailable(original) ? unavailable() : undefined;
}

/** True when the error says a dependency is down for now: HTTP answers it with 503 (./http.ts). */
export const isRetryableError = (error: GraphQLError) => retryableOf(error) !== undefined;

// Requests whose outage was logged already (by their logger, one per request or operation): one
// line per request, not one per failing field of a long list.
const outageLogged = new WeakSet<Logger>();

function codeOf(error: GraphQLError): string | undefined {
  const original = error.originalError;
  if (original instanceof DomainError) return original.code;
  if (isConnectionArgError(original)) return 'BAD_USER_INPUT';
  if (INPUT_DATA_SQLSTATES.has(sqlStateOf(original) ?? '')) return 'BAD_USER_INPUT';
  const code = error.extensions?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True when the error is a fault of ours rather than of the request. */
export function isInternalError(error: GraphQLError): boolean {
  // Raised on purpose, whatever its code: its message is meant for the client.
  if (error.originalError instanceof DomainError) return false;
  const code = codeOf(error);
  if (code === 'INTERNAL_SERVER_ERROR') return true;
  if (code && (CONTRACT_CODES.has(code) || REQUEST_ERROR_CODES.has(code) || PROTOCOL_CODES.has(code))) return false;
  // Errors raised before execution (syntax, unknown fields, variables of the wrong type) carry
  // no path and are about the request; a failure during execution always has one.
  return error.path !== undefined;
}

/** What of an error goes to the log: Prisma's messages embed query arguments (password hashes), so only their code and kind. */
function loggable(error: unknown) {
  const prismaCode = (error as { code?: unknown } | undefined)?.code;
  if (error instanceof Error && error.constructor.name.startsWith('PrismaClient')) {
    return {
      type: error.constructor.name,
      code: prismaCode,
      sqlState: sqlStateOf(error),
      stack: error.stack?.split('\n').slice(-6).join('\n'),
    };
  }
  return error;
}

/** An outage's cause in one line, without a stack for every request of the outage (nor Prisma's messages, which embed arguments). */
function briefly(error: unknown) {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (error.constructor.name.startsWith('PrismaClient')) return { type: error.constructor.name, code };
  return { type: error.name, code, message: error.message };
}

export interface ErrorScope {
  requestId: string;
  logger: Logger;
  /** Drop graphql-js's "Did you mean …?" hints (production). */
  hideSuggestions?: boolean;
  /** Told each error's code, for metrics. */
  onCode?: (code: string) => void;
}

/** Formats one error for the wire; logs the unexpected ones. */
export function formatError(error: GraphQLError, scope: ErrorScope | undefined): GraphQLFormattedError {
  const formatted = error.toJSON();
  const retryable = retryableOf(error);
  if (retryable) {
    scope?.onCode?.(retryable.code);
    if (scope && !outageLogged.has(scope.logger)) {
      outageLogged.add(scope.logger);
      const cause = error.originalError === retryable ? undefined : briefly(error.originalError);
      scope.logger.warn({ path: error.path, cause }, 'dependency unavailable; request failed as retryable');
    }
    const { http: _http, ...extensions } = domainErrorExtensions(retryable);
    return {
      message: retryable.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { ...extensions, requestId: scope?.requestId },
    };
  }
  const code = codeOf(error);
  if (!isInternalError(error)) {
    const original = error.originalError;
    const contractCode: string =
      original instanceof DomainError
        ? original.code
        : code && (CONTRACT_CODES.has(code) || PROTOCOL_CODES.has(code))
          ? code
          : ('BAD_USER_INPUT' satisfies ErrorCode);
    const {
      http: _http,
      stacktrace: _stack,
      ...extensions
    } = {
      ...formatted.extensions,
      ...(original instanceof DomainError && domainErrorExtensions(original)),
    } as Record<string, unknown>;
    scope?.onCode?.(contractCode);
    // Prisma's message for a value the database refused quotes our source code and the query.
    const refusedByDatabase =
      !(original instanceof DomainError) && INPUT_DATA_SQLSTATES.has(sqlStateOf(original) ?? '');
    const message = refusedByDatabase
      ? 'An input value is not valid'
      : scope?.hideSuggestions
        ? withoutSuggestions(formatted.message)
        : formatted.message;
    // Input graphql-js refused (a bad literal or variable) is named by the transport's locator.
    const field = contractCode === 'BAD_USER_INPUT' && extensions.field === undefined ? inputFieldOf(error) : undefined;
    return { ...formatted, message, extensions: { ...extensions, ...(field && { field }), code: contractCode } };
  }
  scope?.onCode?.('INTERNAL_SERVER_ERROR');
  scope?.logger.error({ err: loggable(error.originalError ?? error), path: error.path }, 'unexpected error');
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: 'INTERNAL_SERVER_ERROR' satisfies ErrorCode, requestId: scope?.requestId },
  };
}

/**
 * A result's errors with the deadline reported once: every field that starts after the deadline
 * fails with it, and the client needs to hear it once, not once per remaining field.
 */
export function withDeadlineOnce<E extends { extensions?: Record<string, unknown> }>(errors: readonly E[]): E[] {
  let seen = false;
  return errors.filter((error) => {
    if (error.extensions?.reason !== 'DEADLINE_EXCEEDED') return true;
    if (seen) return false;
    return (seen = true);
  });
}

/** An error raised outside execution (bad token, oversized body) with an HTTP status. */
export function requestError(code: ErrorCode, message: string, status: number): GraphQLError {
  return new GraphQLError(message, { extensions: { code, http: { status } } });
}
