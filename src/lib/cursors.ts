// The one cursor decoder. Clients treat cursors as opaque, so anything may come back: a cursor
// of another list, a forged one, or one built from values PostgreSQL cannot take (a sequence
// number past int4, a date in year 0). Every part is checked against the list's shape before a
// query sees it, and a bad cursor is BAD_USER_INPUT naming `after` or `before`.
//
// Two formats exist. Our own keyset cursors (the map lists) are base64url JSON of the list's
// name and the values: `["bounds", "2026-05-01T18:00:00.000Z", "<uuid>"]`, so that one list's
// cursor is refused by another. Pothos' Prisma cursors are base64 of `GPC:S:<uuid>` (one column)
// or `GPC:T:["S:<uuid>","N:<seq>"]` (a compound unique); Pothos writes them, so they carry no
// list name, but their parts are checked the same way (a cursor of another list with the same
// shape is only a position: the list's own filter still applies).
import { badInput } from './errors.ts';
import { isUuid, parseInstant } from './validation.ts';

/**
 * What one part of a cursor holds. `int` is a PostgreSQL integer (int4), as sequence numbers
 * are; `serial` a bigserial id (up to 2^53, what a JavaScript number holds exactly).
 */
export type CursorPart = 'uuid' | 'int' | 'serial' | 'float' | 'instant';

export interface CursorShape {
  /** Our own cursors' list name; absent for Pothos' Prisma cursors. */
  readonly list?: string;
  readonly parts: readonly CursorPart[];
}

export type CursorValue = string | number | Date;

/** Longer texts are not cursors of ours (the longest, a compound of two UUIDs, is about 120). */
const MAX_CURSOR_LENGTH = 400;
const INT4_MAX = 2_147_483_647;

/** A cursor of one of our own lists. */
export const encodeCursor = (list: string, values: readonly CursorValue[]) =>
  Buffer.from(JSON.stringify([list, ...values.map((v) => (v instanceof Date ? v.toISOString() : v))])).toString(
    'base64url',
  );

/** One part as our own cursors hold it (JSON values), or undefined when it is not one. */
function ownPart(part: CursorPart, value: unknown): CursorValue | undefined {
  switch (part) {
    case 'uuid':
      return typeof value === 'string' && isUuid(value) ? value : undefined;
    case 'int':
      return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= INT4_MAX
        ? (value as number)
        : undefined;
    case 'serial':
      return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : undefined;
    case 'float':
      return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
    case 'instant': {
      const instant = parseInstant(value);
      return instant instanceof Date ? instant : undefined;
    }
  }
}

/** One part as Pothos writes it (a tagged chunk: `S:text`, `N:number`, `D:epoch-ms`). */
function pothosPart(part: CursorPart, chunk: unknown): CursorValue | undefined {
  if (typeof chunk !== 'string') return undefined;
  const tag = chunk.slice(0, 2);
  const payload = chunk.slice(2);
  switch (part) {
    case 'uuid':
      return tag === 'S:' && isUuid(payload) ? payload : undefined;
    case 'int':
    case 'serial':
    case 'float':
      return tag === 'N:' && /^-?\d+(\.\d+)?$/.test(payload) ? ownPart(part, Number(payload)) : undefined;
    case 'instant':
      return tag === 'D:' && /^-?\d{1,16}$/.test(payload)
        ? ownPart(part, new Date(Number(payload)).toISOString())
        : undefined;
  }
}

function decodeParts(cursor: string, shape: CursorShape): CursorValue[] | undefined {
  if (cursor.length > MAX_CURSOR_LENGTH) return undefined;
  if (shape.list !== undefined) {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(value) || value.length !== shape.parts.length + 1 || value[0] !== shape.list) return undefined;
    const parts = shape.parts.map((part, i) => ownPart(part, value[i + 1]));
    return parts.every((p) => p !== undefined) ? parts : undefined;
  }
  const text = Buffer.from(cursor, 'base64').toString('utf8');
  if (!text.startsWith('GPC:')) return undefined;
  const chunk = text.slice(4);
  // A single-column cursor is one chunk; a compound one a `T:` array of exactly as many chunks.
  const chunks: unknown =
    shape.parts.length === 1 ? [chunk] : chunk.startsWith('T:') ? JSON.parse(chunk.slice(2)) : null;
  if (!Array.isArray(chunks) || chunks.length !== shape.parts.length) return undefined;
  const parts = shape.parts.map((part, i) => pothosPart(part, chunks[i]));
  return parts.every((p) => p !== undefined) ? parts : undefined;
}

/** The values of a cursor of the list with this shape; BAD_USER_INPUT on `field` for anything else. */
export function decodeCursor(field: 'after' | 'before', cursor: string, shape: CursorShape): CursorValue[] {
  let parts: CursorValue[] | undefined;
  try {
    parts = decodeParts(cursor, shape);
  } catch {
    // Malformed JSON: not ours either.
  }
  if (!parts) throw badInput(field, `${field} is not a cursor from this list`);
  return parts;
}

/**
 * Rejects page sizes outside 0..max (rather than silently clamping them) and cursors that do
 * not have the list's shape. A list that checks its own cursors passes no shape.
 */
export function checkPageArgs(
  args: { first?: number | null; last?: number | null; after?: string | null; before?: string | null },
  max: number,
  cursor: CursorShape | null,
): void {
  for (const field of ['first', 'last'] as const) {
    const value = args[field];
    if (value !== null && value !== undefined && (value < 0 || value > max)) {
      throw badInput(field, `${field} must be between 0 and ${max}`);
    }
  }
  if (!cursor) return;
  for (const field of ['after', 'before'] as const) {
    const value = args[field];
    if (value !== null && value !== undefined) decodeCursor(field, value, cursor);
  }
}
