// GraphiQL for people exploring the API: a browser asking GET /graphql for HTML gets the IDE.
// Its scripts and styles come from our own dependencies (graphiql's prebuilt UMD bundle on the
// UMD builds of React 18), served under /graphiql/assets, so it works without a CDN or a
// bundler, air-gapped included. Queries run over HTTP and subscriptions over graphql-ws on the
// same URL; the Authorization header typed into the headers editor goes both ways, so one
// login serves both. Introspection follows the same switch (GRAPHIQL); when it is off, both
// the page and introspection answer with a message naming GRAPHIQL.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Router } from 'express';
import type { Request, RequestHandler } from 'express';
import { getNamedType, GraphQLError, isIntrospectionType } from 'graphql';
import type { ValidationRule } from 'graphql';

const require = createRequire(import.meta.url);

// The packages hide their UMD files behind `exports`; package.json is exported, so start there.
function packageFile(name: string, file: string): { path: string; version: string } {
  const manifest = require.resolve(`${name}/package.json`);
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return { path: join(dirname(manifest), file), version };
}

/** The first operation an empty editor shows: how to sign in and where the token goes. */
const DEFAULT_QUERY = `# Welcome to the PinIt API.
#
# 1. Run Login. With demo data (SEED_DEMO) every
#    account's password is pinit-demo-password.
# 2. Under "Headers" below, enter
#      { "Authorization": "Bearer <accessToken>" }
#    It goes with every HTTP request and, as
#    connectionParams, with the WebSocket, so
#    subscriptions run signed in too.
# 3. Run Me, or start LiveMap and change an event.

mutation Login {
  login(username: "ada.novak0", password: "pinit-demo-password") {
    accessToken
    refreshToken
    user { id username }
  }
}

query Me {
  me { id username }
}

subscription LiveMap {
  eventChanged(bounds: { south: 52.3, west: 13.1, north: 52.7, east: 13.7 }) {
    kind
    eventId
    version
    event { id title startsAt }
  }
}
`;

// Runs in the browser, after React, ReactDOM and GraphiQL's UMD bundles. Kept in a file of its
// own (not inline) so the page's Content-Security-Policy can forbid inline scripts.
const BOOT_SCRIPT = `(function () {
  'use strict';
  // The page is served at the GraphQL endpoint itself, so this holds behind a path prefix too.
  var httpUrl = location.origin + location.pathname.replace(/\\/+$/, '');
  var wsUrl = httpUrl.replace(/^http/, 'ws');

  function authorizationOf(headers) {
    for (var name in headers || {}) {
      if (name.toLowerCase() === 'authorization') return String(headers[name]);
    }
    return undefined;
  }

  // One fetcher per Authorization value: graphql-ws sends connectionParams once per socket,
  // so a new token needs a new socket. The HTTP side sends the editor's headers as they are.
  var fetchers = new Map();
  function fetcherFor(authorization) {
    var key = authorization || '';
    var fetcher = fetchers.get(key);
    if (!fetcher) {
      if (fetchers.size > 20) fetchers.clear();
      fetcher = GraphiQL.createFetcher({
        url: httpUrl,
        subscriptionUrl: wsUrl,
        wsConnectionParams: authorization ? { authorization: authorization } : {},
      });
      fetchers.set(key, fetcher);
    }
    return fetcher;
  }

  function fetcher(params, options) {
    return fetcherFor(authorizationOf(options && options.headers))(params, options);
  }

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: ${JSON.stringify(DEFAULT_QUERY)},
      defaultEditorToolsVisibility: 'headers',
      // Tokens stay out of localStorage.
      shouldPersistHeaders: false,
    }),
  );
})();
`;

interface Asset {
  /** Served at /graphiql/assets/<name>; versioned names can be cached for good. */
  name: string;
  type: 'js' | 'css';
  path?: string;
  body?: string;
}

function assets(): Asset[] {
  const react = packageFile('react', 'umd/react.production.min.js');
  const reactDom = packageFile('react-dom', 'umd/react-dom.production.min.js');
  const graphiqlJs = packageFile('graphiql', 'graphiql.min.js');
  const graphiqlCss = packageFile('graphiql', 'graphiql.min.css');
  const bootHash = createHash('sha256').update(BOOT_SCRIPT).digest('hex').slice(0, 12);
  return [
    { name: `react-${react.version}.js`, type: 'js', path: react.path },
    { name: `react-dom-${reactDom.version}.js`, type: 'js', path: reactDom.path },
    { name: `graphiql-${graphiqlJs.version}.js`, type: 'js', path: graphiqlJs.path },
    { name: `graphiql-${graphiqlCss.version}.css`, type: 'css', path: graphiqlCss.path },
    { name: `pinit-graphiql-${bootHash}.js`, type: 'js', body: BOOT_SCRIPT },
  ];
}

