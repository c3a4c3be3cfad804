// `npm run db:seed` and `npm run user:admin` on the embedded database: cold processes, one
// after another, on one DATA_DIR (PGlite allows one process at a time).
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { describe, expect, inject, it } from 'vitest';
import { SLOW } from '../helpers/migrations.ts';
import { runScript } from '../helpers/process.ts';

describe('database commands', () => {
  it(
    'npm run user:admin grants ADMIN to an existing user, and names an unknown one',
    async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'pinit-admin-'));
      try {
        // Three commands in a row, each a cold `node --import tsx` process that loads the schema
        // engine: starting from the migrated template spares them an initdb (about 6-8 s of CPU),
        // which under load pushed this test past its timeout. Migrating an empty embedded
        // database is tests/adapters/migrate-cli.test.ts; starting on an empty one, tests/project/main.test.ts.
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
