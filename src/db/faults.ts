// Telling "the database cannot answer now" (down, black-holed, failing over, overloaded) from
// every other failure, so that the transport can say "temporarily unavailable, retry" instead of
// masking it as a bug. The errors come in three shapes: pg's and pg-pool's own (timeouts, broken
// sockets; Prisma passes them through), PostgreSQL's (a SQLSTATE), and Prisma's (a P-code, or a
// driver adapter error of a known kind).
import pg from 'pg';

/** Set by the pool (./pool.ts) on the errors of a connection that failed below PostgreSQL. */
const LINK_FAILURE = Symbol.for('pinit.db.linkFailure');

/** Marks an error as a connection failure (timeout, socket), whatever its message. */
export function markLinkFailure(error: unknown): void {
  if (typeof error === 'object' && error !== null && Object.isExtensible(error)) {
    (error as Record<symbol, boolean>)[LINK_FAILURE] = true;
  }
}

// Prisma: P1001 cannot reach, P1002 timed out reaching, P1008 operation timed out, P1017 server
// closed the connection, P2024 no connection from the pool in time, P2028 transaction API error
// (no connection to start one within maxWait, or it outlived its timeout).
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028']);
// @prisma/adapter-pg's kinds for socket errors and a full server.
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
// SQLSTATE: 08 connection exceptions, 53300 too many connections, 57014 statement cancelled (our
// statement_timeout), 57P01–57P03 shutdown or not yet accepting connections (a failover).
const SQLSTATE = /^(08...|53300|57014|57P0[123])$/;
// pg's and pg-pool's messages for a connection that failed or never came.
const LINK_MESSAGES =
  /^(Query read timeout|timeout exceeded when trying to connect|Connection terminated|Client has encountered a connection error)/;

interface Inspectable {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  meta?: { driverAdapterError?: { cause?: { kind?: unknown; originalCode?: unknown; code?: unknown } } };
  [LINK_FAILURE]?: boolean;
}

function isFault(error: Inspectable): boolean {
  if (error[LINK_FAILURE]) return true;
  const code = typeof error.code === 'string' ? error.code : '';
  if (error instanceof pg.DatabaseError) return SQLSTATE.test(code);
  if (PRISMA_CODES.has(code)) return true;
  const cause = error.meta?.driverAdapterError?.cause;
  if (cause) {
    if (typeof cause.kind === 'string' && ADAPTER_KINDS.has(cause.kind)) return true;
    const sqlState = cause.originalCode ?? cause.code;
    if (typeof sqlState === 'string' && SQLSTATE.test(sqlState)) return true;
  }
  return typeof error.message === 'string' && LINK_MESSAGES.test(error.message);
}

/** True when the error (or one it was caused by) says the database cannot answer now. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth += 1) {
    if (isFault(e as Inspectable)) return true;
    e = (e as Inspectable).cause;
  }
  return false;
}
