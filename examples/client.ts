// What every example needs: its options, a typed request over HTTP, a session that can be
// refreshed, and a graphql-ws connection that reconnects and resumes its subscriptions. The operations are the typed documents that
// `npm run codegen` generates from examples/operations/*.graphql into examples/generated/.
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import type { GraphQLFormattedError } from 'graphql';
import { createClient } from 'graphql-ws';
import type { Client, ClientOptions } from 'graphql-ws';
import WebSocket from 'ws';
import { LoginDocument, RefreshSessionDocument } from './generated/graphql.ts';
import type { SessionFragment } from './generated/graphql.ts';

export interface CommonOptions {
  /** The GraphQL endpoint, e.g. http://localhost:4000/graphql. */
  url: string;
  username: string;
  password: string;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * --url, --username and --password (or PINIT_URL, PINIT_USERNAME, PINIT_PASSWORD), plus the
 * example's own options. Defaults suit `npm start` with its demo data.
 */
export function readOptions(usage: string, own: Options) {
  const parsed = parseArgs({
    options: {
      url: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...own,
    },
    allowPositionals: true,
  });
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const common: CommonOptions = {
    url: String(values.url ?? process.env.PINIT_URL ?? 'http://localhost:4000/graphql'),
    username: String(values.username ?? process.env.PINIT_USERNAME ?? 'ada.novak0'),
    password: String(values.password ?? process.env.PINIT_PASSWORD ?? 'pinit-demo-password'),
  };
  return { ...common, values, positionals: parsed.positionals };
}

/** A GraphQL error answer, with the contract's code (UNAUTHENTICATED, CONFLICT, …). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: readonly GraphQLFormattedError[],
  ) {
    super(
      errors.map((e) => `${(e.extensions?.code as string | undefined) ?? 'ERROR'}: ${e.message}`).join('; ') ||
        `HTTP ${status}`,
    );
  }
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code as string | undefined;
  }
  /** The server says trying again later can succeed (a database fault, a subscriber fallen behind). */
  get retryable(): boolean {
    return this.errors[0]?.extensions?.retryable === true;
  }
}

/** POSTs one typed operation; returns its data or throws ApiError. */
export async function request<T, V>(
  url: string,
  document: TypedDocumentNode<T, V>,
  variables: V,
  accessToken?: string,
): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
    },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await res.json()) as { data?: T | null; errors?: GraphQLFormattedError[] };
  if (body.errors?.length || !body.data) throw new ApiError(res.status, body.errors ?? []);
  return body.data;
}

/**
 * A signed-in session. The access token lasts 15 minutes; refresh() trades the refresh token
 * for a new pair (the old refresh token stops working), and signs in again when the refresh
 * token itself was refused (expired, revoked by logoutAllSessions, or reused).
 */
export class Session {
  private constructor(
    private readonly opts: CommonOptions,
    private current: SessionFragment,
    private readonly log: (line: string) => void,
  ) {}

  static async login(opts: CommonOptions, log: (line: string) => void = () => {}): Promise<Session> {
    const { login } = await request(opts.url, LoginDocument, { username: opts.username, password: opts.password });
    log(`signed in as ${login.user.username}`);
    return new Session(opts, login, log);
  }

  get accessToken(): string {
    return this.current.accessToken;
  }

  get user(): SessionFragment['user'] {
    return this.current.user;
  }

  /** Test hook and a way to resume a stored session: replace the access token. */
  useAccessToken(token: string): void {
    this.current = { ...this.current, accessToken: token };
  }

  private refreshing?: Promise<void>;

