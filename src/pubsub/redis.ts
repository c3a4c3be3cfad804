import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { codec } from './codec.ts';
import { createHub } from './hub.ts';
import type { PubSub } from './types.ts';
import { REDIS_COMMAND_TIMEOUT_MS, REDIS_CONNECTION_DEADLINES } from '../lib/redis.ts';

const PING_TIMEOUT_MS = REDIS_COMMAND_TIMEOUT_MS;
/** How often the subscriber connection is pinged, and the silence after which it may be missing messages. */
const HEARTBEAT_MS = 500;
const LISTENING_STALE_MS = 1_500;
/** How long publish/ping wait for the very first connection before failing fast like during an outage. */
const STARTUP_GRACE_MS = 1000;

/** Reconnect forever, backing off to ~2 s; the jitter keeps instances from reconnecting in lockstep. */
const retryStrategy = (times: number): number => Math.min(times * 200, 2000) + Math.floor(Math.random() * 100);

export interface RedisPubSubOptions {
  /** Prefix of the connections' names in CLIENT LIST (`<name>:pub`, `<name>:sub`). Default `pinit`. */
  name?: string;
}

/** Redis pub/sub, so that subscriptions on one API instance see what another instance publishes. */
export function createRedisPubSub(url: string, logger: Logger, { name = 'pinit' }: RedisPubSubOptions = {}): PubSub {
  const log = logger.child({ component: 'pubsub' });
  const common: RedisOptions = { retryStrategy, ...REDIS_CONNECTION_DEADLINES, lazyConnect: false };

  // While Redis is down a publish fails at once instead of queueing: mutations must not wait on
  // pub/sub, and replaying stale messages after a reconnect would only cause needless re-reads.
  const pub = new Redis(url, {
    ...common,
    connectionName: `${name}:pub`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: PING_TIMEOUT_MS,
    // Publishes made in one turn of the event loop (a message's status to each member) leave in one write.
    enableAutoPipelining: true,
  });
  // (UN)SUBSCRIBE commands issued while Redis is down wait in the offline queue and are never
  // flushed with an error (which would silently lose the subscription); autoResubscribe restores
  // the topics that were already active.
  const sub = new Redis(url, {
    ...common,
    connectionName: `${name}:sub`,
    autoResubscribe: true,
    maxRetriesPerRequest: null,
  });

  watch(pub, 'publisher', log);
  watch(sub, 'subscriber', log);
  const startup = Promise.all([firstSettled(pub), firstSettled(sub)]);

  const hub = createHub({
    logger: log,
    onFirstSubscriber: (topic) => {
      sub.subscribe(topic).catch((err: unknown) => log.error({ err, topic }, 'SUBSCRIBE failed'));
    },
    onLastSubscriber: (topic) => {
      sub.unsubscribe(topic).catch((err: unknown) => log.warn({ err, topic }, 'UNSUBSCRIBE failed'));
    },
  });
  sub.on('message', (topic: string, message: string) => hub.deliver(topic, message));
  let closed = false;

  // Messages published while the subscriber is away are lost. After a (re)connection, ioredis
  // resubscribes right after 'ready'; a pong after that means those SUBSCRIBEs are in effect.
  let listeningSince: number | null = null;
  let lastPong = 0;
  let connection = 0;
  sub.on('ready', () => {
    const current = ++connection;
    setImmediate(() => {
      sub.ping().then(
        () => {
          if (current === connection && sub.status === 'ready') listeningSince = lastPong = Date.now();
        },
        () => undefined,
      );
    });
  });
  sub.on('close', () => {
    connection += 1;
    listeningSince = null;
  });
  // A Redis that goes silent on an open connection (a black hole, a host gone) looks 'ready'
  // until TCP gives up, minutes later. The heartbeat notices within LISTENING_STALE_MS, so that
  // listeningSince() stops vouching for delivery (the session cache then fails closed), and its
  // unanswered pings make socketTimeout replace the dead connection.
  const heartbeat = setInterval(() => {
    if (sub.status === 'ready')
      sub.ping().then(
        () => (lastPong = Date.now()),
        () => undefined,
      );
  }, HEARTBEAT_MS);
  heartbeat.unref();

  return {
    async publish(topic, payload) {
      try {
        if (closed) throw new Error('pubsub is closed');
        const message = codec.encode(payload);
        await startup;
        await pub.publish(topic, message);
      } catch (err) {
        log.warn({ err, topic }, 'publish failed, message lost');
      }
    },

    subscribe<T>(topic: string, signal?: AbortSignal) {
      return hub.subscribe<T>(topic, signal);
    },

    listeningSince: () =>
      closed || sub.status !== 'ready' || Date.now() - lastPong > LISTENING_STALE_MS ? null : listeningSince,

    async ping() {
      await startup;
      for (const [role, client] of [
        ['publisher', pub],
        ['subscriber', sub],
      ] as const) {
        if (client.status !== 'ready') throw new Error(`Redis ${role} connection is ${client.status}`);
      }
      // The subscriber is pinged too: replies come in order, so a pong also means that every
      // SUBSCRIBE issued before this ping is in effect.
      await withTimeout(Promise.all([pub.ping(), sub.ping()]), PING_TIMEOUT_MS, 'Redis ping timed out');
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      hub.endAll();
      await Promise.all([shutdown(pub), shutdown(sub)]);
    },
  };
}

/** Logs the first error of an outage and the recovery, not every failed reconnect attempt. */
function watch(client: Redis, name: string, log: Logger): void {
  let down = false;
  client.on('error', (err: Error) => {
    if (down) log.debug({ err, connection: name }, 'Redis still unreachable');
    else log.error({ err, connection: name }, 'Redis connection error');
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info({ connection: name }, 'Redis connection restored');
    down = false;
  });
}

/** Resolves once the first connection attempt is over (ready or failed), or after the grace period. */
function firstSettled(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  const events = ['ready', 'error', 'end'] as const;
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      for (const event of events) client.off(event, done);
      resolve();
    };
    const timer = setTimeout(done, STARTUP_GRACE_MS);
    timer.unref();
    for (const event of events) client.once(event, done);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** QUIT when connected (lets in-flight publishes finish), otherwise just stop reconnecting. */
async function shutdown(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await withTimeout(client.quit(), PING_TIMEOUT_MS, 'Redis QUIT timed out');
      return;
    } catch {
      // Fall through to a hard disconnect.
    }
  }
  client.disconnect();
}
