// What the migrations in prisma/migrations should leave in `_prisma_migrations`, and how long a
// test of the migration commands may take.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MIGRATIONS_DIR, readMigrations } from '../../src/db/migrate.ts';

/** Each migration's name and the sha256 of its migration.sql, in order, as `prisma migrate deploy` records them. */
export async function expectedMigrations(): Promise<Array<{ name: string; checksum: string }>> {
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

/**
 * The schema engine runs as WASM, and the script tests start cold `node --import tsx` processes:
 * seconds of CPU each, which a busy two-core machine stretches past the default 30 s.
 */
export const SLOW = 120_000;
