// Migrations: in step with schema.prisma, applied through the WASM engine with the same
// `_prisma_migrations` bookkeeping as `prisma migrate deploy`, by `npm run db:migrate` on
// PostgreSQL. The same command on the embedded database is tests/adapters/migrate-cli.test.ts,
// and the other database commands tests/adapters/admin-cli.test.ts: files of their own, so that
// the cold processes they start run beside other files rather than one after another.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { describe, expect, inject, it } from 'vitest';
import { diffSchemaAgainstMigrations } from '../../src/db/migrate.ts';
import { expectedMigrations, SLOW } from '../helpers/migrations.ts';
import { runScript } from '../helpers/process.ts';
import { testDatabaseUrl } from '../helpers/server.ts';

describe('migrations', () => {
  it(
    'are in step with prisma/schema.prisma (run `npm run db:migration:create -- <name>` after editing it)',
    async () => {
      // The engine connects to this database but compares the migrations, replayed on a shadow
      // database of its own (an initdb), with the schema: any database will do, and a copy of the
      // migrated template spares a second initdb (seconds of CPU).
      const dir = await mkdtemp(join(tmpdir(), 'pinit-diff-'));
      await cp(inject('pgliteTemplate'), dir, { recursive: true });
      const pglite = await PGlite.create(dir);
      try {
        const sql = await diffSchemaAgainstMigrations(new PrismaPGlite(pglite));
        expect(sql.trim()).toMatch(/^(-- This is an empty migration\.)?$/);
      } finally {
        await pglite.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
    SLOW,
  );

  it.runIf(testDatabaseUrl)(
    'npm run db:migrate applies them to an empty PostgreSQL and records _prisma_migrations',
    async () => {
      const name = `pinit_migrate_${Date.now().toString(36)}`;
      const admin = new pg.Client({ connectionString: testDatabaseUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      const url = new URL(testDatabaseUrl!);
      url.pathname = `/${name}`;
      try {
        const first = await runScript('scripts/migrate.ts', [], { DATABASE_URL: url.toString() });
        expect(first.stderr).toBe('');
        expect(first.code).toBe(0);
        expect(first.stdout).toMatch(/Applied \d+ migration/);
        const again = await runScript('scripts/migrate.ts', [], { DATABASE_URL: url.toString() });
        expect(again.stdout).toContain('Database is up to date.');

        const client = new pg.Client({ connectionString: url.toString() });
        await client.connect();
        const rows = await client.query(
          'SELECT migration_name AS name, checksum, finished_at, rolled_back_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name',
        );
        const levels = await client.query('SELECT level, title FROM trust_levels ORDER BY level');
        await client.end();
        expect(rows.rows.map((r) => ({ name: r.name, checksum: r.checksum }))).toEqual(await expectedMigrations());
        for (const row of rows.rows) {
          expect(row.finished_at).toBeInstanceOf(Date);
          expect(row.rolled_back_at).toBeNull();
          expect(row.applied_steps_count).toBe(1);
        }
        expect(levels.rows.map((r) => r.title)).toEqual([
          'Newcomer',
          'Participant',
          'Trusted Member',
          'Event Expert',
          'Community Leader',
        ]);
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.end();
      }
    },
    SLOW,
  );
});
