import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';
import { createMemoryPubSub, createPubSub, createRedisPubSub, type PubSub } from '../../src/pubsub/index.ts';
import { createPushIterator } from '../../src/pubsub/iterator.ts';

const redisUrl = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL;
const logger = pino({ level: 'silent' });

const topicName = (label: string): string => `test:${label}:${randomUUID()}`;

/** next() that fails the test instead of hanging it. */
async function nextWithin<T>(iterator: AsyncIterator<T>, ms = 2000): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no message within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([iterator.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function nextValue<T>(iterator: AsyncIterator<T>): Promise<T> {
  const result = await nextWithin(iterator);
  expect(result.done).toBe(false);
  return result.value as T;
}

const implementations: Array<[string, () => PubSub]> = [['memory', () => createMemoryPubSub(logger)]];
if (redisUrl) implementations.push(['redis', () => createRedisPubSub(redisUrl, logger)]);

describe.each(implementations)('%s pub/sub', (_name, make) => {
  let pubsub: PubSub;

  beforeEach(() => {
    pubsub = make();
  });
  afterEach(async () => {
    await pubsub.close();
  });

  /** Subscribes and waits until the subscription is in effect (ping is ordered after SUBSCRIBE on Redis). */
  async function subscribed<T>(topic: string, signal?: AbortSignal): Promise<AsyncIterableIterator<T>> {
    const iterator = pubsub.subscribe<T>(topic, signal);
    await pubsub.ping();
    return iterator;
  }

  it('delivers every message, in order, to every subscriber', async () => {
    const topic = topicName('fanout');
    const a = await subscribed<{ n: number }>(topic);
    const b = await subscribed<{ n: number }>(topic);
    for (const n of [1, 2, 3]) await pubsub.publish(topic, { n });
    for (const iterator of [a, b]) {
      expect([await nextValue(iterator), await nextValue(iterator), await nextValue(iterator)]).toEqual([
        { n: 1 },
        { n: 2 },
        { n: 3 },
      ]);
    }
    await a.return?.();
    await b.return?.();
  });

  it('keeps Dates (and other superjson types) across the round trip', async () => {
    const topic = topicName('dates');
    const iterator = await subscribed<{ at: Date; ids: Set<string>; big: bigint }>(topic);
    const at = new Date('2024-05-01T12:34:56.789Z');
    await pubsub.publish(topic, { at, ids: new Set(['a']), big: 10n });
    const received = await nextValue(iterator);
    expect(received.at).toBeInstanceOf(Date);
    expect(received.at.toISOString()).toBe(at.toISOString());
    expect(received.ids).toEqual(new Set(['a']));
    expect(received.big).toBe(10n);
    await iterator.return?.();
  });

  it('gives each subscriber its own copy of the payload', async () => {
    const topic = topicName('copies');
    const payload = { tags: ['x'] };
    const a = await subscribed<{ tags: string[] }>(topic);
    const b = await subscribed<{ tags: string[] }>(topic);
    await pubsub.publish(topic, payload);
    const fromA = await nextValue(a);
    fromA.tags.push('mutated');
    expect(await nextValue(b)).toEqual({ tags: ['x'] });
    expect(fromA).not.toBe(payload);
    expect(payload.tags).toEqual(['x']);
    await a.return?.();
    await b.return?.();
  });

  it('isolates topics', async () => {
    const topicA = topicName('iso-a');
    const topicB = topicName('iso-b');
    const a = await subscribed<string>(topicA);
    await pubsub.publish(topicB, 'for b');
    await pubsub.publish(topicA, 'for a');
    expect(await nextValue(a)).toBe('for a');
    await a.return?.();
  });

  it('unsubscribes on return() and keeps serving the other subscribers', async () => {
    const topic = topicName('return');
    const leaving = await subscribed<number>(topic);
    const staying = await subscribed<number>(topic);
    const pending = leaving.next();
    await expect(leaving.return?.()).resolves.toEqual({ done: true, value: undefined });
    await expect(pending).resolves.toEqual({ done: true, value: undefined });
    await pubsub.publish(topic, 1);
    expect(await nextValue(staying)).toBe(1);
    await expect(leaving.next()).resolves.toEqual({ done: true, value: undefined });
    await staying.return?.();
  });

  it('ends the iterator when its AbortSignal fires', async () => {
    const topic = topicName('abort');
    const controller = new AbortController();
    const iterator = await subscribed<number>(topic, controller.signal);
    const pending = iterator.next();
    controller.abort();
    await expect(pending).resolves.toEqual({ done: true, value: undefined });

    const alreadyAborted = pubsub.subscribe(topic, AbortSignal.abort());
    await expect(alreadyAborted.next()).resolves.toEqual({ done: true, value: undefined });
  });

  it('finishes pending iterators on close()', async () => {
    const iterator = await subscribed<number>(topicName('close'));
    const pending = iterator.next();
    await pubsub.close();
    await expect(nextWithin({ next: () => pending })).resolves.toEqual({ done: true, value: undefined });
    await expect(pubsub.subscribe('any').next()).resolves.toEqual({ done: true, value: undefined });
    await expect(pubsub.publish('any', 1)).resolves.toBeUndefined();
  });

  it('does not throw when the payload cannot be encoded', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(pubsub.publish(topicName('cyclic'), { f: () => 1, cyclic })).resolves.toBeUndefined();
  });
});

describe.skipIf(!redisUrl)('redis pub/sub across instances and failures', () => {
  const url = redisUrl ?? '';
  let admin: Redis;
  const opened: PubSub[] = [];
  const open = (name?: string): PubSub => {
    const pubsub = createRedisPubSub(url, logger, { name });
    opened.push(pubsub);
    return pubsub;
  };
  const subscriberCount = async (topic: string): Promise<number> => {
    const [, count] = (await admin.pubsub('NUMSUB', topic)) as [string, number];
    return Number(count);
  };

  beforeAll(() => {
    admin = new Redis(url);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((pubsub) => pubsub.close()));
  });
  afterAll(async () => {
    await admin.quit();
  });

  it('lets two instances see each other’s messages', async () => {
    const one = open();
    const two = open();
    const topic = topicName('instances');
    const onOne = one.subscribe<{ from: string }>(topic);
    const onTwo = two.subscribe<{ from: string }>(topic);
    await Promise.all([one.ping(), two.ping()]);
    await one.publish(topic, { from: 'one' });
    await two.publish(topic, { from: 'two' });
    for (const iterator of [onOne, onTwo]) {
      expect([await nextValue(iterator), await nextValue(iterator)]).toEqual([{ from: 'one' }, { from: 'two' }]);
    }
  });

  it('subscribes once per topic and unsubscribes with the last local subscriber', async () => {
    const pubsub = open();
    const topic = topicName('refcount');
    const a = pubsub.subscribe(topic);
    const b = pubsub.subscribe(topic);
    await pubsub.ping();
    expect(await subscriberCount(topic)).toBe(1);
    await a.return?.();
    await pubsub.ping();
    expect(await subscriberCount(topic)).toBe(1);
    await b.return?.();
    await pubsub.ping();
    expect(await subscriberCount(topic)).toBe(0);
  });

  it('resubscribes after its connections are killed', async () => {
    const name = `pinit-test-${randomUUID()}`;
    const pubsub = open(name);
    const topic = topicName('reconnect');
    const iterator = pubsub.subscribe<number>(topic);
    await pubsub.ping();

    const clients = String(await admin.client('LIST'));
    const ids = [...clients.matchAll(/id=(\d+) .*?name=(\S+)/g)]
      .filter(([, , clientName]) => clientName.startsWith(`${name}:`))
      .map(([, id]) => id);
    expect(ids).toHaveLength(2);
    for (const id of ids) await admin.client('KILL', 'ID', id);
    expect(await subscriberCount(topic)).toBe(0);

    await eventually(async () => (await subscriberCount(topic)) === 1);
    await eventually(async () => {
      await pubsub.ping();
      return true;
    });
    await pubsub.publish(topic, 42);
    expect(await nextValue(iterator)).toBe(42);
  });

  it('keeps publish and ping fast while Redis is down, and resumes subscriptions when it is back', async () => {
    const proxy = TcpProxy.for(url, 6379);
    await proxy.start();
    try {
      const direct = open();
      const proxied = createRedisPubSub(`redis://127.0.0.1:${proxy.port}`, logger);
      opened.push(proxied);
      const topic = topicName('outage');
      const iterator = proxied.subscribe<string>(topic);
      await proxied.ping();

      await proxy.stop();
      // Wait until the client has noticed the dropped connections.
      await eventually(() =>
        proxied.ping().then(
          () => false,
          () => true,
        ),
      );
      let started = Date.now();
      await expect(proxied.ping()).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(1500);
      started = Date.now();
      await expect(proxied.publish(topic, 'lost while down')).resolves.toBeUndefined();
      expect(Date.now() - started).toBeLessThan(200);

      await proxy.start();
      await eventually(async () => {
        await proxied.ping();
        return (await subscriberCount(topic)) === 1;
      });
      await direct.publish(topic, 'after recovery');
      // The message published during the outage is lost, not replayed late.
      expect(await nextValue(iterator)).toBe('after recovery');
    } finally {
      await proxy.stop();
    }
  });

  it('bounds publish and ping when Redis stops answering on an open connection', async () => {
    const proxy = TcpProxy.for(url, 6379);
    await proxy.start();
    try {
      const proxied = createRedisPubSub(`redis://127.0.0.1:${proxy.port}`, logger);
      opened.push(proxied);
      await proxied.ping();
      await eventually(() => proxied.listeningSince() !== null, { what: 'the subscriber listening' });
      proxy.mode = 'blackhole';
      const silent = Date.now();
      // The open connection still looks ready, but delivery is no longer vouched for (the
      // session cache fails closed on this), within the heartbeat's 1.5 s of silence.
      await eventually(() => proxied.listeningSince() === null, {
        timeoutMs: 2_000,
        intervalMs: 20,
        what: 'listeningSince to turn null',
      });

      let started = Date.now();
      await expect(proxied.ping()).rejects.toThrow(/timed out/);
      expect(Date.now() - started).toBeLessThan(1500);
      started = Date.now();
      await expect(proxied.publish(topicName('blackhole'), 1)).resolves.toBeUndefined();
      expect(Date.now() - started).toBeLessThan(1500);
      proxy.mode = 'up';
      // Back, on a new connection: listening again, since a moment after the silence began.
      await eventually(() => (proxied.listeningSince() ?? 0) > silent, {
        timeoutMs: 10_000,
        what: 'listening again',
      });
    } finally {
      await proxy.stop();
    }
  });

  it('publishes to an unreachable Redis without throwing or hanging, and ping rejects fast', async () => {
    const pubsub = open();
    const unreachable = createRedisPubSub('redis://127.0.0.1:1', logger);
    opened.push(unreachable);

    let started = Date.now();
    await expect(unreachable.publish(topicName('down'), { at: new Date() })).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1500);

    started = Date.now();
    await expect(unreachable.ping()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1500);

    // Subscribing while down neither throws nor blocks the healthy instance.
    const iterator = unreachable.subscribe(topicName('down'));
    await pubsub.ping();
    await iterator.return?.();
  });
});

