// Operations over WebSocket (graphql-ws on ws, same port and path as HTTP), applying the operation
// pipeline (./pipeline.ts) through graphql-ws's hooks, plus what only sockets have: the Origin
// check, one viewer per connection that lives no longer than its token or its session,
// connection caps, presence, and subscription fan-out (./fanout.ts).
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { getOperationAST, GraphQLError, OperationTypeNode, subscribe } from 'graphql';
import type { ExecutionArgs, ExecutionResult, FormattedExecutionResult } from 'graphql';

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Context } from '../context.ts';
import * as presence from '../services/presence/index.ts';
import { toGraphQLError, withDeadlineOnce } from './errors.ts';
import { DomainError, rateLimited } from '../lib/errors.ts';
import { SubscriptionGroups } from './fanout.ts';
import type { GroupKey, Member, OutgoingMessage } from './fanout.ts';
import type { Caller, OperationPipeline } from './pipeline.ts';

export interface WsOptions {
  /** Operations one WebSocket may run at once. */
  operationsPerConnection: number;
  /** The client's address, as TRUST_PROXY says to believe it. */
  clientIpOf: (req: IncomingMessage) => string;
}

/** Close codes of our own (graphql-ws' are 44xx too; these do not collide with them). */
export const WS_CLOSE = {
  /** The connection's user, or its anonymous address, holds too many connections, or is flooding past its query budget. */
  tooManyConnections: 4429,
  /** The client stopped reading: more unread data was queued than WS_MAX_BUFFERED_KB. */
  tooMuchQueued: 4413,
} as const;

/** How long a socket closed for not reading gets to finish its close handshake before it is cut. */
const SLOW_CONSUMER_GRACE_MS = 2_000;

/** Bytes of frames held back for one write at most. */
const WRITE_BATCH_BYTES = 16 * 1024;

/** A socket's output (SocketOutput). */
interface Output {
  send(message: OutgoingMessage): void;
  /** While messages wait for the client's acknowledgements: resolved once they are all written. */
  drained(): Promise<void> | null;
}

/** A message waiting for the client to acknowledge what it was sent before. */
interface Held {
  size: number;
  write: () => void;
  /** Called instead of `write` when the socket closes first. */
  drop: () => void;
}

/**
 * What one socket sends goes through here: graphql-ws' own messages (through `socket.send`) and
 * fan-out's (through `send`).
 *
 * Written ahead of the client by at most `maxBufferedBytes`: what the client has read is known
 * from WebSocket pings, which every client answers (browsers and `ws` by themselves) once it
 * has read everything sent before them. A ping goes out with the count of bytes written so far
 * whenever half the allowance is unacknowledged, or a message has to wait; its pong
 * acknowledges them. Past the allowance,
 * messages wait here instead of filling the kernel's socket buffers (several MB per socket,
 * outside any cap of ours: 300 non-reading sockets made the machine hold 1.3 GB, and every
 * change cost a copy into each).
 *
 * Bounded: a message that would take what waits for the client (queued in `ws`, held here) over
 * `maxBufferedBytes` closes the socket instead (4413). One message always fits an empty queue,
 * so a large result still reaches a client that reads.
 *
 * Batched: frames sent in one turn of the event loop leave in one write rather than one each (a
 * replay after a reconnect sends hundreds back to back, and a system call per frame was a
 * quarter of its cost). The socket is corked at the first frame of a turn and uncorked once the
 * turn's work is done (process.nextTick runs after the promise jobs queued before it), or as soon
 * as WRITE_BATCH_BYTES are held, so a batch delays nothing that a later turn would send.
 *
 * A class, not closures: one is held per open socket, and the functions of a closure-based
 * version were ten per socket, each with a property dictionary of its own under tsx (esbuild's
 * keepNames names every named function), ~3 KB per idle socket.
 */
