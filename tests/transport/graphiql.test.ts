// GraphiQL over plain HTTP: who gets the page, that its assets are our own files, that GET
// queries still reach Apollo, and that GRAPHIQL switches the page and introspection together
// (HTTP and WebSocket). The browser side is tests/e2e/graphiql.test.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { codes, wsClient } from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const require = createRequire(import.meta.url);
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const INTROSPECTION = '{ __schema { queryType { name } } }';

const nodeModuleFile = (pkg: string, file: string) =>
  readFileSync(join(dirname(require.resolve(`${pkg}/package.json`)), file));

async function getGraphql(server: TestServer, accept: string, search = '') {
  const res = await fetch(`${server.graphqlUrl}${search}`, { headers: { accept, 'apollo-require-preflight': 'true' } });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    headers: res.headers,
    body: await res.text(),
  };
}

async function post(server: TestServer, query: string) {
  const res = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  return {
    status: res.status,
    ...((await res.json()) as {
      data?: unknown;
      errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
    }),
  };
}

function wsIntrospection(server: TestServer) {
  const client = wsClient(server);
  return new Promise<{ data?: unknown; errors?: unknown[] }>((resolve, reject) => {
    let result: { data?: unknown; errors?: unknown[] } = {};
    client.subscribe(
      { query: INTROSPECTION },
      {
        next: (value) => (result = value as typeof result),
        error: (error) =>
          Array.isArray(error) ? resolve({ errors: error }) : reject(new Error('socket failed', { cause: error })),
        complete: () => resolve(result),
      },
    );
  }).finally(() => client.dispose());
}

describe('the GRAPHIQL setting', () => {
  const production = { NODE_ENV: 'production', JWT_SECRET: 's'.repeat(40), STORAGE: 'disk' };

  it('is on outside production, off in production unless asked for', () => {
    expect(loadConfig({}).graphiql).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).graphiql).toBe(true);
    expect(loadConfig(production).graphiql).toBe(false);
    expect(loadConfig({ ...production, GRAPHIQL: 'true' }).graphiql).toBe(true);
    expect(loadConfig({ GRAPHIQL: 'false' }).graphiql).toBe(false);
  });

  it('rejects anything but a boolean, naming the variable', () => {
    expect(() => loadConfig({ GRAPHIQL: 'maybe' })).toThrow('Invalid configuration: GRAPHIQL must be true or false');
  });
});

describe('GraphiQL on (the default outside production)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('serves the page to browsers at GET /graphql, with a policy that keeps it on our origin', async () => {
    const page = await getGraphql(server, BROWSER_ACCEPT);
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/^text\/html/);
    expect(page.body).toContain('<div id="graphiql">');
    expect(page.body).not.toMatch(/https?:\/\//);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(page.headers.get('vary')).toMatch(/accept/i);
  });

  it("serves its scripts and styles from our own dependencies' files", async () => {
    const { body } = await getGraphql(server, BROWSER_ACCEPT);
    const sources = [...body.matchAll(/(?:src|href)="(graphiql\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(sources).toHaveLength(5);
    const fetched = await Promise.all(
      sources.map(async (path) => {
        const res = await fetch(`${server.url}/${path}`);
        return {
          path,
          status: res.status,
          type: res.headers.get('content-type') ?? '',
          bytes: Buffer.from(await res.arrayBuffer()),
        };
      }),
    );
    for (const asset of fetched) {
      expect(asset.status, asset.path).toBe(200);
      expect(asset.type, asset.path).toMatch(asset.path.endsWith('.css') ? /^text\/css/ : /javascript/);
    }
    const named = (name: RegExp) => fetched.find((a) => name.test(a.path.replace('graphiql/assets/', '')))!.bytes;
    expect(named(/^react-[\d.]+\.js$/).equals(nodeModuleFile('react', 'umd/react.production.min.js'))).toBe(true);
    expect(named(/^react-dom-[\d.]+\.js$/).equals(nodeModuleFile('react-dom', 'umd/react-dom.production.min.js'))).toBe(
      true,
    );
    expect(named(/^graphiql-[\d.]+\.js$/).equals(nodeModuleFile('graphiql', 'graphiql.min.js'))).toBe(true);
    // The boot script sends the headers editor's Authorization as graphql-ws connectionParams.
    expect(named(/^graphiql-[\d.]+\.css$/).equals(nodeModuleFile('graphiql', 'graphiql.min.css'))).toBe(true);
    const boot = named(/^pinit-graphiql-\w+\.js$/).toString();
    expect(boot).toContain('subscriptionUrl');
    expect(boot).toContain('wsConnectionParams');

    expect((await fetch(`${server.url}/graphiql/assets/package.json`)).status).toBe(404);
    expect((await fetch(`${server.url}/graphiql/assets/..%2Fpackage.json`)).status).toBe(404);
  });

  it('leaves GET requests that do not ask for HTML to Apollo', async () => {
    const query = await getGraphql(server, 'application/json', '?query=%7B__typename%7D');
    expect(query.status).toBe(200);
    expect(JSON.parse(query.body)).toEqual({ data: { __typename: 'Query' } });
    // No query and no HTML wanted: Apollo's answer, not a landing page.
    const bare = await getGraphql(server, '*/*');
    expect(bare.type).toMatch(/json/);
    expect(bare.status).toBe(400);
  });

  it('allows introspection over HTTP and WebSocket', async () => {
    expect((await post(server, INTROSPECTION)).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    expect((await wsIntrospection(server)).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });
});

describe('GraphiQL off (GRAPHIQL=false, the production default)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { GRAPHIQL: 'false' } });
  });
  afterAll(() => server?.close());

  it('serves no page and no assets, and no landing page of Apollo either', async () => {
    const page = await getGraphql(server, BROWSER_ACCEPT);
    expect(page.type).not.toMatch(/html/);
    expect(page.body).not.toContain('<html');
    const assets = await fetch(`${server.url}/graphiql/assets/react-18.3.1.js`);
    expect(assets.status).toBe(404);
  });

  it('refuses introspection over HTTP and WebSocket, while ordinary queries work', async () => {
    const http = await post(server, INTROSPECTION);
    expect(http.data).toBeUndefined();
    expect(codes(http)).toEqual(['BAD_USER_INPUT']);
    expect(http.errors?.[0]?.message).toMatch(/introspection/i);

    const ws = await wsIntrospection(server);
    expect(ws.data).toBeUndefined();
    expect(JSON.stringify(ws.errors)).toMatch(/introspection/i);

    expect((await post(server, '{ __typename }')).data).toEqual({ __typename: 'Query' });
  });
});