describe('createPubSub', () => {
  it('picks the in-process implementation without a Redis URL', async () => {
    const pubsub = createPubSub({ logger });
    const topic = topicName('factory');
    const iterator = pubsub.subscribe<string>(topic);
    await pubsub.publish(topic, 'hello');
    expect(await nextValue(iterator)).toBe('hello');
    await pubsub.close();
  });
});

describe('createPushIterator', () => {
  it('drops the oldest values past the buffer limit and warns once per overflow', async () => {
    let overflows = 0;
    const queue = createPushIterator<number>({ maxBuffered: 3, onFinish: () => {}, onOverflow: () => overflows++ });
    for (let n = 1; n <= 5; n++) queue.push(n);
    expect(overflows).toBe(1);
    const values = [];
    for (let i = 0; i < 3; i++) values.push((await queue.iterator.next()).value);
    expect(values).toEqual([3, 4, 5]);
    for (let n = 6; n <= 10; n++) queue.push(n);
    expect(overflows).toBe(2);
  });

  it('calls onFinish exactly once and rejects throw() with its error', async () => {
    let finished = 0;
    const queue = createPushIterator<number>({ onFinish: () => finished++ });
    await expect(queue.iterator.throw?.(new Error('boom'))).rejects.toThrow('boom');
    await queue.iterator.return?.();
    queue.end();
    expect(finished).toBe(1);
    queue.push(1);
    await expect(queue.iterator.next()).resolves.toEqual({ done: true, value: undefined });
  });

  it('drains queued values before ending', async () => {
    let finished = 0;
    const queue = createPushIterator<number>({ onFinish: () => finished++ });
    queue.push(1);
    queue.end();
    expect(finished).toBe(0);
    await expect(queue.iterator.next()).resolves.toEqual({ done: false, value: 1 });
    await expect(queue.iterator.next()).resolves.toEqual({ done: true, value: undefined });
    expect(finished).toBe(1);
  });

  it('with overflowError, lets go at the overflow and rejects the next read with the error', async () => {
    let finished = 0;
    const queue = createPushIterator<number>({
      maxBuffered: 2,
      onFinish: () => finished++,
      overflowError: () => new Error('fell behind'),
    });
    for (let n = 1; n <= 3; n++) queue.push(n);
    // The producer's registry hears of it now, not when the slow consumer next reads.
    expect(finished).toBe(1);
    queue.push(4);
    await expect(queue.iterator.next()).rejects.toThrow('fell behind');
    await expect(queue.iterator.next()).resolves.toEqual({ done: true, value: undefined });
    expect(finished).toBe(1);
  });

  it('fail() lets go at once, delivers what is queued, then rejects; a waiting read rejects at once', async () => {
    let finished = 0;
    const queue = createPushIterator<number>({ onFinish: () => finished++ });
    queue.push(1);
    queue.fail(new Error('resync'));
    expect(finished).toBe(1);
    queue.push(2);
    await expect(queue.iterator.next()).resolves.toEqual({ done: false, value: 1 });
    await expect(queue.iterator.next()).rejects.toThrow('resync');

    const idle = createPushIterator<number>({ onFinish: () => {} });
    const waiting = idle.iterator.next();
    idle.fail(new Error('resync'));
    await expect(waiting).rejects.toThrow('resync');
  });
});
