// Clients as apps use them: typed documents from codegen over real HTTP and graphql-ws.
import { decodeJwt } from 'jose';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import type { GraphQLFormattedError } from 'graphql';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { LoginDocument, RegisterDocument } from '../generated/graphql.ts';
import { eventually } from './eventually.ts';
import type { TestServer } from './server.ts';

export interface GqlResult<T> {
  status: number;
  data?: T | null;
  errors?: GraphQLFormattedError[];
}

export interface RequestOptions {
  token?: string;
  headers?: Record<string, string>;
}

/** POSTs a typed operation to /graphql. */
export async function gql<T, V>(
  server: Pick<TestServer, 'graphqlUrl'>,
  document: TypedDocumentNode<T, V>,
  variables?: V,
  opts: RequestOptions = {},
): Promise<GqlResult<T>> {
  const res = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...opts.headers,
    },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await res.json()) as Omit<GqlResult<T>, 'status'>;
  return { status: res.status, ...body };
}

/** The data of a successful operation; fails the test with the errors otherwise. */
export async function gqlOk<T, V>(
  server: Pick<TestServer, 'graphqlUrl'>,
  document: TypedDocumentNode<T, V>,
  variables?: V,
  opts?: RequestOptions,
): Promise<T> {
  const result = await gql(server, document, variables, opts);
  if (result.errors?.length || !result.data) {
    throw new Error(`expected success, got ${result.status}: ${JSON.stringify(result.errors)}`);
  }
  return result.data;
}

/** The error codes of a result, in order. */
export const codes = (result: { errors?: readonly GraphQLFormattedError[] }) =>
  (result.errors ?? []).map((e) => e.extensions?.code);

/** How a result was refused: its error codes, and the input field the first error names. */
export const refusal = (result: { errors?: readonly GraphQLFormattedError[] }) => ({
  codes: codes(result),
  field: result.errors?.[0]?.extensions?.field,
});

let userCounter = 0;
export const uniqueName = (prefix = 'user') =>
  `${prefix}_${Date.now().toString(36)}${(userCounter++).toString(36)}${Math.floor(Math.random() * 1e4)}`.slice(0, 30);

export const TEST_PASSWORD = 'correct horse battery';

/** The session an access token names (its `sid` claim), for tests that sign tokens of their own. */
export const sessionIdOf = (accessToken: string): string => String(decodeJwt(accessToken).sid);

/**
 * A signed-up user and their client: operations sent as them (with their current access token)
 * to the server they signed up on.
 */
export interface TestUser {
  id: string;
  username: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  /** A typed operation over HTTP, signed in as this user. */
  gql<T, V>(document: TypedDocumentNode<T, V>, variables?: V, opts?: RequestOptions): Promise<GqlResult<T>>;
  /** The data of a successful operation as this user; fails the test with the errors otherwise. */
  gqlOk<T, V>(document: TypedDocumentNode<T, V>, variables?: V): Promise<T>;
  /** A graphql-ws client signed in as this user (see wsClient); close it with `dispose()`. */
  ws(opts?: { stayConnected?: boolean }): Client;
}

/** The user's client, bound to the server; it reads the token from the object it is called on, so a copy with a new token uses that one. */
function clientFor(server: Pick<TestServer, 'graphqlUrl' | 'wsUrl'>): Pick<TestUser, 'gql' | 'gqlOk' | 'ws'> {
  return {
    gql(this: TestUser, document, variables, opts) {
      return gql(server, document, variables, { ...opts, token: this.accessToken });
    },
    gqlOk(this: TestUser, document, variables) {
      return gqlOk(server, document, variables, { token: this.accessToken });
    },
    ws(this: TestUser, opts) {
      return wsClient(server, { authorization: `Bearer ${this.accessToken}` }, opts);
    },
  };
}

/** Registers a user through the API: their tokens, and a client that signs in as them. */
export async function createUser(
  server: Pick<TestServer, 'graphqlUrl' | 'wsUrl'>,
  overrides: { username?: string; fullName?: string } = {},
): Promise<TestUser> {
  const username = overrides.username ?? uniqueName();
  const { register } = await gqlOk(server, RegisterDocument, {
    input: { username, password: TEST_PASSWORD, fullName: overrides.fullName },
  });
  return {
    id: register.user.id,
    username,
    password: TEST_PASSWORD,
    accessToken: register.accessToken,
    refreshToken: register.refreshToken,
    ...clientFor(server),
  };
}

