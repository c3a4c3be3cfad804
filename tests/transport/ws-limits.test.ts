// What one client can make the server hold over WebSockets is bounded: unread output per socket,
// sockets per instance and per address (at the upgrade), anonymous connections per address,
// sockets that never initialise or stop answering pings, operations per connection.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { REQUEST_LIMITS } from '../../src/transport/server.ts';
import { UpdateEventDocument } from '../generated/graphql.ts';
import { createUser, metric, wsClient } from '../helpers/client.ts';
import { eventually } from '../helpers/eventually.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

/** A raw graphql-transport-ws socket, acknowledged, so a test can stop reading it at will. */
async function rawSocket(server: TestServer, payload: Record<string, unknown> = {}) {
  const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
  await once(socket, 'open');
  const acked = new Promise<void>((resolve, reject) => {
    socket.on('message', (data) => {
      if (JSON.parse((data as Buffer).toString()).type === 'connection_ack') resolve();
    });
    socket.once('close', (code) => reject(new Error(`closed with ${code} before connection_ack`)));
  });
  socket.send(JSON.stringify({ type: 'connection_init', payload }));
  await acked;
  return socket;
}

/** Resolves with the close code of the socket. */
const closed = (socket: WebSocket) => new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));

/** Opens a socket and resolves with what the upgrade answered: 101, or the refusal's HTTP status. */
function upgrade(server: TestServer): Promise<{ status: number; socket?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    socket.once('open', () => resolve({ status: 101, socket }));
    socket.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      socket.terminate();
    });
    socket.once('error', (error) => {
      if (socket.readyState !== WebSocket.CLOSED) reject(error);
    });
  });
}

describe('unread output per socket', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { WS_MAX_BUFFERED_KB: '64' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('closes a socket that stopped reading, with 4413, while a reading subscriber gets every change', async () => {
    const host = await createUser(server);
    await certify(server, host);
    // Multi-byte characters: large results leave as one text message in fragments of bytes.
    const description = 'üx'.repeat(2500);
    const event = await createEvent(server, host, { isPublic: true, description });
    // About 150 KB per change: 30 aliases of a 5,000-character description.
    const query = `subscription { eventChanged(bounds: { south: 52, west: 13, north: 53, east: 14 }) { version event { ${Array.from(
      { length: 30 },
      (_, i) => `d${i}: description`,
    ).join(' ')} } } }`;

    const reader = wsClient(server);
    const versions: number[] = [];
    const readerLive = new Promise<void>((resolve) => {
      reader.subscribe(
        { query },
        {
          next: (r) => (
            versions.push((r.data as { eventChanged: { version: number } }).eventChanged.version),
            resolve()
          ),
          error: () => {},
          complete: () => {},
        },
      );
    });

    const slow = await rawSocket(server);
    const slowClosed = closed(slow);
    let slowFrames = 0;
    const received: Array<{ binary: boolean; d0?: string }> = [];
    slow.on('message', (data, binary) => {
      const message = JSON.parse((data as Buffer).toString()) as {
        type: string;
        payload?: { data?: { eventChanged: { event: { d0: string } } } };
      };
      if (message.type !== 'next') return;
      slowFrames += 1;
      received.push({ binary, d0: message.payload?.data?.eventChanged.event.d0 });
    });
    slow.send(JSON.stringify({ id: 's', type: 'subscribe', payload: { query } }));
    // Both subscribed: a first change reaches the reader and the slow socket, which still reads.
    let version = event.version;
    const change = async () => {
      const { updateEvent } = await host.gqlOk(UpdateEventDocument, {
        id: event.id,
        input: { title: `Change ${version}` },
      });
      version = updateEvent.version;
    };
    await change();
    await readerLive;
    await expect.poll(() => slowFrames).toBe(1);
    expect(received[0]).toEqual({ binary: false, d0: description });
    // Stops reading. The kernel's buffers would take all twelve changes (about 1.8 MB); the
    // server writes no more than WS_MAX_BUFFERED_KB ahead of the client's pongs, holds as much
    // again, then closes the socket.
    slow.pause();
    for (let i = 0; i < 12; i++) await change();

    await expect.poll(() => metric(server, 'pinit_ws_slow_consumers_closed_total'), { timeout: 10_000 }).toBe(1);
    // Reading again, the client finds the close: 4413 when the close frame got through before the
    // server cut the socket for not reading, an abnormal closure otherwise.
    slow.resume();
    expect([4413, 1006]).toContain(await slowClosed);
    // The first change, and at most the one written ahead before the client stopped answering.
    expect(slowFrames).toBeLessThanOrEqual(2);
    await expect.poll(() => versions.at(-1), { timeout: 10_000 }).toBe(version);
    expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
    expect(versions.length).toBe(13);
    await reader.dispose();
  });
});

