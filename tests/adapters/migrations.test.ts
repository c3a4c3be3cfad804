// Migrations: in step with schema.prisma, applied through the WASM engine with the same
// `_prisma_migrations` bookkeeping as `prisma migrate deploy`, by `npm run db:migrate`.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { describe, expect, inject, it } from 'vitest';
import { diffSchemaAgainstMigrations, MIGRATIONS_DIR, readMigrations } from '../../src/db/migrate.ts';
import { runScript } from '../helpers/process.ts';
import { testDatabaseUrl } from '../helpers/server.ts';

async function expectedMigrations() {
  const list = await readMigrations();
  return Promise.all(
    list.migrationDirectories.map(async (dir) => ({
      name: dir.path,
      checksum: createHash('sha256')
        .update(await readFile(join(MIGRATIONS_DIR, dir.path, 'migration.sql')))
        .digest('hex'),
    })),
  );
}

// The schema engine runs as WASM, and the script tests start cold `node --import tsx` processes:
// seconds of CPU each, which a busy two-core machine stretches past the default 30 s.
const SLOW = 120_000;

describe('migrations', () => {
  it(
    'are in step with prisma/schema.prisma (run `npm run db:migration:create -- <name>` after editing it)',
    async () => {
      const pglite = await PGlite.create('memory://');
      try {
        const sql = await diffSchemaAgainstMigrations(new PrismaPGlite(pglite));
        expect(sql.trim()).toMatch(/^(-- This is an empty migration\.)?$/);
      } finally {
        await pglite.close();
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

  it(
    'npm run db:migrate applies them to the embedded database under DATA_DIR',
    async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'pinit-migrate-'));
      try {
        const first = await runScript('scripts/migrate.ts', [], { DATA_DIR: dataDir });
        expect(first.code).toBe(0);
        expect(first.stdout).toMatch(/Applied \d+ migration/);
        const pglite = await PGlite.create(join(dataDir, 'pglite'));
        const { rows } = await pglite.query<{ name: string; checksum: string }>(
          'SELECT migration_name AS name, checksum FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name',
        );
        await pglite.close();
        expect(rows).toEqual(await expectedMigrations());
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
    SLOW,
  );

  it(
    'npm run user:admin grants ADMIN to an existing user, and names an unknown one',
    async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'pinit-admin-'));
      try {
        // Three commands in a row, each a cold `node --import tsx` process that loads the schema
        // engine: starting from the migrated template spares them an initdb (about 6-8 s of CPU),
        // which under load pushed this test past its timeout. Migrating an empty embedded
        // database is the test above; seeding one is tests/project/main.test.ts.
        await cp(inject('pgliteTemplate'), join(dataDir, 'pglite'), { recursive: true });
        const seeded = await runScript('scripts/seed.ts', [], { DATA_DIR: dataDir });
        expect(seeded.code).toBe(0);
        const granted = await runScript('scripts/make-admin.ts', ['Ada.Novak0'], { DATA_DIR: dataDir });
        expect(granted.stdout).toContain('ada.novak0 is now an ADMIN');
        const missing = await runScript('scripts/make-admin.ts', ['nobody_here'], { DATA_DIR: dataDir });
        expect(missing.code).toBe(1);
        expect(missing.stderr.trim()).toBe('User "nobody_here" not found');
        const pglite = await PGlite.create(join(dataDir, 'pglite'));
        const { rows } = await pglite.query<{ role: string }>(`SELECT role FROM users WHERE username = 'ada.novak0'`);
        await pglite.close();
        expect(rows).toEqual([{ role: 'ADMIN' }]);
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
    SLOW,
  );
});