class SocketOutput implements Output {
  private readonly rawSend: (data: unknown, ...rest: unknown[]) => void;
  private corked = false;
  private batched = 0;
  /** The queue when the socket was corked: since then only the batched frames joined it. */
  private queuedAtCork = 0;
  /** Bytes written to the socket, and how many of them the client has acknowledged. */
  private written = 0;
  private acknowledged = 0;
  private probing = false;
  private readonly held: Held[] = [];
  private heldBytes = 0;
  /** Resolved once nothing is held (or the socket closed). */
  private drainedSignal: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(
    private readonly socket: WebSocket,
    private readonly raw: Socket,
    private readonly maxBufferedBytes: number,
    private readonly onSlow: () => void,
  ) {
    this.rawSend = socket.send.bind(socket) as (data: unknown, ...rest: unknown[]) => void;
    socket.on('pong', (data: Buffer) => this.pong(data));
    socket.once('close', () => this.closed());
    socket.send = ((data: string | Buffer, ...rest: unknown[]) => this.sendFrame(data, rest)) as WebSocket['send'];
  }

  send(message: OutgoingMessage): void {
    if (typeof message === 'string') return this.socket.send(message);
    const size = message.reduce((n, part) => n + part.byteLength, 0);
    // One text message: every fragment but the last leaves with FIN unset (continuation frames).
    const write = () =>
      message.forEach((part, i) => this.rawSend(part, { binary: false, fin: i === message.length - 1 }));
    this.output(size, write, () => {});
  }

  drained(): Promise<void> | null {
    if (!this.held.length) return null;
    if (!this.drainedSignal) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.drainedSignal = { promise, resolve };
    }
    return this.drainedSignal.promise;
  }

  /** graphql-ws' own messages, through `socket.send`. */
  private sendFrame(data: string | Buffer, rest: unknown[]): void {
    // String length, not byte length: measuring bytes would scan every frame of every subscriber.
    const size = typeof data === 'string' ? data.length : data.byteLength;
    // Dropped: the socket is going. graphql-ws waits for the callback, so it must still be called.
    const callback = rest.find((r) => typeof r === 'function') as ((err?: Error) => void) | undefined;
    this.output(
      size,
      () => this.rawSend(data, ...rest),
      () => callback?.(),
    );
  }

  /** Writes one message, holds it, or drops it (the socket is going). */
  private output(size: number, write: () => void, drop: () => void): void {
    const { socket } = this;
    // Frames batched in this turn count in the socket's queue, but they are not the client's doing.
    const waiting = (this.corked ? this.queuedAtCork : socket.bufferedAmount) + this.heldBytes;
    if (socket.readyState === socket.OPEN && waiting > 0 && waiting + size > this.maxBufferedBytes) {
      this.onSlow();
      socket.close(WS_CLOSE.tooMuchQueued, 'Too much unread data queued for this connection');
      // A peer that does not read will not read the close frame either.
      setTimeout(() => socket.terminate(), SLOW_CONSUMER_GRACE_MS).unref();
    }
    if (socket.readyState !== socket.OPEN) return drop();
    if (this.held.length || !this.fitsAhead(size)) {
      this.held.push({ size, write, drop });
      this.heldBytes += size;
      this.probe(true);
      return;
    }
    this.writeNow(size, write);
  }

  private pong(data: Buffer): void {
    const count = Number(data.toString());
    // Another pong (graphql-ws' keep-alive), or a count this socket never sent.
    if (!Number.isSafeInteger(count) || count <= this.acknowledged || count > this.written) return;
    this.acknowledged = count;
    this.probing = false;
    this.release();
    this.probe(this.held.length > 0);
  }

  private closed(): void {
    for (const message of this.held.splice(0)) message.drop();
    this.heldBytes = 0;
    this.settleDrained();
  }

  private settleDrained(): void {
    if (this.held.length || !this.drainedSignal) return;
    this.drainedSignal.resolve();
    this.drainedSignal = null;
  }

  flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.batched = 0;
    this.raw.uncork();
  }

  /** Asks the client to acknowledge what it was sent: once half the allowance is out, or now (`urgent`). */
  private probe(urgent = false): void {
    if (this.probing || this.written === this.acknowledged) return;
    if (!urgent && this.written - this.acknowledged < this.maxBufferedBytes / 2) return;
    this.probing = true;
    this.socket.ping(String(this.written));
  }

  private writeNow(size: number, write: () => void): void {
    if (!this.corked) {
      this.queuedAtCork = this.socket.bufferedAmount;
      this.corked = true;
      this.raw.cork();
      process.nextTick(flushOutput, this);
    }
    write();
    this.written += size;
    this.batched += size;
    this.probe();
    if (this.batched >= WRITE_BATCH_BYTES) this.flush();
  }

  /** Whether a message of `size` fits what the client has acknowledged (one always fits when all is). */
  private fitsAhead(size: number): boolean {
    return this.written === this.acknowledged || this.written - this.acknowledged + size <= this.maxBufferedBytes;
  }

  private release(): void {
    const { socket, held } = this;
    while (held.length && socket.readyState === socket.OPEN && this.fitsAhead(held[0]!.size)) {
      const next = held.shift()!;
      this.heldBytes -= next.size;
      this.writeNow(next.size, next.write);
    }
    this.settleDrained();
  }
}

