// Prometheus metrics (prom-client), one registry per app so several instances in one process
// (tests) do not mix their series.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PubSub } from '../pubsub/index.ts';

/** Label values that stand for an operation without a name, an unknown one, or a document that did not validate. */
export const OPERATION_LABELS = { anonymous: '__anonymous', other: '__other', invalid: '__invalid' } as const;

/** A GraphQL name of sane length; names starting with "__" are kept for the labels above. */
const LABEL_NAME = /^(?!__)[_A-Za-z][_0-9A-Za-z]{0,63}$/;

/**
 * Operation names as label values, from a bounded set. Clients choose operation names, and each
 * distinct value makes a series per bucket of every histogram it labels (5,000 names made 65,000
 * series): the first `max` valid names seen are kept, every other one is `__other`.
 */
export class OperationNames {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  label(name: string | null | undefined): string {
    if (!name) return OPERATION_LABELS.anonymous;
    if (this.seen.has(name)) return name;
    if (this.seen.size >= this.max || !LABEL_NAME.test(name)) return OPERATION_LABELS.other;
    this.seen.add(name);
    return name;
  }
}

export interface Metrics {
  registry: Registry;
  /** The label value of every `operation` label below; call it only for documents that validated. */
  operationNames: OperationNames;
  /** Latency by type and transport: a histogram costs 13 series per label set, too many per operation name. */
  operationDuration: Histogram<'type' | 'transport'>;
  /** Operations by name (bounded: OperationNames), type and transport: one series each. */
  operations: Counter<'operation' | 'type' | 'transport'>;
  errors: Counter<'code' | 'transport'>;
  wsConnections: Gauge;
  wsSubscriptions: Gauge;
  /** Subscriptions established (stream set up, subscriber listening), ever: their rate. */
  wsSubscriptionsEstablished: Counter;
  /** Sockets closed because their client stopped reading (4413). */
  wsSlowConsumersClosed: Counter;
  /** Distinct subscription groups (see src/transport/fanout.ts). */
  subscriptionGroups: Gauge;
  /** Subscription selections executed: at most one per group and event. */
  subscriptionExecutions: Counter<'operation'>;
  /** Subscription results written to sockets, one per member and event. */
  subscriptionDeliveries: Counter<'operation'>;
  pubsubLag: Histogram;
}

export function createMetrics(
  dbPool: () => { total: number; idle: number; waiting: number } | null,
  { maxOperationNames }: { maxOperationNames: number },
): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pinit_' });
  const metrics: Metrics = {
    registry,
    operationNames: new OperationNames(maxOperationNames),
    operationDuration: new Histogram({
      name: 'pinit_graphql_operation_duration_seconds',
      help: 'GraphQL operation latency by type and transport.',
      labelNames: ['type', 'transport'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    operations: new Counter({
      name: 'pinit_graphql_operations_total',
      help: 'GraphQL operations by operation name (at most METRICS_MAX_OPERATION_NAMES of them, then __other), type and transport.',
      labelNames: ['operation', 'type', 'transport'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'pinit_graphql_errors_total',
      help: 'Errors sent to clients, by code.',
      labelNames: ['code', 'transport'],
      registers: [registry],
    }),
    wsConnections: new Gauge({
      name: 'pinit_ws_connections',
      help: 'Open graphql-ws connections.',
      registers: [registry],
    }),
    wsSubscriptions: new Gauge({
      name: 'pinit_ws_subscriptions',
      help: 'Active graphql-ws subscriptions.',
      registers: [registry],
    }),
    wsSubscriptionsEstablished: new Counter({
      name: 'pinit_ws_subscriptions_established_total',
      help: 'graphql-ws subscriptions established: authorized, subscribed to pub/sub, and listening.',
      registers: [registry],
    }),
    wsSlowConsumersClosed: new Counter({
      name: 'pinit_ws_slow_consumers_closed_total',
      help: 'WebSockets closed (4413) because their client stopped reading and too much was queued.',
      registers: [registry],
    }),
    subscriptionGroups: new Gauge({
      name: 'pinit_subscription_groups',
      help: 'Groups of identical subscriptions (same document, variables and viewer), each executed once per event.',
      registers: [registry],
    }),
    subscriptionExecutions: new Counter({
      name: 'pinit_subscription_executions_total',
      help: 'Subscription selections executed: at most one per group and event (groups whose results match share one).',
      labelNames: ['operation'],
      registers: [registry],
    }),
    subscriptionDeliveries: new Counter({
      name: 'pinit_subscription_deliveries_total',
      help: 'Subscription results sent: one per subscriber and event.',
      labelNames: ['operation'],
      registers: [registry],
    }),
    pubsubLag: new Histogram({
      name: 'pinit_pubsub_delivery_lag_seconds',
      help: 'From publish to delivery to a local subscriber.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
  const pool = (field: 'total' | 'idle' | 'waiting', help: string) =>
    new Gauge({
      name: `pinit_db_pool_${field}`,
      help,
      registers: [registry],
      collect() {
        const stats = dbPool();
        if (stats) this.set(stats[field]);
      },
    });
  pool('total', 'Database connections open.');
  pool('idle', 'Database connections idle.');
  pool('waiting', 'Queries waiting for a database connection.');
  return metrics;
}

interface Envelope {
  /** Publish time (epoch ms). */
  t: number;
  p: unknown;
}

/** Wraps a PubSub so every message carries its publish time and deliveries record their lag. */
export function instrumentPubSub(pubsub: PubSub, metrics: Metrics): PubSub {
  return {
    publish: (topic, payload) => pubsub.publish(topic, { t: Date.now(), p: payload } satisfies Envelope),
    subscribe<T>(topic: string, signal?: AbortSignal): AsyncIterableIterator<T> {
      const source = pubsub.subscribe<Envelope>(topic, signal);
      const iterator: AsyncIterableIterator<T> = {
        async next() {
          const result = await source.next();
          if (result.done) return result;
          metrics.pubsubLag.observe(Math.max(0, Date.now() - result.value.t) / 1000);
          return { done: false, value: result.value.p as T };
        },
        async return() {
          await source.return?.();
          return { done: true, value: undefined };
        },
        async throw(error?: unknown) {
          await source.return?.();
          throw error;
        },
        [Symbol.asyncIterator]() {
          return iterator;
        },
      };
      return iterator;
    },
    listeningSince: () => pubsub.listeningSince(),
    ping: () => pubsub.ping(),
    close: () => pubsub.close(),
  };
}
