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
 * The instants a DateTime may name. PostgreSQL's timestamptz holds 4713 BC..294276 AD and a JS
 * Date ±8.64e15 ms (about 271821 BC..275760 AD), but neither writes every one of those back as
 * the same RFC 3339 text: years before 1 have no four-digit form (PostgreSQL has no year 0 and
 * refuses '0000-…'), years past 9999 need an expanded '+YYYYYY' form few clients parse, and
 * years below 100 are read as 19xx by some date libraries. Four-digit years from 1000 avoid all
 * of that with room to spare for anything an event app schedules or records.
 */
export const INSTANT_RANGE = {
  min: new Date('1000-01-01T00:00:00.000Z'),
  max: new Date('9999-12-31T23:59:59.999Z'),
} as const;

/** What an instant must look like, for messages and the DateTime description. */
export const INSTANT_FORMAT = `an RFC 3339 date-time with a time zone offset (e.g. 2026-05-01T18:00:00.000Z or 2026-05-01T20:00:00+02:00), from ${INSTANT_RANGE.min.toISOString()} to ${INSTANT_RANGE.max.toISOString()}`;

// RFC 3339's date-time (ISO 8601's extended format with a mandatory offset); fractions beyond
// milliseconds are accepted and truncated, as a JS Date holds no more.
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
const daysIn = (year: number, month: number) =>
  [31, isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;

/**
 * The instant a DateTime input names, or why it names none: the calendar is checked (no
 * 30 February, no hour 24), leap seconds (23:59:60) are refused because a JS Date cannot hold
 * them, and the instant (after its offset) must lie in INSTANT_RANGE.
 */
export function parseInstant(value: unknown): Date | { problem: string } {
  const problem = (why: string) => ({ problem: `Expected ${INSTANT_FORMAT}; ${why}` });
  if (typeof value !== 'string') return problem('it must be a string');
  const m = INSTANT.exec(value);
  if (!m) return problem('the text does not have that form');
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return problem('no such day');
  if (hour > 23 || minute > 59) return problem('no such time');
  if (second > 59) return problem('leap seconds cannot be represented');
  const offsetHours = m[8] ? 0 : Number(m[10]);
  const offsetMinutes = m[8] ? 0 : Number(m[11]);
  if (offsetHours > 23 || offsetMinutes > 59) return problem('no such offset');
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not read years below 100 as 19xx.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  const sign = m[9] === '-' ? -1 : 1;
  const instant = new Date(date.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000);
  if (instant < INSTANT_RANGE.min || instant > INSTANT_RANGE.max) return problem('the instant is out of range');
  return instant;
}

/** Escapes LIKE wildcards so a search for "%" means a percent sign (Prisma's contains does not). */
export const escapeLike = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);