/** Makes an admin: registers the user, grants ADMIN in the database, and logs in again for a token carrying the role. */
export async function createAdmin(server: TestServer): Promise<TestUser> {
  const user = await createUser(server);
  await server.deps.prisma.user.update({ where: { id: user.id }, data: { role: 'ADMIN' } });
  const { login } = await gqlOk(server, LoginDocument, { username: user.username, password: user.password });
  return { ...user, accessToken: login.accessToken, refreshToken: login.refreshToken };
}

/**
 * A graphql-ws client; close it with `await client.dispose()`. Lazy by default (connects for
 * its first operation, closes after its last); `stayConnected` keeps the socket open, as an app
 * screen does.
 */
export function wsClient(
  server: Pick<TestServer, 'wsUrl'>,
  connectionParams?: Record<string, unknown>,
  { stayConnected = false } = {},
): Client {
  return createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: !stayConnected,
    // Tests close servers under open sockets on purpose; they assert on what they expect.
    onNonLazyError: () => {},
  });
}

/** Runs one operation over a graphql-ws client and resolves with its single result. */
export function wsRequest<T, V>(
  client: Client,
  document: TypedDocumentNode<T, V>,
  variables?: V,
): Promise<GqlResult<T>> {
  return new Promise((resolve, reject) => {
    let result: GqlResult<T> = { status: 0 };
    client.subscribe(
      { query: print(document), variables: variables as Record<string, unknown> | undefined },
      {
        next: (value) => {
          result = { status: 0, data: value.data as T, errors: value.errors as GraphQLFormattedError[] | undefined };
        },
        error: reject,
        complete: () => resolve(result),
      },
    );
  });
}

/**
 * SQL statements the server ran for `fn`'s requests while it ran. Run one request at a time. The
 * session check is left out: it reads the database once per session per SESSION_CACHE_TTL_MS,
 * on whichever request comes first after its entry expired (a slow file outlives a minute).
 */
export async function countStatements(server: TestServer, fn: () => Promise<unknown>): Promise<number> {
  let count = 0;
  const stop = server.deps.db.onStatement((text) => {
    if (!SESSION_CHECK.test(text)) count += 1;
  });
  try {
    await fn();
  } finally {
    stop();
  }
  return count;
}
/** The session check's read (src/auth/sessions.ts: a session family with its user's role). */
const SESSION_CHECK =
  /^SELECT "t0"\."id", "t0"\."user_id" AS "userId", "t0"\."revoked_at" AS "revokedAt", "SessionFamily_user"/;

/**
 * Subscriptions the server has established so far: pinit_ws_subscriptions_established_total
 * rises once graphql-ws holds the stream (after authorization and the pub/sub subscribe). A
 * counter, not the live gauge, so subscriptions ending meanwhile cannot blur it.
 */
const liveSubscriptions = async (server: Pick<TestServer, 'deps'>) =>
  (await server.deps.metrics.wsSubscriptionsEstablished.get()).values[0]?.value ?? 0;

/**
 * Subscriptions being opened at once on one server: each waits until the server has established
 * all of them but those it refused, so concurrent callers cannot mistake another's for theirs.
 */
interface Batch {
  before: number;
  started: number;
  refused: number;
  pending: number;
}
const batches = new WeakMap<object, Batch>();

async function joinBatch(server: Pick<TestServer, 'deps'>): Promise<Batch> {
  let batch = batches.get(server.deps);
  if (!batch) {
    batch = { before: 0, started: 0, refused: 0, pending: 0 };
    batches.set(server.deps, batch);
    batch.before = await liveSubscriptions(server);
  }
  batch.started += 1;
  batch.pending += 1;
  return batch;
}

function leaveBatch(server: Pick<TestServer, 'deps'>, batch: Batch): void {
  batch.pending -= 1;
  if (batch.pending === 0 && batches.get(server.deps) === batch) batches.delete(server.deps);
}

