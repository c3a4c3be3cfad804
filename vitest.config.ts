import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import type { TestProjectInlineConfiguration } from 'vitest/config';
import { BaseSequencer } from 'vitest/node';
import type { TestSpecification } from 'vitest/node';

const require = createRequire(import.meta.url);

/**
 * Files whose outcome does not depend on which backend the test servers use (PostgreSQL and
 * Redis, or PGlite and in-process pub/sub): they run no test server, test PostgreSQL-only faults,
 * test transport rules that refuse before anything reaches the database or pub/sub, or test what
 * is decided before the database is involved (what sharp makes of an upload, the links a
 * configuration gives, budgets every instance counts in its own memory, the example clients).
 * `.ci/run` runs the whole suite on PostgreSQL and Redis and only the other files on the embedded
 * default, instead of running these twice for the same result.
 */
export const BACKEND_INDEPENDENT = [
  'tests/adapters/migrations.test.ts', // in step with the schema (PGlite); its PostgreSQL case needs TEST_DATABASE_URL
  'tests/adapters/migrate-cli.test.ts', // `npm run db:migrate` on the embedded database, whatever the suite uses
  'tests/adapters/admin-cli.test.ts', // `npm run db:seed` and `user:admin` on the embedded database
  'tests/adapters/database-faults.test.ts', // PostgreSQL only
  'tests/adapters/storage.test.ts', // S3 (s3rver) and disk
  'tests/images/image-processing.test.ts', // sharp decides what is stored; refused uploads write no row
  'tests/images/upload-limits.test.ts', // upload slots and timeouts, counted in memory, before the database
  'tests/project/codegen.test.ts',
  'tests/project/config.test.ts',
  'tests/project/container.test.ts',
  'tests/project/examples.test.ts', // the example clients; what the server does with them is tested on both
  'tests/project/image-pins.test.ts',
  'tests/project/main.test.ts', // `npm start` on the embedded default, whatever the suite uses
  'tests/project/paging.test.ts', // page arguments are refused before any resolver runs
  'tests/project/public-url.test.ts', // links to stored files, from PUBLIC_URL and the listening address
  'tests/project/readme-codegen.test.ts',
  'tests/project/schema.test.ts',
  'tests/project/startup-errors.test.ts', // its PostgreSQL cases need TEST_DATABASE_URL
  'tests/project/storage-config.test.ts',
  'tests/transport/graphiql.test.ts',
  'tests/transport/graphiql-off.test.ts',
  'tests/transport/metrics.test.ts', // label values and the metrics listener
  'tests/transport/query-budget.test.ts', // query budgets are counted in each instance's memory; the deadline is the pipeline's
  'tests/transport/query-limits.test.ts', // refused in validation, before anything runs
  'tests/transport/shape.test.ts', // refused before validation
  'tests/transport/ws-limits.test.ts', // socket caps and timers, counted in memory
  'tests/e2e/graphiql.test.ts', // the GraphiQL page in a browser
];

/**
 * The longest files, started first (in this order) so that the workers finish together
 * instead of one running a long file alone at the end. Without this, a fresh checkout (no
 * results cached in node_modules/.vite) runs the largest files first, and file size says little
 * about time: the CLI tests are short files of cold processes. Ordered by the longer of each
 * file's two runs in `.ci/run` on the 2-core machine; the rest keep vitest's order (cached
 * durations, else size).
 */
export const LONGEST_FIRST = [
  'tests/adapters/admin-cli.test.ts',
  'tests/images/images.test.ts',
  'tests/chat/chat.test.ts',
  'tests/adapters/migrations.test.ts',
  'tests/events/events-map.test.ts',
  'tests/notifications/push.test.ts',
  'tests/adapters/database-faults.test.ts',
  'tests/adapters/migrate-cli.test.ts',
  'tests/images/upload-limits.test.ts',
  'tests/notifications/notifications.test.ts',
  'tests/project/examples.test.ts',
  'tests/social/privacy.test.ts',
  'tests/project/main.test.ts',
  'tests/images/image-processing.test.ts',
  'tests/project/readme-codegen.test.ts',
  'tests/project/startup-errors.test.ts',
  'tests/events/events-visibility.test.ts',
  'tests/transport/server.test.ts',
  'tests/social/social.test.ts',
  'tests/chat/presence.test.ts',
  'tests/transport/limits.test.ts',
  'tests/images/images-failures.test.ts',
  'tests/transport/ws-limits.test.ts',
  'tests/events/events.test.ts',
];

