// Child process of the fan-out benchmark: opens many graphql-ws subscribers and records when
// each receives each change. Run by bench/cases/fanout.ts over an IPC channel, never by hand.
//
// It speaks graphql-transport-ws over raw `ws` sockets rather than through graphql-ws's
// createClient: with thousands of sockets in one process, the client library's per-socket
// machinery (retry state, lazy-connect bookkeeping, per-message validation) would be client
// time inside the measured latency. The receipt time is taken before the frame is parsed.
import WebSocket from 'ws';
import { wallClockMs } from '../lib/latency.ts';

export interface SubscriberSpec {
  variables: Record<string, unknown>;
  /** Access token, or none for an anonymous subscriber. */
  token?: string;
}

export type ToChild =
  | {
      type: 'open';
      wsUrl: string;
      query: string;
      subscribers: SubscriberSpec[];
      concurrency: number;
      /** Plain sockets that only connect (for the bare `ws` server baseline): no protocol, no subscription. */
      bare?: boolean;
    }
  | { type: 'collect' }
  | { type: 'close' };

export type FromChild =
  | { type: 'opened'; open: number; failed: number; errors: string[] }
  /** Every open subscriber has received this version. */
  | { type: 'all-received'; version: number }
  | {
      type: 'receipts';
      /** version → receipt time (epoch ms) per subscriber, in `subscribers` order; null when missing. */
      receipts: Record<string, Array<number | null>>;
      errorCount: number;
      errors: string[];
      /** Deliveries whose event was null (the subscriber should have seen it). */
      nullEvents: number;
      cpuMs: number;
    };

const PROTOCOL = 'graphql-transport-ws';
const OPEN_TIMEOUT_MS = 30_000;

const errors: string[] = [];
let errorCount = 0;
let nullEvents = 0;
const noteError = (message: string) => {
  errorCount += 1;
  if (errors.length < 20) errors.push(message);
};

const sockets: WebSocket[] = [];
let closing = false;
/** version → receipt times by subscriber index. */
const receipts = new Map<number, Float64Array>();
const receivedCount = new Map<number, number>();
let openCount = 0;

function record(index: number, version: number, at: number) {
  let times = receipts.get(version);
  if (!times) {
    times = new Float64Array(sockets.length).fill(NaN);
    receipts.set(version, times);
  }
  if (!Number.isNaN(times[index]!)) return noteError(`subscriber ${index} received version ${version} twice`);
  times[index] = at;
  const count = (receivedCount.get(version) ?? 0) + 1;
  receivedCount.set(version, count);
  if (count === openCount) send({ type: 'all-received', version });
}

/** A `next` frame's payload of the eventChanged subscription, as far as the subscribers read it. */
interface NextPayload {
  errors?: unknown[];
  data?: { eventChanged?: { version: number; event: unknown } | null } | null;
}

function onFrame(index: number, socket: WebSocket, raw: WebSocket.RawData, at: number) {
  // ws hands over a Buffer (binaryType is left at 'nodebuffer').
  const message = JSON.parse((raw as Buffer).toString('utf8')) as { type: string; payload?: NextPayload };
  switch (message.type) {
    case 'next': {
      if (message.payload?.errors?.length)
        return noteError(`subscriber ${index}: ${JSON.stringify(message.payload.errors)}`);
      const change = message.payload?.data?.eventChanged;
      if (!change) return noteError(`subscriber ${index}: payload without eventChanged`);
      if (change.event === null) nullEvents += 1;
      return record(index, change.version, at);
    }
    case 'ping':
      return socket.send(JSON.stringify({ type: 'pong' }));
    case 'pong':
      return;
    default:
      // error, complete or an unexpected ack: the subscription is over or broken.
      return noteError(`subscriber ${index}: unexpected ${message.type} ${JSON.stringify(message.payload ?? '')}`);
  }
}

/** Opens one socket, waits for connection_ack, subscribes. Resolves false when it failed. */
function openSubscriber(
  wsUrl: string,
  query: string,
  spec: SubscriberSpec,
  index: number,
  bare: boolean,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new WebSocket(wsUrl, PROTOCOL);
    sockets[index] = socket;
    let acked = false;
    const timer = setTimeout(() => {
      noteError(`subscriber ${index}: no connection_ack within ${OPEN_TIMEOUT_MS} ms`);
      socket.terminate();
      resolve(false);
    }, OPEN_TIMEOUT_MS);
    socket.on('open', () => {
      if (bare) {
        clearTimeout(timer);
        return resolve(true);
      }
      const payload = spec.token ? { authorization: `Bearer ${spec.token}` } : {};
      socket.send(JSON.stringify({ type: 'connection_init', payload }));
    });
    socket.on('message', (raw) => {
      const at = wallClockMs();
      if (acked) return onFrame(index, socket, raw, at);
      acked = true;
      clearTimeout(timer);
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: spec.variables } }));
      resolve(true);
    });
    socket.on('error', (error) => noteError(`subscriber ${index}: ${error.message}`));
    socket.on('close', (code, reason) => {
      clearTimeout(timer);
      if (!closing) noteError(`subscriber ${index}: closed ${code} ${reason.toString()}`);
      if (!acked) resolve(false);
    });
  });
}

/** Opens all subscribers, `concurrency` handshakes at a time (a burst of thousands would time out). */
async function openAll(msg: Extract<ToChild, { type: 'open' }>) {
  sockets.length = msg.subscribers.length;
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < msg.subscribers.length) {
      const index = next++;
      if (await openSubscriber(msg.wsUrl, msg.query, msg.subscribers[index]!, index, msg.bare ?? false)) openCount += 1;
      else failed += 1;
    }
  };
  await Promise.all(Array.from({ length: msg.concurrency }, worker));
  send({ type: 'opened', open: openCount, failed, errors: errors.slice(0, 5) });
}

function collect() {
  const out: Record<string, Array<number | null>> = {};
  for (const [version, times] of receipts) out[version] = Array.from(times, (t) => (Number.isNaN(t) ? null : t));
  const cpu = process.cpuUsage();
  send({ type: 'receipts', receipts: out, errorCount, errors, nullEvents, cpuMs: (cpu.user + cpu.system) / 1000 });
}

function closeAll() {
  closing = true;
  for (const socket of sockets) socket?.close(1000);
  // Give the close frames a moment to leave, then go: the parent waits for our exit.
  setTimeout(() => process.exit(0), 500).unref();
  process.disconnect?.();
}

function send(message: FromChild) {
  process.send!(message);
}

process.on('message', (msg: ToChild) => {
  if (msg.type === 'open') void openAll(msg);
  else if (msg.type === 'collect') collect();
  else if (msg.type === 'close') closeAll();
});
// The parent died: don't linger with thousands of sockets open.
process.on('disconnect', () => {
  if (!closing) closeAll();
});
