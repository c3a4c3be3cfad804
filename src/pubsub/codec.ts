import superjson from 'superjson';

/**
 * The wire codec of pub/sub and the change log, so Dates etc. survive the round trip
 * identically in memory and Redis modes: superjson's format.
 *
 * What this API publishes is plain JSON with, at most, Dates in it. For such payloads one walk
 * notes where the Dates are and JSON.stringify writes the rest: the same text as
 * superjson.stringify, without its per-value path arrays (~6% of a receiving instance's CPU in
 * the chat benchmark). Anything else (undefined, Map, BigInt, class instances, NaN, cycles, a
 * Date at the top, keys superjson refuses) is left to superjson. Two references to one object
 * are written twice, not as superjson's referential equality: decoded, they are equal copies.
 */
export const codec = {
  encode: (payload: unknown): string => encodePlain(payload) ?? superjson.stringify(payload),
  decode: (message: string): unknown => superjson.parse(message),
};

/** Deeper payloads go to superjson (they are not ours, or they are cycles). */
const MAX_DEPTH = 32;

/** superjson's encoding of a plain payload, or undefined when it is not one (superjson's then). */
export function encodePlain(payload: unknown): string | undefined {
  if (payload instanceof Date) return undefined;
  const dates: string[] = [];
  if (!isPlain(payload, [], dates)) return undefined;
  const json = JSON.stringify(payload);
  if (!dates.length) return `{"json":${json}}`;
  const values: Record<string, ['Date']> = {};
  for (const path of dates) values[path] = ['Date'];
  return `{"json":${json},"meta":{"values":${JSON.stringify(values)},"v":1}}`;
}

/**
 * Whether JSON.stringify keeps the value as superjson would, noting each valid Date's path in
 * superjson's notation (keys joined by dots, dots and backslashes in keys escaped).
 */
function isPlain(value: unknown, path: Array<string | number>, dates: string[]): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (path.length > MAX_DEPTH) return false;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return false;
    dates.push(path.map((key) => String(key).replace(/\\/g, '\\\\').replace(/\./g, '\\.')).join('.'));
    return true;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return false;
      path.push(i);
      const plain = isPlain(value[i], path, dates);
      path.pop();
      if (!plain) return false;
    }
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') return false;
    path.push(key);
    const plain = isPlain(record[key], path, dates);
    path.pop();
    if (!plain) return false;
  }
  return true;
}
