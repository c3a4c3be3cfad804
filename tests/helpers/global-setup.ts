// Runs once per `vitest run`, before any test file: migrates one template database, so that
// each test server starts from a copy instead of an empty database.
//
// On PGlite this is most of a server's start-up cost: initdb on an empty data directory takes
// about 6-8 s of CPU (and every migration after it), while opening a copied, already migrated
// directory takes about 1 s. On PostgreSQL, CREATE DATABASE ... TEMPLATE copies the files.
// Servers still run their migrations on start (a no-op check here); applying migrations to an
// empty database is covered by tests/adapters/migrations.test.ts and tests/project/main.test.ts.
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

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const teardown: Array<() => Promise<void>> = [];
  // Made on PostgreSQL runs too: the CLI tests (tests/adapters/migrations.test.ts) run
  // commands on the embedded database, and an initdb inside such a test is what made it slow.
  const dir = await mkdtemp(join(tmpdir(), 'pinit-template-'));
  teardown.push(() => rm(dir, { recursive: true, force: true }));
  const pgliteDir = join(dir, 'pglite');
  const embedded = await openDatabase({ pgliteDir });
  try {
    await embedded.migrate();
  } finally {
    await embedded.close();
  }
  project.provide('pgliteTemplate', pgliteDir);
  project.provide('postgresTemplate', null);

  const databaseUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (databaseUrl) {
    const template = await createDatabase(databaseUrl, 'pinit_template');
    teardown.push(template.drop);
    const db = await openDatabase({ url: template.url, poolSize: 1 });
    try {
      await db.migrate();
    } finally {
      await db.close();
    }
    project.provide('postgresTemplate', template.name);
  }
  return async () => {
    for (const step of teardown.reverse()) await step();
  };
}