function flushOutput(output: SocketOutput): void {
  output.flush();
}

/** A subscriber of fan-out: one operation on a socket, writing through the socket's output. */
class OperationMember implements Member {
  constructor(
    readonly id: string,
    private readonly output: Output | undefined,
  ) {}

  send(message: OutgoingMessage): void {
    this.output?.send(message);
  }

  drained(): Promise<void> | null {
    return this.output?.drained() ?? null;
  }
}

interface Connection extends Caller {
  expiryTimer?: NodeJS.Timeout;
  socket?: WebSocket;
  /** Ids of the queries and mutations of this socket being executed. */
  running?: Set<string>;
  /** The session ended while some ran: the socket closes once they have answered (SESSION_END_GRACE_MS at most). */
  closing?: NodeJS.Timeout;
}

/**
 * How long a socket whose session ended may finish the queries and mutations it is running
 * (new ones are refused: onSubscribe re-checks the session). The operation that ended the
 * session itself (logoutAllSessions, changePassword, deleteAccount over graphql-ws) then gets
 * its result before the 4403; well within the 2 s in which every socket of an ended session closes.
 */
const SESSION_END_GRACE_MS = 1_000;

const closeEnded = (connection: Connection) => {
  clearTimeout(connection.closing);
  connection.socket?.close(CloseCode.Forbidden, 'Session ended');
};

const isUnauthenticated = (error: unknown) =>
  error instanceof GraphQLError && error.extensions.code === 'UNAUTHENTICATED';

/** Counts per key (user id, address) that forget keys whose count returns to zero. */
class Counts {
  private readonly counts = new Map<string, number>();
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  add(key: string): void {
    this.counts.set(key, this.get(key) + 1);
  }
  remove(key: string): void {
    const left = this.get(key) - 1;
    if (left > 0) this.counts.set(key, left);
    else this.counts.delete(key);
  }
}