function page(list: Asset[]): string {
  // Relative URLs: the page lives at .../graphql, its assets beside it at .../graphiql/assets.
  const href = (a: Asset) => `graphiql/assets/${a.name}`;
  const styles = list.filter((a) => a.type === 'css').map((a) => `  <link rel="stylesheet" href="${href(a)}">`);
  const scripts = list.filter((a) => a.type === 'js').map((a) => `  <script src="${href(a)}"></script>`);
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <title>PinIt API · GraphiQL</title>
  <link rel="icon" href="data:,">
${styles.join('\n')}
  <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
${scripts.join('\n')}
</body>
</html>
`;
}

// Everything from our own origin; connect-src 'self' covers ws(s) to the same host.
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** True for a browser navigating to the URL (HTML preferred over JSON). */
export function prefersHtml(req: Request): boolean {
  return (
    req.method === 'GET' &&
    req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html'
  );
}

/** What a browser opening the endpoint reads when GRAPHIQL is off (the production default). */
export const GRAPHIQL_OFF_MESSAGE = `GraphiQL is off on this server (set GRAPHIQL=true to turn it on).

This is the PinIt GraphQL API: send queries and mutations as POST requests to this URL, and
subscriptions over graphql-ws (WebSocket) on the same URL. Apps generate their types from the
schema.graphql of the API's repository; introspection is off too.
`;

/**
 * GraphiQL at GET `path` for browsers (everything else falls through to the GraphQL handler)
 * and its assets at /graphiql/assets. Mount before the GraphQL handler.
 *
 * When disabled, a browser navigating to `path` gets a short plain-text answer naming the
 * GRAPHIQL setting (404: there is no page here). Without it the request would reach Apollo,
 * whose CSRF prevention refuses a bare GET with an error that says nothing about GraphiQL.
 */
export function createGraphiQLRouter(path = '/graphql', { enabled = true }: { enabled?: boolean } = {}): Router {
  if (!enabled) {
    const off = Router();
    off.get(path, (req, res, next) => {
      if (!prefersHtml(req) || req.path !== path) return next();
      res
        .status(404)
        .set({ 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff', Vary: 'Accept' })
        .type('text/plain')
        .send(GRAPHIQL_OFF_MESSAGE);
    });
    return off;
  }
  const list = assets();
  const html = page(list);
  const router = Router();

  const servePage: RequestHandler = (req, res, next) => {
    // Only the exact path: relative asset URLs would not resolve from "/graphql/".
    if (!prefersHtml(req) || req.path !== path) return next();
    res
      .set({
        'Content-Security-Policy': CONTENT_SECURITY_POLICY,
        'Cache-Control': 'no-cache',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        Vary: 'Accept',
      })
      .type('html')
      .send(html);
  };
  router.get(path, servePage);

  const byName = new Map(list.map((a) => [a.name, a]));
  router.get('/graphiql/assets/:name', (req, res, next) => {
    const asset = byName.get(String(req.params.name));
    if (!asset) return next();
    res.set({ 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'public, max-age=31536000, immutable' });
    if (asset.body !== undefined) {
      res.type(asset.type).send(asset.body);
    } else {
      res.type(asset.type).sendFile(asset.path!, { cacheControl: false }, (err) => {
        if (err && !res.headersSent) next(err);
      });
    }
  });
  return router;
}

/** The refusal of an introspection query, naming the setting that allows it. */
export const introspectionOffMessage = (field: string) =>
  `Introspection is off on this server (set GRAPHIQL=true to turn it on), but the query asks for "${field}"; apps generate their types from schema.graphql instead.`;

/**
 * graphql-js's NoSchemaIntrospectionCustomRule with our message, once per entry point. Apollo's own
 * `introspection: false` would answer "pass introspection: true to ApolloServer", which means
 * nothing to someone running this server, so Apollo keeps introspection on and gets this rule.
 */
export const noIntrospectionRule: ValidationRule = (context) => ({
  Field(node) {
    const type = getNamedType(context.getType());
    // One error per way in (__schema, __type), not one more for every field selected inside.
    const parent = context.getParentType();
    if (type && isIntrospectionType(type) && !(parent && isIntrospectionType(parent))) {
      context.reportError(new GraphQLError(introspectionOffMessage(node.name.value), { nodes: node }));
    }
  },
});

/** Validation rules that make introspection follow the GraphiQL switch (for Apollo's validationRules). */
export const introspectionRules = (enabled: boolean): ValidationRule[] => (enabled ? [] : [noIntrospectionRule]);
