// With GRAPHIQL off (the production default), what a newcomer meets names the setting: the page
// a browser gets at GET /graphql, and the refusal of introspection over HTTP and WebSocket.
// Nothing from Apollo's wording ("pass introspection: true to ApolloServer", its CSRF error).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, wsClient } from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const INTROSPECTION = '{ __schema { queryType { name } } }';

function wsResult(server: TestServer, query: string) {
  const client = wsClient(server);
  return new Promise<{ data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }>(
    (resolve, reject) => {
      let result = {};
      client.subscribe(
        { query },
        {
          next: (value) => (result = value),
          error: (error) =>
            Array.isArray(error) ? resolve({ errors: error }) : reject(new Error('socket failed', { cause: error })),
          complete: () => resolve(result),
        },
      );
    },
  ).finally(() => client.dispose());
}

describe('GraphiQL off in production', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { NODE_ENV: 'production', STORAGE: 'disk' } });
  });
  afterAll(() => server?.close());

  it('answers a browser opening GET /graphql with a plain line naming GRAPHIQL, not a CSRF error', async () => {
    // What a browser sends on navigation: no preflight header, no content type.
    const res = await fetch(server.graphqlUrl, { headers: { accept: BROWSER_ACCEPT } });
    const body = await res.text();
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(body.split('\n')[0]).toBe('GraphiQL is off on this server (set GRAPHIQL=true to turn it on).');
    expect(body).not.toMatch(/csrf|preflight/i);
    expect(res.headers.get('vary')).toMatch(/accept/i);
  });

  it('still leaves other requests to the API', async () => {
    const res = await fetch(`${server.graphqlUrl}?query=%7B__typename%7D`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
    // Apollo's own CSRF refusal still protects GETs that are not navigations to the page.
    const bare = await fetch(`${server.graphqlUrl}?query=%7B__typename%7D`, {
      headers: { accept: 'application/json' },
    });
    expect(bare.status).toBe(400);
  });

  it('refuses introspection over HTTP with a message naming GRAPHIQL', async () => {
    const res = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: INTROSPECTION }),
    });
    const body = (await res.json()) as { data?: unknown; errors?: Array<{ message: string }> };
    expect(body.data).toBeUndefined();
    expect(codes(body)).toEqual(['BAD_USER_INPUT']);
    expect(body.errors![0]!.message).toBe(
      'Introspection is off on this server (set GRAPHIQL=true to turn it on), but the query asks for "__schema"; apps generate their types from schema.graphql instead.',
    );
    expect(JSON.stringify(body)).not.toContain('ApolloServer');
  });

  it('refuses introspection over WebSocket with the same message', async () => {
    const ws = await wsResult(server, '{ __type(name: "Event") { name } }');
    expect(ws.data).toBeUndefined();
    expect(ws.errors).toHaveLength(1);
    expect(ws.errors![0]!.message).toBe(
      'Introspection is off on this server (set GRAPHIQL=true to turn it on), but the query asks for "__type"; apps generate their types from schema.graphql instead.',
    );
    expect(ws.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
    // __typename is not introspection.
    expect((await wsResult(server, '{ __typename }')).data).toEqual({ __typename: 'Query' });
  });
});

describe('GRAPHIQL=true in production', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { NODE_ENV: 'production', STORAGE: 'disk', GRAPHIQL: 'true' } });
  });
  afterAll(() => server?.close());

  it('serves the page and allows introspection', async () => {
    const page = await fetch(server.graphqlUrl, { headers: { accept: BROWSER_ACCEPT } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="graphiql">');
    const res = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: INTROSPECTION }),
    });
    expect(await res.json()).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
  });
});
