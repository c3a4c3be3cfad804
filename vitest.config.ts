import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * Files whose outcome does not depend on which backend the test servers use (PostgreSQL and
 * Redis, or PGlite and in-process pub/sub): they run no test server, test PostgreSQL-only faults,
 * or test transport rules that refuse before anything reaches the database or pub/sub. `.ci/run`
 * runs the whole suite on PostgreSQL and Redis, then only the other files on the embedded default
 * (TEST_BACKEND_ONLY=1), instead of running these twice for the same result.
 */
export const BACKEND_INDEPENDENT = [
  'tests/adapters/migrations.test.ts', // PGlite and the scripts; its PostgreSQL case needs TEST_DATABASE_URL
  'tests/adapters/database-faults.test.ts', // PostgreSQL only
  'tests/adapters/storage.test.ts', // S3 (s3rver) and disk
  'tests/project/codegen.test.ts',
  'tests/project/config.test.ts',
  'tests/project/container.test.ts',
  'tests/project/image-pins.test.ts',
  'tests/project/main.test.ts', // `npm start` on the embedded default, whatever the suite uses
  'tests/project/paging.test.ts', // page arguments are refused before any resolver runs
  'tests/project/readme-codegen.test.ts',
  'tests/project/schema.test.ts',
  'tests/project/startup-errors.test.ts', // its PostgreSQL cases need TEST_DATABASE_URL
  'tests/project/storage-config.test.ts',
  'tests/transport/graphiql.test.ts',
  'tests/transport/graphiql-off.test.ts',
  'tests/transport/metrics.test.ts', // label values and the metrics listener
  'tests/transport/shape.test.ts', // refused before validation
  'tests/transport/ws-limits.test.ts', // socket caps, counted in memory
  'tests/e2e/graphiql.test.ts', // the GraphiQL page in a browser
];

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (main) and ESM (module). Node loads the CJS build for our
    // dependencies; Vite would give our own files the ESM one, and graphql refuses to mix.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: process.env.TEST_BACKEND_ONLY === '1' ? BACKEND_INDEPENDENT : [],
    // One migrated template database per run; each test server starts from a copy of it.
    globalSetup: ['tests/helpers/global-setup.ts'],
    // Each file starts its own server (and database); two at a time fit two cores.
    pool: 'forks',
    maxWorkers: 2,
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
