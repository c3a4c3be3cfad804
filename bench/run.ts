// npm run bench — throughput and latency of the main read paths, each reported as a ratio to
// GET /healthz measured in the same run (these machines are noisy; absolute numbers are not
// comparable between runs, ratios are).
//
// Uses PostgreSQL/Redis when BENCH_DATABASE_URL / BENCH_REDIS_URL (or DATABASE_URL /
// REDIS_URL) are set, the embedded default otherwise. BENCH_SECONDS sets each run's length.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { pino } from 'pino';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const databaseUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
const redisUrl = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL;

const dataDir = await mkdtemp(join(tmpdir(), 'pinit-bench-'));
const config = loadConfig({
  NODE_ENV: 'production',
  JWT_SECRET: 'bench-secret-bench-secret-bench-secret-01',
  PORT: '0',
  HOST: '127.0.0.1',
  DATA_DIR: dataDir,
  RATE_LIMITS: 'off',
  // Production mode, with the demo data the cases query.
  SEED_DEMO: 'true',
  LOG_LEVEL: 'warn',
  ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
});
if (databaseUrl) {
  // The bench seeds demo data; it needs an empty database.
  console.log(`Using ${new URL(databaseUrl).pathname.slice(1)} on PostgreSQL`);
}
const app = await createApp(config, pino({ level: 'warn' }));
const graphql = `${app.server.url}/graphql`;

async function post(query: string, variables: Record<string, unknown> = {}, token?: string) {
  const res = await fetch(graphql, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data: Record<string, any>; errors?: unknown[] };
}

const login = await post('mutation { login(username: "ada.novak0", password: "pinit-demo-password") { accessToken } }');
const token: string = login.data.login.accessToken;

interface Case {
  name: string;
  url: string;
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
  connections?: number;
}

const gqlCase = (name: string, query: string, auth = false, extra: Partial<Case> = {}): Case => ({
  name,
  url: graphql,
  method: 'POST',
  body: JSON.stringify({ query }),
  headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}) },
  ...extra,
});

const cases: Case[] = [
  { name: 'GET /healthz (baseline)', url: `${app.server.url}/healthz` },
  gqlCase('query me (signed in)', '{ me { id username fullName interests reputation { averageRating trustLevel { title } } } }', true),
  gqlCase('query searchUsers first:20 + reputation', '{ searchUsers(query: "a", first: 20) { edges { node { id username reputation { totalRatings } } } } }'),
  // The map screen: every demo event in the viewport with host, avatar, counts and viewer flags.
  gqlCase(
    'query eventsInBounds (map page, nested)',
    '{ eventsInBounds(bounds: { south: 52.3, west: 13.1, north: 52.7, east: 13.7 }, first: 200) { edges { node { id title latitude longitude startsAt attendeeCount spotsLeft viewerIsAttending host { id username avatarUrl } } } } }',
    true,
  ),
  // argon2id is deliberately slow; this bounds how many logins per second one instance takes.
  gqlCase('mutation login (argon2id)', 'mutation { login(username: "ben.novak1", password: "pinit-demo-password") { accessToken } }', false, {
    connections: 4,
  }),
];

const rows: Array<{ name: string; rps: number; p50: number; p99: number; errors: number }> = [];
for (const c of cases) {
  const result = await autocannon({
    url: c.url,
    method: c.method ?? 'GET',
    body: c.body,
    headers: c.headers,
    connections: c.connections ?? connections,
    duration: seconds,
  });
  rows.push({
    name: c.name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  });
}

const baseline = rows[0]!.rps;
console.log(`\n${databaseUrl ? 'PostgreSQL' : 'PGlite (embedded)'}, ${connections} connections, ${seconds} s per case, node ${process.version}\n`);
console.log('| case | req/s | ratio to baseline | p50 ms | p99 ms | errors |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const row of rows) {
  console.log(`| ${row.name} | ${row.rps.toFixed(0)} | ${(row.rps / baseline).toFixed(3)} | ${row.p50} | ${row.p99} | ${row.errors} |`);
}

await app.stop();
await rm(dataDir, { recursive: true, force: true });
