// GraphQL over HTTP as the benchmark clients speak it: plain fetch, JSON, Bearer tokens. No
// codegen documents: the bench sends the operations apps send, written out where they are used.
import { randomBytes } from 'node:crypto';
import { createClient } from 'graphql-ws';
import type { Client, ClientOptions } from 'graphql-ws';
import WebSocket from 'ws';

/** The data of an operation whose caller gives no type: it reads the fields it asked for. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- deliberately untyped, like the operations written inline
export type UntypedData = Record<string, any>;

export interface GqlResponse<T = UntypedData> {
  status: number;
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** A GraphQL-over-HTTP request body; `extensions` carries persisted-query hashes. */
export interface GqlBody {
  query?: string;
  variables?: Record<string, unknown>;
  extensions?: Record<string, unknown>;
}

/** POSTs one request body. Never throws for GraphQL errors; network failures do throw. */
export async function post<T = UntypedData>(
  graphqlUrl: string,
  body: GqlBody,
  token?: string,
): Promise<GqlResponse<T>> {
  const res = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const answer = (await res
    .json()
    .catch(() => ({ errors: [{ message: `non-JSON answer (HTTP ${res.status})` }] }))) as Omit<
    GqlResponse<T>,
    'status'
  >;
  return { status: res.status, ...answer };
}

/** The data of a successful request; throws with the errors otherwise (for setup steps). */
export async function postOk<T = UntypedData>(graphqlUrl: string, body: GqlBody, token?: string): Promise<T> {
  const result = await post<T>(graphqlUrl, body, token);
  if (result.status !== 200 || result.errors?.length || !result.data) {
    const what = body.query ? body.query.trim().split(/\s+/).slice(0, 3).join(' ') : 'persisted query';
    throw new Error(`${what} failed (HTTP ${result.status}): ${JSON.stringify(result.errors)}`);
  }
  return result.data;
}

/** POSTs one operation. Never throws for GraphQL errors; network failures do throw. */
export const gql = <T = UntypedData>(
  graphqlUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
) => post<T>(graphqlUrl, { query, variables }, token);

/** The data of a successful operation; throws with the errors otherwise (for setup steps). */
export const gqlOk = <T = UntypedData>(
  graphqlUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
) => postOk<T>(graphqlUrl, { query, variables }, token);

export interface BenchUser {
  id: string;
  username: string;
  accessToken: string;
}

const PASSWORD = 'bench-password-not-secret';

/** Registers a user through the API (argon2id on the server: a few tens of ms each). */
export async function registerUser(graphqlUrl: string, prefix = 'bench'): Promise<BenchUser> {
  const username = `${prefix}_${randomBytes(5).toString('hex')}`;
  const { register } = await gqlOk<{ register: { accessToken: string; user: { id: string } } }>(
    graphqlUrl,
    'mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }',
    { input: { username, password: PASSWORD, fullName: `Bench ${username}` } },
  );
  return { id: register.user.id, username, accessToken: register.accessToken };
}

/** Registers `count` users, a few at a time (the server hashes passwords on its CPU). */
export async function registerUsers(
  graphqlUrl: string,
  count: number,
  prefix = 'bench',
  concurrency = 4,
): Promise<BenchUser[]> {
  const users: BenchUser[] = [];
  for (let i = 0; i < count; i += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, count - i) }, () => registerUser(graphqlUrl, prefix));
    users.push(...(await Promise.all(batch)));
  }
  return users;
}

/** Makes `a` and `b` friends through the API (request, accept) and returns their direct chat's id. */
export async function befriendAndOpenChat(graphqlUrl: string, a: BenchUser, b: BenchUser): Promise<string> {
  const { sendFriendRequest } = await gqlOk<{ sendFriendRequest: { id: string } }>(
    graphqlUrl,
    'mutation Request($userId: ID!) { sendFriendRequest(userId: $userId) { id } }',
    { userId: b.id },
    a.accessToken,
  );
  await gqlOk(
    graphqlUrl,
    'mutation Accept($requestId: ID!) { acceptFriendRequest(requestId: $requestId) { id } }',
    { requestId: sendFriendRequest.id },
    b.accessToken,
  );
  const { openDirectChat } = await gqlOk<{ openDirectChat: { id: string } }>(
    graphqlUrl,
    'mutation Open($userId: ID!) { openDirectChat(userId: $userId) { id } }',
    { userId: b.id },
    a.accessToken,
  );
  return openDirectChat.id;
}

const HOUR = 3600_000;

/** A public event input an hour from now; the host must be certified. */
export function eventInput(latitude: number, longitude: number, title: string, extra: Record<string, unknown> = {}) {
  const startsAt = Date.now() + HOUR;
  return {
    title,
    latitude,
    longitude,
    startsAt: new Date(startsAt).toISOString(),
    endsAt: new Date(startsAt + 2 * HOUR).toISOString(),
    isPublic: true,
    ...extra,
  };
}

/**
 * A graphql-ws client signed in as `token`, connecting at once and never retrying: a bench
 * socket that drops is an error to count, not something to hide behind a reconnect.
 */
export function signedInSocket(wsUrl: string, token: string, on?: ClientOptions['on']): Client {
  return createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
    retryAttempts: 0,
    on,
  });
}
