// Runs once per `vitest run` and project, before any test file: migrates the template
// databases, so that each test server starts from a copy instead of an empty database.
//
// On PGlite this is most of a server's start-up cost: initdb on an empty data directory takes
// about 6-8 s of CPU (and every migration after it), while opening a copied, already migrated
// directory takes about 1 s. On PostgreSQL, CREATE DATABASE ... TEMPLATE copies the files.
// Servers still run their migrations on start (a no-op check here); applying migrations to an
// empty database is covered by tests/adapters/migrate-cli.test.ts and tests/project/main.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/index.ts';
import { createDatabase } from './database.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A migrated PGlite data directory to copy (embedded runs). */
    pgliteTemplate: string;
    /** A migrated PostgreSQL database to use as CREATE DATABASE's template. */
    postgresTemplate: string | null;
  }
}

/**
 * The PGlite template, made once for every project of the run (`TEST_BACKENDS=both` runs two,
 * each calling this setup in the same process): the second would only repeat the initdb.
 */
interface SharedTemplate {
  dir: Promise<string>;
  users: number;
}
const SHARED = Symbol.for('pinit.tests.pgliteTemplate');
const shared = globalThis as typeof globalThis & { [SHARED]?: SharedTemplate };

async function makePgliteTemplate(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pinit-template-'));
  const embedded = await openDatabase({ pgliteDir: join(dir, 'pglite') });
  try {
    await embedded.migrate();
  } finally {
    await embedded.close();
  }
  return dir;
}

async function makePostgresTemplate(databaseUrl: string) {
  const template = await createDatabase(databaseUrl, 'pinit_template');
  const db = await openDatabase({ url: template.url, poolSize: 1 });
  try {
    await db.migrate();
  } finally {
    await db.close();
  }
  return template;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Made on PostgreSQL runs too: the CLI tests (tests/adapters/admin-cli.test.ts) run
  // commands on the embedded database, and an initdb inside such a test is what made it slow.
  const pglite = (shared[SHARED] ??= { dir: makePgliteTemplate(), users: 0 });
  pglite.users += 1;
  // The project's own environment first: with TEST_BACKENDS=both only the postgres project has it.
  const env = project.config.env ?? {};
  const databaseUrl = env.TEST_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  // One after the other: both migrate through the one schema engine instance of this process
  // (src/db/migrate.ts), which does not take two migrations at once.
  const dir = await pglite.dir;
  const postgres = databaseUrl ? await makePostgresTemplate(databaseUrl) : undefined;
  project.provide('pgliteTemplate', join(dir, 'pglite'));
  project.provide('postgresTemplate', postgres?.name ?? null);
  return async () => {
    await postgres?.drop();
    pglite.users -= 1;
    if (pglite.users === 0) {
      delete shared[SHARED];
      await rm(dir, { recursive: true, force: true });
    }
  };
}
