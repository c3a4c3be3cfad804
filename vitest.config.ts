import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (main) and ESM (module). Node loads the CJS build for our
    // dependencies; Vite would give our own files the ESM one, and graphql refuses to mix.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['tests/**/*.test.ts'],
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
