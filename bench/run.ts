// npm run bench — the benchmark suite against real PostgreSQL and Redis. Every figure is
// measured in the same run as its baseline and reported as a ratio (this machine is shared
// and noisy; absolute numbers do not compare between runs, ratios do).
//
//   BENCH_DATABASE_URL  admin connection; cases create and drop their own databases
//                       (default postgresql://postgres@127.0.0.1:5432/postgres)
//   BENCH_REDIS_URL     default redis://127.0.0.1:6379; cases use key prefixes of their own
//   BENCH_ONLY=1,4      runs only these cases and merges them into the existing results
//   BENCH_QUICK=1       shorter runs, for developing the benchmarks themselves
//   BENCH_WITHOUT_CHANGELOG_TREE  case 9: a prepared checkout of 54fa553 instead of a
//                       temporary git worktree of it
//
// Writes bench/results/results.json, results.md and chart.png, then prints the Markdown.
import './lib/production-env.ts';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { stopAllBenchApps } from './lib/app.ts';
import { mergeResults, readResults, updateReadme, writeResults } from './lib/report.ts';
import type { RecordedCase, RunInfo } from './lib/report.ts';
import type { BenchCase, BenchEnv, CaseResult } from './lib/types.ts';

interface CaseEntry {
  id: string;
  title: string;
  /** Imported on demand, so a run of some cases does not need the others' files. */
  load(): Promise<BenchCase>;
}

const CASES: CaseEntry[] = [
  { id: '1', title: 'Map query throughput', load: async () => (await import('./cases/map.ts')).runThroughput },
  {
    id: '2',
    title: 'SQL statements per map request',
    load: async () => (await import('./cases/map.ts')).runStatementCount,
  },
  { id: '3', title: 'Subscription fan-out', load: async () => (await import('./cases/fanout.ts')).run },
  { id: '4', title: 'Bounding-box SQL', load: async () => (await import('./cases/bbox.ts')).run },
  { id: '5', title: 'Chat', load: async () => (await import('./cases/chat.ts')).run },
  { id: '6', title: 'Soak', load: async () => (await import('./cases/soak.ts')).run },
  { id: '7', title: 'Hostile clients', load: async () => (await import('./cases/hostile.ts')).run },
  { id: '8', title: 'Change log', load: async () => (await import('./cases/changelog.ts')).run },
  {
    id: '9',
    title: 'Change log A/B',
    load: async () => (await import('./cases/changelog-ab.ts')).run,
  },
  { id: '10', title: 'Discovery', load: async () => (await import('./cases/discovery.ts')).run },
];

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(1);
}

function selectedCases(only: string | undefined): CaseEntry[] {
  if (!only) return CASES;
  const ids = only
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  const unknown = ids.filter((id) => !CASES.some((c) => c.id === id));
  if (unknown.length)
    fail(`BENCH_ONLY names unknown case(s) ${unknown.join(', ')}; cases are ${CASES.map((c) => c.id).join(', ')}`);
  return CASES.filter((c) => ids.includes(c.id));
}

const describe = (error: unknown) =>
  error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error);

/** The servers' versions; exits with one line when either is down. */
async function checkServices(databaseUrl: string, redisUrl: string): Promise<Pick<RunInfo, 'postgres' | 'redis'>> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3_000 });
  let postgres: string;
  try {
    await client.connect();
    postgres = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  } catch (error) {
    fail(`PostgreSQL at ${databaseUrl} is not reachable (${describe(error)}); start it or set BENCH_DATABASE_URL`);
  } finally {
    await client.end().catch(() => undefined);
  }
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // ioredis rejects connect() with a generic "Connection is closed"; the cause comes as an event.
  let cause: unknown;
  redis.on('error', (error) => (cause ??= error));
  try {
    await redis.connect();
    const info = await redis.info('server');
    return { postgres, redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown' };
  } catch (error) {
    fail(`Redis at ${redisUrl} is not reachable (${describe(cause ?? error)}); start it or set BENCH_REDIS_URL`);
  } finally {
    redis.disconnect();
  }
}

/** Runs one case; a failure is recorded as the case's result, so the other cases still run. */
async function runCase(entry: CaseEntry, env: BenchEnv): Promise<CaseResult> {
  try {
    const run = await entry.load();
    return await run(env);
  } catch (error) {
    process.exitCode = 1;
    console.error(error);
    return {
      id: entry.id,
      title: entry.title,
      figures: [],
      notes: [`FAILED: ${error instanceof Error ? error.message : String(error)}`],
      seconds: 0,
    };
  }
}

async function main() {
  const databaseUrl = process.env.BENCH_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
  const quick = ['1', 'true', 'yes'].includes((process.env.BENCH_QUICK ?? '').toLowerCase());
  const cases = selectedCases(process.env.BENCH_ONLY);
  const versions = await checkServices(databaseUrl, redisUrl);

  // Ctrl-C must not leave bench databases behind.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`bench: ${signal}, dropping bench databases`);
      void stopAllBenchApps().finally(() => process.exit(130));
    });
  }

  const started = Date.now();
  const fresh: RecordedCase[] = [];
  for (const entry of cases) {
    const log = (message: string) =>
      console.log(`[${entry.id} ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`);
    log(`${entry.title}${quick ? ' (quick)' : ''}`);
    const t0 = Date.now();
    const result = await runCase(entry, { databaseUrl, redisUrl, quick, log });
    // The wall time the runner saw, set-up and seeding included: that is what the 20 minutes budget counts.
    const seconds = Math.round((Date.now() - t0) / 100) / 10;
    log(`done in ${seconds} s`);
    fresh.push({
      ...result,
      seconds,
      run: {
        ranAt: new Date(t0).toISOString(),
        quick,
        node: process.version,
        cpus: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}`,
        ...versions,
      },
    });
  }

  // A partial run (BENCH_ONLY) keeps the other cases' last results.
  const earlier = process.env.BENCH_ONLY ? await readResults(resultsDir) : null;
  const results = mergeResults(earlier, fresh);
  const markdown = await writeResults(resultsDir, results);
  await updateReadme(join(resultsDir, '..', '..', 'README.md'), results);
  console.log(`\n${markdown}`);
  console.log(
    `Total ${((Date.now() - started) / 1000).toFixed(0)} s; wrote ${resultsDir}/results.{json,md} and chart.png`,
  );
}

await main();
// Exit explicitly: a case that leaks a timer or socket must not keep the run from finishing.
process.exit(process.exitCode ?? 0);
