// The pub/sub codec: superjson's format, written without superjson's walk for plain payloads.
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { codec, encodePlain } from '../../src/pubsub/codec.ts';

const at = (iso: string) => new Date(iso);

/** Payloads of the shapes this API publishes: JSON with Dates in it. */
const plain: unknown[] = [
  { type: 'added', chatId: 'c1', messageId: 'm1', senderId: 'u1', seq: 7 },
  { rows: [{ id: 'x', position: 12, topics: ['a', 'b'], payload: '{"json":{"k":1}}' }] },
  { event: { id: 'e1', startsAt: at('2026-12-04T10:00:00.000Z'), tags: ['study'], host: null } },
  {
    sent: { body: 'hi', createdAt: at('2026-12-04T10:00:00.123Z'), attachments: [at('2026-01-01T00:00:00Z'), 'x'] },
  },
  { 'a.b': { 'c\\d': at('2026-12-04T00:00:00Z') }, '': at('2026-12-04T00:00:01Z') },
  [1, 'two', { three: [at('2026-12-04T00:00:02Z')] }],
  'a string',
  42,
  true,
  null,
  { nested: { deeper: { deepest: { n: -1.5, e: 1e21 } } } },
  Object.assign(Object.create(null) as object, { noPrototype: 1 }),
];

/** Payloads superjson has to write: the codec hands them over. */
const special: unknown[] = [
  { missing: undefined },
  { big: 10n },
  { nan: NaN, inf: Infinity, negZero: -0 },
  { map: new Map([['k', 1]]), set: new Set([1]) },
  { invalid: new Date(NaN) },
  at('2026-12-04T00:00:00Z'),
  { hole: [1, , 3] }, // eslint-disable-line no-sparse-arrays
  { re: /x/g },
  { error: new Error('boom') },
];

describe('pub/sub codec', () => {
  it('writes plain payloads, Dates included, byte for byte as superjson does, and reads them back', () => {
    for (const payload of plain) {
      const encoded = encodePlain(payload);
      expect(encoded).toBe(superjson.stringify(payload));
      expect(codec.encode(payload)).toBe(encoded);
      expect(codec.decode(encoded!)).toEqual(payload);
    }
  });

  it('leaves everything else to superjson, so it round-trips as before', () => {
    for (const payload of special) {
      expect(encodePlain(payload)).toBeUndefined();
      const encoded = codec.encode(payload);
      expect(encoded).toBe(superjson.stringify(payload));
      expect(codec.decode(encoded)).toEqual(superjson.parse(superjson.stringify(payload)));
    }
  });

  it('writes a payload with one object twice as two equal copies, and a cycle as superjson does', () => {
    const shared = { when: at('2026-12-04T00:00:00Z') };
    const decoded = codec.decode(codec.encode({ a: shared, b: shared })) as { a: unknown; b: unknown };
    expect(decoded.a).toEqual(shared);
    expect(decoded.b).toEqual(shared);
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle.self = cycle;
    expect(encodePlain(cycle)).toBeUndefined();
    expect(codec.encode(cycle)).toBe(superjson.stringify(cycle));
  });

  it('refuses the keys superjson refuses', () => {
    const polluted = JSON.parse('{"__proto__": {"admin": true}}') as unknown;
    expect(() => codec.encode(polluted)).toThrow(/prototype pollution/);
  });
});
