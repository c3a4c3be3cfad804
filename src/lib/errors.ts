// Errors with the contract's codes. Services throw these; the server turns them into
// GraphQL errors with extensions.code (and extensions.field for input errors). Anything
// else is unexpected and reaches clients masked as INTERNAL_SERVER_ERROR.
import { GraphQLError } from 'graphql';

export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INTERNAL_SERVER_ERROR';

export class DomainError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    extra: { field?: string; retryAfterSeconds?: number; http?: { status: number } } = {},
  ) {
    super(message, { extensions: { code, ...extra } });
    this.name = 'DomainError';
  }
}

export const badInput = (field: string, message: string) => new DomainError('BAD_USER_INPUT', message, { field });
export const notFound = (what: string) => new DomainError('NOT_FOUND', `${what} not found`);
export const forbidden = (message = 'You are not allowed to do this') => new DomainError('FORBIDDEN', message);
export const conflict = (message: string, field?: string) => new DomainError('CONFLICT', message, field ? { field } : {});
export const unauthenticated = (message = 'Sign in first') => new DomainError('UNAUTHENTICATED', message);
export const rateLimited = (retryAfterSeconds: number) =>
  new DomainError('RATE_LIMITED', `Too many attempts; retry in ${retryAfterSeconds} s`, { retryAfterSeconds, http: { status: 429 } });

/**
 * A unique-constraint violation, for turning races into CONFLICT: from a Prisma model query
 * (P2002), or from a raw query (P2010, with the driver adapter's cause).
 */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; meta?: { driverAdapterError?: { cause?: { originalCode?: string; kind?: string } } } } | null;
  if (typeof e !== 'object' || e === null) return false;
  if (e.code === 'P2002') return true;
  const cause = e.code === 'P2010' ? e.meta?.driverAdapterError?.cause : undefined;
  return cause?.kind === 'UniqueConstraintViolation' || cause?.originalCode === '23505';
}