export function useWebSocketServer(wsServer: WebSocketServer, pipeline: OperationPipeline, opts: WsOptions) {
  const { deps, schema } = pipeline;
  const { metrics, config } = deps;
  const connections = new WeakMap<object, Connection>();
  /** Each socket's bounded, batched output (SocketOutput). */
  const outputs = new WeakMap<WebSocket, Output>();
  const connectionsByUser = new Counts();
  const anonymousByIp = new Counts();
  const socketsByIp = new Counts();
  // Signed-in connections by session, so that a session ending (here or on another instance,
  // through pub/sub) closes its sockets at once.
  const bySession = new Map<string, Set<Connection>>();
  const endSessions = (sessionIds: readonly string[]) => {
    for (const id of sessionIds) {
      for (const connection of bySession.get(id) ?? []) {
        if (!connection.running?.size) closeEnded(connection);
        else connection.closing ??= setTimeout(() => closeEnded(connection), SESSION_END_GRACE_MS).unref();
      }
    }
  };
  const stopListening = deps.sessions.onEnded(endSessions);
  // An idle socket asks nothing, so its session is re-read here when its cache entry is no
  // longer trusted (every SESSION_CACHE_TTL_MS, or every SESSION_CACHE_UNSURE_TTL_MS while
  // pub/sub cannot vouch for delivery), checked twice as often: an end that no message reported
  // still closes it.
  let sweeping = false;
  const sweep = setInterval(
    () => {
      if (sweeping || bySession.size === 0) return;
      sweeping = true;
      deps.sessions
        .refresh(bySession.keys())
        // The database cannot answer (already logged where it failed): the sockets' sessions are
        // told on the next sweep after it is back.
        .catch((err: unknown) => {
          if (!(err instanceof DomainError && err.retryable))
            deps.logger.warn({ err }, 'session re-check of sockets failed');
        })
        .finally(() => (sweeping = false));
    },
    Math.max(100, config.sessionCache.unsureTtlMs / 2),
  );
  sweep.unref();
  wsServer.once('close', () => {
    stopListening();
    clearInterval(sweep);
  });

  // Before graphql-ws sees a socket: caps on sockets per instance and per address (answered at
  // the upgrade, so a flood of sockets that never send connection_init is bounded too), and the
  // bound on queued output.
  wsServer.options.verifyClient = (info, done) => {
    if (wsServer.clients.size >= config.wsMaxConnections)
      return done(false, 503, 'Too many WebSocket connections on this instance');
    if (socketsByIp.get(opts.clientIpOf(info.req)) >= config.wsMaxConnectionsPerIp) {
      return done(false, 429, 'Too many WebSocket connections from this address');
    }
    done(true);
  };
  wsServer.on('connection', (socket, request) => {
    const ip = opts.clientIpOf(request);
    socketsByIp.add(ip);
    socket.once('close', () => socketsByIp.remove(ip));
    outputs.set(
      socket,
      new SocketOutput(socket, request.socket, config.wsMaxBufferedBytes, () => metrics.wsSlowConsumersClosed.inc()),
    );
  });

  const timed = <T>(args: ExecutionArgs, run: () => T) => {
    const recordTiming = pipeline.timer('ws');
    // The document passed pipeline.prepare (parsed and validated) in onSubscribe.
    const operation = getOperationAST(args.document, args.operationName);
    return pipeline.inFlight.track(Promise.resolve(run())).finally(() => recordTiming(operation));
  };
  const formatResult = (result: ExecutionResult, args: ExecutionArgs): FormattedExecutionResult => {
    if (!result.errors?.length) return result as FormattedExecutionResult;
    const { requestId, logger } = args.contextValue as Context;
    pipeline.locateInputErrors(args.document, args.variableValues, result.errors);
    const errors = withDeadlineOnce(result.errors).map((e) => pipeline.formatError(e, 'ws', { requestId, logger }));
    return { ...result, errors };
  };
  // Identical subscriptions share one execution per event (./fanout.ts). graphql-ws hands our
  // `subscribe` only the execution arguments; the socket and operation id travel with the
  // operation's context.
  const groups = new SubscriptionGroups({
    execute: (args) => pipeline.execute(args),
    format: formatResult,
    onExecution: (name) => metrics.subscriptionExecutions.inc({ operation: metrics.operationNames.label(name) }),
    onDelivery: (name, members) =>
      metrics.subscriptionDeliveries.inc({ operation: metrics.operationNames.label(name) }, members),
    onGroupCount: (n) => metrics.subscriptionGroups.set(n),
  });
  const subscribers = new WeakMap<object, { key: GroupKey; member: Member; payload: { query: string } }>();
  // graphql-ws keeps an operation's arguments and message for as long as its stream lives, but a
  // member's stream yields nothing (its group writes to the socket): once joined, the member's
  // context (loaders, logger), variables and copy of the document's text are dead weight on an
  // idle socket (~16 KB of heap per subscribed connection before). Its group has its own copy.
  const releaseMember = (args: ExecutionArgs, payload: { query: string }) => {
    args.contextValue = undefined;
    args.variableValues = undefined;
    payload.query = args.document.loc?.source.body ?? payload.query;
  };
  // Subscription ids per connection, so the gauge counts each one down exactly once.
  const subscriptionIds = new WeakMap<object, Set<string>>();
  const liveSubscriptions = (ctx: object) => {
    let ids = subscriptionIds.get(ctx);
    if (!ids) subscriptionIds.set(ctx, (ids = new Set()));
    return ids;
  };
  const originAllowed = (origin: string | undefined) =>
    origin === undefined || config.corsOrigins.includes('*') || config.corsOrigins.includes(origin);

  return useServer<Record<string, unknown> | undefined, { request: IncomingMessage; socket: WebSocket }>(
    {
      schema,
      connectionInitWaitTimeout: config.wsInitTimeoutSeconds * 1000,
      // Executions are tracked so shutdown waits for them; a subscription counts until it is set up.
      execute: (args) => timed(args, () => pipeline.execute(args)),
      subscribe: (args) =>
        timed(args, () => {
          const subscriber = subscribers.get(args.contextValue as object);
          if (!subscriber) return subscribe(args);
          subscribers.delete(args.contextValue as object);
          return groups.join(subscriber.key, args, subscriber.member).then((joined) => {
            if (isAsyncIterable(joined)) releaseMember(args, subscriber.payload);
            return joined;
          });
        }),
      onConnect: async (ctx) => {
        // Browsers send Origin; native apps do not. A page from another origin may not ride
        // on a user's network position.
        if (!originAllowed(ctx.extra.request.headers.origin)) return false;
        let viewer;
        try {
          viewer = await pipeline.authenticate(
            ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization,
          );
        } catch (error) {
          // graphql-ws closes with 4403 Forbidden; the client refreshes its token and reconnects.
          if (isUnauthenticated(error)) return false;
          // The session cannot be told now (the database is down): 4500, the client retries later.
          throw error;
        }
        const clientIp = opts.clientIpOf(ctx.extra.request);
        if (viewer && connectionsByUser.get(viewer.id) >= config.wsMaxConnectionsPerUser) {
          ctx.extra.socket.close(WS_CLOSE.tooManyConnections, 'Too many connections for this user');
          return false;
        }
        if (!viewer && anonymousByIp.get(clientIp) >= config.wsMaxAnonymousConnectionsPerIp) {
          ctx.extra.socket.close(WS_CLOSE.tooManyConnections, 'Too many anonymous connections from this address');
          return false;
        }
        const connection: Connection = { viewer, clientIp, socket: ctx.extra.socket };
        if (!viewer) anonymousByIp.add(clientIp);
        if (viewer) {
          connectionsByUser.add(viewer.id);
          let sockets = bySession.get(viewer.sessionId);
          if (!sockets) bySession.set(viewer.sessionId, (sockets = new Set()));
          sockets.add(connection);
          // The socket lives no longer than its token.
          const ms = viewer.tokenExpiresAt * 1000 - Date.now();
          connection.expiryTimer = setTimeout(
            () => ctx.extra.socket.close(CloseCode.Forbidden, 'Access token expired'),
            Math.max(ms, 0),
          );
          connection.expiryTimer.unref();
        }
        connections.set(ctx, connection);
        metrics.wsConnections.inc();
        if (viewer) {
          await pipeline.inFlight
            .track(presence.connected(deps, viewer.id))
            .catch((err) => deps.logger.warn({ err }, 'presence update failed'));
        }
        return true;
      },
      onClose: (ctx) => {
        const connection = connections.get(ctx);
        if (!connection) return;
        metrics.wsConnections.dec();
        clearTimeout(connection.expiryTimer);
        const { viewer } = connection;
        if (!viewer) return anonymousByIp.remove(connection.clientIp);
        connectionsByUser.remove(viewer.id);
        const sockets = bySession.get(viewer.sessionId);
        sockets?.delete(connection);
        if (sockets?.size === 0) bySession.delete(viewer.sessionId);
        // Tracked, so shutdown lets the offline notice go out before the pools close.
        void pipeline.inFlight
          .track(presence.disconnected(deps, viewer.id))
          .catch((err) => deps.logger.warn({ err }, 'presence update failed'));
      },
      // Parse and validate here so that a bad document is an error for that operation, not a
      // broken connection (graphql-ws closes the socket when parsing throws inside it).
      onSubscribe: async (ctx, id, payload) => {
        if (Object.keys(ctx.subscriptions).length > opts.operationsPerConnection) {
          return [
            new GraphQLError(`At most ${opts.operationsPerConnection} operations per connection`, {
              extensions: { code: 'RATE_LIMITED' },
            }),
          ];
        }
        const connection = connections.get(ctx) ?? { viewer: null, clientIp: 'unknown' };
        // A caller flooding past its query budget is not parsed for: the socket closes (4429).
        const flooding = await pipeline.floodingFor({ userId: connection.viewer?.id, clientIp: connection.clientIp });
        if (flooding !== null) {
          ctx.extra.socket.close(WS_CLOSE.tooManyConnections, 'Too many requests');
          return [toGraphQLError(rateLimited(Math.max(1, Math.ceil(flooding / 1000))))];
        }
        const document = pipeline.prepare(payload.query);
        if (!('kind' in document)) {
          const limited = await pipeline.chargeRefused({ transport: 'ws', ...connection });
          return [...(limited.length ? limited : document)];
        }
        if (connection.viewer) {
          // The session may have ended while no message could say so (pub/sub down): the cache
          // re-reads it once its entry is stale. Cheap otherwise.
          try {
            await pipeline.recheck(connection.viewer);
          } catch (error) {
            if (isUnauthenticated(error)) ctx.extra.socket.close(CloseCode.Forbidden, 'Session ended');
            if (error instanceof GraphQLError) return [error];
            throw error;
          }
        }
        const type = getOperationAST(document, payload.operationName)?.operation;
        const refused = await pipeline.admit({
          transport: 'ws',
          type,
          operationName: payload.operationName,
          ...connection,
        });
        if (refused.length) return [...refused];
        if (type !== OperationTypeNode.SUBSCRIPTION) (connection.running ??= new Set()).add(id);
        return { schema, document, operationName: payload.operationName, variableValues: payload.variables };
      },
      // Counted once the stream is set up (the subscriber is listening), unless the client
      // completed it meanwhile: then graphql-ws drops it, and onComplete has already run.
      onOperation: (ctx, id, _payload, _args, result) => {
        if (!isAsyncIterable(result) || !(id in ctx.subscriptions)) return;
        liveSubscriptions(ctx).add(id);
        metrics.wsSubscriptions.inc();
        metrics.wsSubscriptionsEstablished.inc();
      },
      context: (ctx, id, payload, args) => {
        const connection = connections.get(ctx) ?? { viewer: null, clientIp: 'unknown' };
        const context = pipeline.context(
          { viewer: connection.viewer, clientIp: connection.clientIp },
          pipeline.scope('ws', payload.operationName),
        );
        pipeline.startDeadline(context, getOperationAST(args.document, args.operationName)?.operation);
        const { socket } = ctx.extra;
        subscribers.set(context, {
          payload,
          key: {
            query: payload.query,
            operationName: payload.operationName,
            variables: payload.variables,
            viewer: connection.viewer,
          },
          member: new OperationMember(id, outputs.get(socket)),
        });
        return context;
      },
      onNext: (_ctx, _id, _payload, args, result) => formatResult(result, args),
      // Called for every operation that ends: completed by either side, or its socket closed.
      onComplete: (ctx, id) => {
        if (liveSubscriptions(ctx).delete(id)) return metrics.wsSubscriptions.dec();
        const connection = connections.get(ctx);
        if (!connection?.running?.delete(id)) return;
        // After this hook graphql-ws sends the operation's complete message; the close follows it.
        if (connection.closing && connection.running.size === 0) setImmediate(() => closeEnded(connection));
      },
      onError: (_ctx, _id, payload, errors) =>
        errors.map((e) =>
          pipeline.formatError(e, 'ws', pipeline.scope('ws', payload.operationName)),
        ) as unknown as readonly GraphQLError[],
    },
    wsServer,
    config.wsKeepAliveSeconds * 1000,
  );
}