export interface LiveSubscription<T> {
  /** Every payload received so far. */
  received: T[];
  /** Errors the server sent for this subscription. */
  errors: unknown[];
  /** Resolves with the first payload (received before or after the call) that matches. */
  next(match: (value: T) => boolean, timeoutMs?: number): Promise<T>;
  /** Resolves when the server completes the subscription or it fails. */
  finished: Promise<void>;
  stop(): void;
}

/**
 * Starts a subscription and resolves once the server listens: the subscriber's pub/sub has
 * confirmed its topics (ping waits for pending SUBSCRIBEs on Redis).
 */
export async function subscribe<T, V>(
  server: Pick<TestServer, 'deps'>,
  client: Client,
  document: TypedDocumentNode<T, V>,
  variables?: V,
): Promise<LiveSubscription<T>> {
  const received: T[] = [];
  const errors: unknown[] = [];
  const waiters: Array<() => void> = [];
  const batch = await joinBatch(server);
  let ended = false;
  let markFinished!: () => void;
  const finished = new Promise<void>((resolve) => (markFinished = resolve));
  const stop = client.subscribe(
    { query: print(document), variables: variables as Record<string, unknown> | undefined },
    {
      next: (value) => {
        if (value.errors?.length) errors.push(...value.errors);
        if (value.data) received.push(value.data as T);
        for (const wake of waiters.splice(0)) wake();
      },
      error: (error) => {
        errors.push(error);
        if (!ended) batch.refused += 1;
        ended = true;
        markFinished();
        for (const wake of waiters.splice(0)) wake();
      },
      complete: () => {
        if (!ended) batch.refused += 1;
        ended = true;
        markFinished();
      },
    },
  );
  try {
    await eventually(async () => (await liveSubscriptions(server)) >= batch.before + batch.started - batch.refused, {
      what: `${batch.started - batch.refused} subscription(s) to be established on the server`,
    });
  } finally {
    leaveBatch(server, batch);
  }
  await server.deps.pubsub.ping();
  return {
    received,
    errors,
    finished,
    stop,
    async next(match, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = received.find(match);
        if (found) return found;
        if (errors.length) throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(`no matching payload within ${timeoutMs} ms; received ${JSON.stringify(received)}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, left).unref();
        });
      }
    },
  };
}

/** A result as a client without generated types reads it. */
export interface RawResult {
  data?: unknown;
  errors?: Array<{ message: string; extensions?: { code?: string; field?: string; reason?: string } }>;
}

/** POSTs a raw document as JSON (signed in when a token is given): the HTTP status and the body. */
export async function postQuery(
  server: Pick<TestServer, 'graphqlUrl'>,
  query: string,
  token?: string,
  variables?: Record<string, unknown>,
  operationName?: string,
): Promise<{ status: number; body: RawResult }> {
  const res = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables, operationName }),
  });
  return { status: res.status, body: (await res.json()) as RawResult };
}

/** Runs a raw document over a fresh graphql-ws connection (signed in when a token is given): its first result, or the refusal. */
export async function wsQuery(
  server: Pick<TestServer, 'wsUrl'>,
  query: string,
  { token, variables }: { token?: string; variables?: Record<string, unknown> } = {},
): Promise<RawResult> {
  const client = wsClient(server, token ? { authorization: `Bearer ${token}` } : undefined);
  try {
    return await new Promise<RawResult>((resolve) => {
      client.subscribe(
        { query, variables },
        { next: (v) => resolve(v as RawResult), error: (e) => resolve({ errors: e as never }), complete: () => {} },
      );
    });
  } finally {
    await client.dispose();
  }
}

/** The server's /metrics text, read from its metrics listener as a scraper would. */
export async function scrape(server: Pick<TestServer, 'metricsUrl'>): Promise<string> {
  if (!server.metricsUrl) throw new Error('this server has no metrics listener (METRICS_PORT=off)');
  const res = await fetch(`${server.metricsUrl}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** The sum of a Prometheus series over its labels, read from /metrics as a scraper would. */
export async function metric(server: Pick<TestServer, 'metricsUrl'>, name: string): Promise<number> {
  return (await scrape(server))
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}
