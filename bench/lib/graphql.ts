// Small GraphQL-over-HTTP helpers for setting up benchmark cases (not for the measured load,
// which autocannon generates).

export interface GraphqlBody {
  query?: string;
  variables?: Record<string, unknown>;
  extensions?: Record<string, unknown>;
}

export interface GraphqlResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

/** POSTs one operation; throws when the answer carries errors, so set-up fails loudly. */
export async function graphqlOk<T>(graphqlUrl: string, body: GraphqlBody, token?: string): Promise<T> {
  const res = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as GraphqlResponse<T>;
  if (json.errors?.length || !json.data) throw new Error(`GraphQL request failed (${res.status}): ${JSON.stringify(json.errors)}`);
  return json.data;
}

export const BENCH_PASSWORD = 'bench-password-123';

/** Registers a user through the API, as an app would; returns its id and access token. */
export async function signUp(graphqlUrl: string, username: string): Promise<{ id: string; token: string }> {
  const data = await graphqlOk<{ register: { accessToken: string; user: { id: string } } }>(graphqlUrl, {
    query: 'mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }',
    variables: { input: { username, password: BENCH_PASSWORD } },
  });
  return { id: data.register.user.id, token: data.register.accessToken };
}