  /** One refresh at a time: two concurrent ones would reuse a rotated token and end the login. */
  refresh(): Promise<void> {
    return (this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined)));
  }

  private async doRefresh(): Promise<void> {
    try {
      const { refreshSession } = await request(this.opts.url, RefreshSessionDocument, {
        refreshToken: this.current.refreshToken,
      });
      this.current = refreshSession;
      this.log('session refreshed');
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== 'UNAUTHENTICATED') throw error;
      const { login } = await request(this.opts.url, LoginDocument, {
        username: this.opts.username,
        password: this.opts.password,
      });
      this.current = login;
      this.log('refresh token refused; signed in again');
    }
  }

  /** An authenticated request that refreshes the session once on UNAUTHENTICATED. */
  async request<T, V>(document: TypedDocumentNode<T, V>, variables: V): Promise<T> {
    const used = this.accessToken;
    try {
      return await request(this.opts.url, document, variables, used);
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== 'UNAUTHENTICATED') throw error;
      // Someone else may have refreshed meanwhile; then the new token is all we need.
      if (this.accessToken === used) await this.refresh();
      return request(this.opts.url, document, variables, this.accessToken);
    }
  }
}

/** ws(s)://… for an http(s)://… endpoint: subscriptions share the URL. */
export const wsUrlOf = (url: string) => url.replace(/^http/, 'ws');

/** A graphql-ws client signed in as the session (the token goes in connectionParams). */
export function wsClientFor(url: string, session: Session, options: Partial<ClientOptions> = {}): Client {
  return createClient({
    url: wsUrlOf(url),
    // Node 20 has no global WebSocket; browsers and React Native need no webSocketImpl.
    webSocketImpl: WebSocket,
    connectionParams: () => ({ authorization: `Bearer ${session.accessToken}` }),
    ...options,
  });
}

/**
 * Starts a typed subscription; returns the function that stops it. GraphQL errors reach
 * `sink.error` as an ApiError; anything else there is the connection's (a close event).
 */
export function subscribeTo<T, V>(
  client: Client,
  document: TypedDocumentNode<T, V>,
  variables: V,
  sink: { next: (data: T) => void; error?: (error: unknown) => void },
): () => void {
  return client.subscribe<T>(
    { query: print(document), variables: variables as Record<string, unknown> },
    {
      next: (result) => {
        if (result.errors?.length) sink.error?.(new ApiError(0, result.errors));
        else if (result.data) sink.next(result.data as T);
      },
      // An `error` message carries the GraphQL errors themselves (RESYNC_REQUIRED mid-stream).
      error: (error) => sink.error?.(Array.isArray(error) ? new ApiError(0, error as GraphQLFormattedError[]) : error),
      complete: () => {},
    },
  );
}

type Closed = { code: number; reason: string };

/** Close codes a reconnect can't fix (README, "WebSocket close codes"). */
const FATAL_CLOSE_CODES = new Set([1009, 4400, 4409, 4429]);

/** Exponential backoff from 1 s up to 30 s, with jitter so clients don't return all at once. */
const backoffMs = (attempt: number) => Math.min(30_000, 1_000 * 2 ** attempt) * (1 + 0.2 * Math.random());

export interface LiveSubscription {
  /** Subscribes again on the current connection, with `variables()` read anew. */
  restart(): void;
  stop(): void;
}

export interface LiveConnectionOptions {
  /** Ends reconnecting; dispose() closes the socket. */
  signal: AbortSignal;
  log: (line: string) => void;
  /** After each connection is acknowledged; `reconnected` is false for the first. */
  onConnected?: (reconnected: boolean) => void;
  /** A close no reconnect can fix, or a session that could not be refreshed. */
  onFatal: (error: unknown) => void;
}

/**
 * A graphql-ws connection that reconnects after any disconnect (backoff with jitter; after 4403
 * it refreshes the session first) and subscribes again with each subscription's current
 * variables, so a subscription that passes `after: <last cursor received>` resumes where it
 * was. graphql-ws's own retries can't do that: they re-send a subscription's first variables.
 */
export class LiveConnection {
  private readonly client: Client;
  /** Subscriptions that are to run; one ended by a GraphQL error waits for restart(). */
  private readonly active = new Set<{ start(): void; halt(): void }>();
  private connections = 0;
  private failedAttempts = 0;
  private reconnecting = false;
  private disposed = false;
  /** The token the current connection signed in with: the one a 4403 refused. */
  private usedToken?: string;