describe('sockets per instance and per address', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: { WS_MAX_CONNECTIONS: '6', WS_MAX_CONNECTIONS_PER_IP: '4', WS_MAX_ANONYMOUS_CONNECTIONS_PER_IP: '2' },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('closes anonymous connections past the per-address cap with 4429, and counts signed-in ones apart', async () => {
    const user = await createUser(server);
    const first = await rawSocket(server);
    const second = await rawSocket(server);
    const third = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    await once(third, 'open');
    const thirdClosed = closed(third);
    third.send(JSON.stringify({ type: 'connection_init' }));
    expect(await thirdClosed).toBe(4429);

    // A signed-in connection from the same address is not an anonymous one.
    const signedIn = await rawSocket(server, { authorization: `Bearer ${user.accessToken}` });
    // Room again once an anonymous one leaves.
    first.close();
    await closed(first);
    const again = await rawSocket(server);
    for (const s of [second, signedIn, again]) s.close();
    await Promise.all([second, signedIn, again].map(closed));
  });

  it('answers upgrades past the per-address cap with 429, before any connection_init', async () => {
    const open: WebSocket[] = [];
    for (let i = 0; i < 4; i++) {
      const { status, socket } = await upgrade(server);
      expect(status).toBe(101);
      open.push(socket!);
    }
    expect((await upgrade(server)).status).toBe(429);
    open.pop()!.close();
    await expect
      .poll(async () => await upgrade(server).then((r) => (r.socket?.close(), r.status)), { timeout: 5_000 })
      .toBe(101);
    for (const s of open) s.terminate();
  });
});

describe('sockets per instance', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { WS_MAX_CONNECTIONS: '2' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers upgrades past the instance cap with 503, and takes them again once one closes', async () => {
    const first = await upgrade(server);
    const second = await upgrade(server);
    expect([first.status, second.status]).toEqual([101, 101]);
    expect((await upgrade(server)).status).toBe(503);
    first.socket!.close();
    await expect
      .poll(async () => upgrade(server).then((r) => (r.socket?.close(), r.status)), { timeout: 5_000 })
      .toBe(101);
    second.socket!.terminate();
  });
});

describe('WebSocket timers and operations per connection', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { WS_INIT_TIMEOUT_SECONDS: '1', WS_KEEPALIVE_SECONDS: '1' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** A raw graphql-transport-ws socket, acknowledged unless `init` is false. */
  async function plainSocket({ init = true, autoPong = true } = {}) {
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws', { autoPong });
    await once(socket, 'open');
    if (init) {
      socket.send(JSON.stringify({ type: 'connection_init' }));
      const [ack] = await once(socket, 'message');
      expect(JSON.parse(String(ack))).toMatchObject({ type: 'connection_ack' });
    }
    return socket;
  }

  it('closes a socket that never sends connection_init with 4408', async () => {
    const socket = await plainSocket({ init: false });
    const started = Date.now();
    const [code] = await once(socket, 'close');
    expect(code).toBe(4408);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('pings idle sockets, and drops a peer that stops answering', async () => {
    const alive = await plainSocket();
    await once(alive, 'ping');
    const dead = await plainSocket({ autoPong: false });
    const [code] = await once(dead, 'close');
    // Terminated, not closed politely: the peer is presumed gone.
    expect(code).toBe(1006);
    expect(alive.readyState).toBe(WebSocket.OPEN);
    alive.close();
  });

  it(`runs at most ${REQUEST_LIMITS.wsOperationsPerConnection} operations per connection`, async () => {
    const socket = await plainSocket();
    const replies: Array<{ id: string; type: string; payload?: Array<{ extensions?: { code?: string } }> }> = [];
    socket.on('message', (data) => replies.push(JSON.parse((data as Buffer).toString())));
    const subscribe = (id: string) =>
      socket.send(
        JSON.stringify({
          id,
          type: 'subscribe',
          payload: {
            query: 'subscription { eventChanged(bounds: { south: 1, west: 1, north: 2, east: 2 }) { eventId } }',
          },
        }),
      );
    const established = async () => (await server.deps.metrics.wsSubscriptionsEstablished.get()).values[0]?.value ?? 0;
    const running = async () => (await server.deps.metrics.wsSubscriptions.get()).values[0]?.value ?? 0;
    const before = await established();
    const runningBefore = await running();
    const cap = REQUEST_LIMITS.wsOperationsPerConnection;
    for (let i = 0; i < cap; i++) subscribe(`s${i}`);
    subscribe('one-too-many');
    await expect
      .poll(() => replies.find((r) => r.id === 'one-too-many'), { timeout: 5_000 })
      .toMatchObject({ type: 'error', payload: [{ extensions: { code: 'RATE_LIMITED' } }] });
    // The others still run, and a finished one makes room.
    await eventually(async () => (await established()) === before + cap, { what: `${cap} subscriptions running` });
    expect(replies.filter((r) => r.type === 'error')).toHaveLength(1);
    socket.send(JSON.stringify({ id: 's0', type: 'complete' }));
    await eventually(async () => (await running()) === runningBefore + cap - 1, { what: 's0 to be complete' });
    subscribe('room-again');
    // Established, rather than refused: the server counts it only once it holds its stream.
    await eventually(async () => (await established()) === before + cap + 1, { what: 'room-again to run' });
    expect(replies.filter((r) => r.id === 'room-again')).toEqual([]);
    expect(socket.readyState).toBe(WebSocket.OPEN);
    socket.close();
  });
});