const BACKEND_URLS = Symbol.for('pinit.tests.backendUrls');

/**
 * `TEST_BACKENDS=both` (`.ci/run`): one run, two projects sharing the workers: `postgres`
 * (every file, on TEST_DATABASE_URL/DATABASE_URL and TEST_REDIS_URL/REDIS_URL) and `embedded`
 * (the files not in BACKEND_INDEPENDENT, on PGlite and in-process pub/sub). One run instead of
 * two saves a start-up and a global setup, and the second backend's files fill the gaps the
 * first one's last files leave, instead of one worker idling while the other finishes.
 */
function bothBackends(): TestProjectInlineConfiguration[] {
  // Workers inherit this process's environment and a project can add variables, not remove
  // them: the embedded project's workers must not see these, so they leave the environment and
  // only the postgres project sets them. Kept aside for the next evaluation of this file (vitest
  // loads it again for each project).
  const kept = globalThis as typeof globalThis & { [BACKEND_URLS]?: { databaseUrl?: string; redisUrl?: string } };
  const { databaseUrl, redisUrl } = (kept[BACKEND_URLS] ??= {
    databaseUrl: process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL,
    redisUrl: process.env.TEST_REDIS_URL ?? process.env.REDIS_URL,
  });
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'TEST_DATABASE_URL', 'TEST_REDIS_URL']) delete process.env[name];
  if (!databaseUrl || !redisUrl) throw new Error('TEST_BACKENDS=both needs TEST_DATABASE_URL and TEST_REDIS_URL');
  return [
    { extends: true, test: { name: 'postgres', env: { TEST_DATABASE_URL: databaseUrl, TEST_REDIS_URL: redisUrl } } },
    { extends: true, test: { name: 'embedded', exclude: BACKEND_INDEPENDENT } },
  ];
}

const PROJECT_ORDER = ['postgres', 'embedded'];

/**
 * Each project's files in a row (a worker is reused only within one project), the project with
 * the most work first, and within it LONGEST_FIRST, then vitest's own order.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (file: TestSpecification) => {
      const index = LONGEST_FIRST.indexOf(relative(file.project.config.root, file.moduleId).split('\\').join('/'));
      return index === -1 ? LONGEST_FIRST.length : index;
    };
    const projectRank = (file: TestSpecification) => PROJECT_ORDER.indexOf(file.project.name);
    // Array#sort is stable: files ranked alike keep the order super.sort gave them.
    return sorted.sort((a, b) => projectRank(a) - projectRank(b) || rank(a) - rank(b));
  }
}

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (main) and ESM (module). Node loads the CJS build for our
    // dependencies; Vite would give our own files the ESM one, and graphql refuses to mix.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: process.env.TEST_BACKEND_ONLY === '1' ? BACKEND_INDEPENDENT : [],
    projects: process.env.TEST_BACKENDS === 'both' ? bothBackends() : undefined,
    sequence: { sequencer: LongestFirst },
    // One migrated template database per run; each test server starts from a copy of it.
    globalSetup: ['tests/helpers/global-setup.ts'],
    // Each file starts its own server (and database). Three at a time on two cores: much of a
    // file's time is waiting (timeouts, other processes, the database), and a third worker fills
    // it (the whole run 303 → 272 s on the 2-core machine).
    pool: 'forks',
    maxWorkers: 3,
    // Files share their worker's module cache: the app's modules (Prisma's client, the schema)
    // load once per worker instead of once per file, about 3 s each. Nothing in a test file may
    // change module state for the next one (each starts its own servers from fresh config).
    isolate: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Argon2 and PGlite are CPU-heavy; a slow machine must not turn into flaky timeouts.
    teardownTimeout: 20_000,
  },
});