  constructor(
    url: string,
    private readonly session: Session,
    private readonly options: LiveConnectionOptions,
  ) {
    this.client = wsClientFor(url, session, {
      // Connects with the first subscription; reconnect() does the retrying.
      lazy: true,
      retryAttempts: 0,
      connectionParams: () => {
        this.usedToken = session.accessToken;
        return { authorization: `Bearer ${session.accessToken}` };
      },
      on: {
        connected: () => {
          this.failedAttempts = 0;
          options.onConnected?.(this.connections++ > 0);
        },
        closed: (event) => void this.reconnect(event as Closed).catch(options.onFatal),
      },
    });
  }

  /**
   * Starts a subscription that outlives disconnects. `variables` is read at every (re)subscribe.
   * `sink.error` gets the GraphQL errors the app must decide on (RESYNC_REQUIRED,
   * BAD_USER_INPUT, …); the subscription has ended then, until restart().
   */
  subscribe<T, V>(
    document: TypedDocumentNode<T, V>,
    variables: () => V,
    sink: { next: (data: T) => void; error: (error: ApiError) => void },
  ): LiveSubscription {
    let unsubscribe: (() => void) | undefined;
    let stopped = false;
    const entry = {
      start: () => {
        unsubscribe = subscribeTo(this.client, document, variables(), {
          next: sink.next,
          error: (error) => {
            // A close or a network error: reconnect() starts the subscription again.
            if (!(error instanceof ApiError)) return;
            this.active.delete(entry);
            if (!error.retryable) return sink.error(error);
            // E.g. more than 1000 changes behind: resume from the last cursor received.
            this.options.log(`subscription interrupted (${error.message}); subscribing again`);
            void sleep(backoffMs(0), this.options.signal).then(() => this.options.signal.aborted || restart());
          },
        });
      },
      halt: () => {
        unsubscribe?.();
        unsubscribe = undefined;
      },
    };
    const restart = () => {
      if (stopped) return;
      entry.halt();
      this.active.add(entry);
      // While disconnected, reconnect() starts it, with the variables of that moment.
      if (!this.reconnecting) entry.start();
    };
    restart();
    return {
      restart,
      stop: () => {
        stopped = true;
        this.active.delete(entry);
        entry.halt();
      },
    };
  }

  private async reconnect({ code, reason }: Closed) {
    const { signal, log } = this.options;
    // Closed by us: dispose(), or nothing left to follow.
    if (this.disposed || signal.aborted || this.active.size === 0) return;
    log(`connection closed (${code}${reason ? `: ${reason}` : ''})`);
    if (FATAL_CLOSE_CODES.has(code)) throw new Error(`connection closed with ${code}; not reconnecting`);
    this.reconnecting = true;
    try {
      // Let go of the old subscriptions: after a 1000 graphql-ws would re-send them as they were.
      for (const entry of this.active) entry.halt();
      const ms = backoffMs(this.failedAttempts++);
      log(`reconnecting in ${(ms / 1000).toFixed(1)} s`);
      await sleep(ms, signal);
      // 4403: the token was refused or has expired. Refresh it, unless that happened meanwhile.
      if (code === 4403 && this.usedToken === this.session.accessToken && !signal.aborted) {
        log('refreshing the session before reconnecting');
        await this.session.refresh();
      }
    } finally {
      this.reconnecting = false;
    }
    if (this.disposed || signal.aborted) return;
    for (const entry of this.active) entry.start();
  }

  /** Closes the socket for good. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.client.dispose();
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** Aborts on Ctrl-C, SIGTERM, or after `seconds` when given. */
export function stopSignal(seconds?: number): AbortSignal {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (seconds !== undefined && Number.isFinite(seconds)) {
    const timer = setTimeout(stop, seconds * 1000);
    controller.signal.addEventListener('abort', () => clearTimeout(timer));
  }
  return controller.signal;
}
