// `npm run db:migrate` on the embedded database: an empty DATA_DIR gets every migration, with
// the same `_prisma_migrations` bookkeeping as `prisma migrate deploy` (its PostgreSQL case is
// in tests/adapters/migrations.test.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { describe, expect, it } from 'vitest';
import { expectedMigrations, SLOW } from '../helpers/migrations.ts';
import { runScript } from '../helpers/process.ts';

describe('migrations', () => {
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
});
