// Errors with the contract's codes. Services throw these as plain errors: they know nothing of
// GraphQL. The transport (src/transport/errors.ts) maps them to GraphQL errors with
// extensions.code (and extensions.field for input errors) and the HTTP status. Anything else
// is unexpected and reaches clients masked as INTERNAL_SERVER_ERROR.

export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INTERNAL_SERVER_ERROR'
  | 'RESYNC_REQUIRED';

/** What an error may say beyond its code and message. */
export interface ErrorDetails {
  /** The input field at fault (extensions.field on the wire). */
  field?: string;
  /** When a rate-limited client may retry. */
  retryAfterSeconds?: number;
  /** The HTTP status of a response that carries this error (HTTP requests only). */
  httpStatus?: number;
  /** The same request may well succeed if sent again shortly (a dependency is down for now). */
  retryable?: boolean;
  /** A finer reason than the code, for clients that react to it (extensions.reason). */
  reason?: 'DEADLINE_EXCEEDED';
}

export class DomainError extends Error {
  readonly field?: string;
  readonly retryAfterSeconds?: number;
  readonly httpStatus?: number;
  readonly retryable?: boolean;
  readonly reason?: ErrorDetails['reason'];

  constructor(
    readonly code: ErrorCode,
    message: string,
    details: ErrorDetails = {},
  ) {
    super(message);
    this.name = 'DomainError';
    if (details.field !== undefined) this.field = details.field;
    if (details.retryAfterSeconds !== undefined) this.retryAfterSeconds = details.retryAfterSeconds;
    if (details.httpStatus !== undefined) this.httpStatus = details.httpStatus;
    if (details.retryable !== undefined) this.retryable = details.retryable;
    if (details.reason !== undefined) this.reason = details.reason;
  }
}

/** Options every factory takes: the input field the error is about. */
export interface ErrorOptions {
  field?: string;
}

export const badInput = (field: string, message: string) => new DomainError('BAD_USER_INPUT', message, { field });
export const notFound = (what: string, { field }: ErrorOptions = {}) =>
  new DomainError('NOT_FOUND', `${what} not found`, { field });
export const forbidden = (message = 'You are not allowed to do this', { field }: ErrorOptions = {}) =>
  new DomainError('FORBIDDEN', message, { field });
export const conflict = (message: string, { field }: ErrorOptions = {}) =>
  new DomainError('CONFLICT', message, { field });
export const unauthenticated = (message = 'Sign in first') => new DomainError('UNAUTHENTICATED', message);
/** A valid access token whose account has since been deleted. */
export const accountGone = () => unauthenticated('The account no longer exists');
export const rateLimited = (retryAfterSeconds: number) =>
  new DomainError('RATE_LIMITED', `Too many attempts; retry in ${retryAfterSeconds} s`, {
    retryAfterSeconds,
    httpStatus: 429,
  });

/**
 * A subscription's `after` names a change older than the history kept: the client queries
 * again, then subscribes without `after`.
 */
export const resyncRequired = () =>
  new DomainError(
    'RESYNC_REQUIRED',
    'That cursor is older than the history this server keeps; query again, then subscribe without `after`',
    { field: 'after' },
  );

/** RESYNC_REQUIRED for a live subscription that missed changes no longer kept (no cursor to blame). */
export const missedChanges = () =>
  new DomainError(
    'RESYNC_REQUIRED',
    'This subscription missed changes the server no longer keeps; query again, then subscribe again',
  );

/**
 * A dependency the request needs (the database) cannot answer now: the contract's
 * INTERNAL_SERVER_ERROR, marked retryable and answered with HTTP 503, so that clients retry
 * with backoff and load balancers see the instance struggling.
 */
export const unavailable = () =>
  new DomainError('INTERNAL_SERVER_ERROR', 'The service is temporarily unavailable; retry shortly', {
    retryable: true,
    httpStatus: 503,
  });

/**
 * A query ran past its execution deadline (OPERATION_TIMEOUT_MS). A server-side condition, not
 * a malformed request, so INTERNAL_SERVER_ERROR; the reason lets clients tell it from a fault.
 */
export const deadlineExceeded = () =>
  new DomainError('INTERNAL_SERVER_ERROR', 'The query did not finish within its time limit; ask for less at once', {
    reason: 'DEADLINE_EXCEEDED',
  });

/**
 * A unique-constraint violation, for turning races into CONFLICT: from a Prisma model query
 * (P2002), or from a raw query (P2010, with the driver adapter's cause).
 */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as {
    code?: string;
    meta?: { driverAdapterError?: { cause?: { originalCode?: string; kind?: string } } };
  } | null;
  if (typeof e !== 'object' || e === null) return false;
  // Prisma's code, or PostgreSQL's own SQLSTATE (a statement run on the pool: db.query).
  if (e.code === 'P2002' || e.code === '23505') return true;
  const cause = e.code === 'P2010' ? e.meta?.driverAdapterError?.cause : undefined;
  return cause?.kind === 'UniqueConstraintViolation' || cause?.originalCode === '23505';
}
