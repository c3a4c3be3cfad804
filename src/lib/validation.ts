// Input checks shared by every domain. Each failure is BAD_USER_INPUT naming the field.
import { badInput } from './errors.ts';

// C0 control characters other than tab, newline and carriage return (PostgreSQL rejects NUL
// outright; the rest are never meant).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/** True when the text holds characters no input field accepts. */
export const hasControlCharacters = (value: string) => CONTROL.test(value);

/** Trims and bounds a text input; `min` 0 allows empty. */
export function text(field: string, value: string, { min = 0, max }: { min?: number; max: number }): string {
  if (hasControlCharacters(value)) throw badInput(field, `${field} contains control characters`);
  const trimmed = value.trim();
  if (trimmed.length < min)
    throw badInput(field, min <= 1 ? `${field} must not be empty` : `${field} must be at least ${min} characters`);
  if (trimmed.length > max) throw badInput(field, `${field} must be at most ${max} characters`);
  return trimmed;
}

/** Tags are trimmed, lower-cased and de-duplicated, keeping first-seen order. */
export function normalizeTags(
  field: string,
  tags: readonly string[],
  { maxItems = 30, maxLength = 50 } = {},
): string[] {
  const seen = new Set<string>();
  for (const raw of tags) {
    if (hasControlCharacters(raw)) throw badInput(field, `${field} contains control characters`);
    const tag = raw.trim().toLowerCase().replace(/\s+/g, ' ');
    if (!tag) continue;
    if (tag.length > maxLength) throw badInput(field, `each of ${field} must be at most ${maxLength} characters`);
    seen.add(tag);
  }
  if (seen.size > maxItems) throw badInput(field, `${field} may hold at most ${maxItems} items`);
  return [...seen];
}

export function latitude(field: string, value: number): number {
  if (!Number.isFinite(value) || value < -90 || value > 90)
    throw badInput(field, `${field} must be between -90 and 90`);
  return value;
}

export function longitude(field: string, value: number): number {
  if (!Number.isFinite(value) || value < -180 || value > 180)
    throw badInput(field, `${field} must be between -180 and 180`);
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a well-formed UUID: anything else cannot name a row, so callers answer NOT_FOUND without a query. */
export const isUuid = (value: string) => UUID.test(value);

/**
 * Rejects page sizes outside 0..max (rather than silently clamping them) and, unless the list
 * checks its own, cursors that did not come from us: Pothos' id cursors are base64 of `GPC:S:<uuid>`, compound ones of
 * `GPC:T:["S:<uuid>", "N:<seq>", ...]`.
 */
export function checkPageArgs(
  args: { first?: number | null; last?: number | null; after?: string | null; before?: string | null },
  max: number,
  { cursors = true }: { cursors?: boolean } = {},
): void {
  for (const field of ['first', 'last'] as const) {
    const value = args[field];
    if (value !== null && value !== undefined && (value < 0 || value > max)) {
      throw badInput(field, `${field} must be between 0 and ${max}`);
    }
  }
  if (!cursors) return;
  for (const field of ['after', 'before'] as const) {
    const cursor = args[field];
    if (cursor !== null && cursor !== undefined && !isOurCursor(cursor))
      throw badInput(field, `${field} is not a cursor from this list`);
  }
}

function isOurCursor(cursor: string): boolean {
  if (cursor.length > 400) return false;
  const decoded = Buffer.from(cursor, 'base64').toString('utf8');
  if (decoded.startsWith('GPC:S:')) return isUuid(decoded.slice(6));
  if (!decoded.startsWith('GPC:T:')) return false;
  try {
    const parts = JSON.parse(decoded.slice(6)) as unknown;
    return (
      Array.isArray(parts) &&
      parts.length > 0 &&
      parts.every(
        (p) => typeof p === 'string' && ((p.startsWith('S:') && isUuid(p.slice(2))) || /^N:\d{1,10}$/.test(p)),
      )
    );
  } catch {
    return false;
  }
}

/** Escapes LIKE wildcards so a search for "%" means a percent sign (Prisma's contains does not). */
export const escapeLike = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);
