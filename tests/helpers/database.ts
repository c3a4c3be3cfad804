// Throwaway PostgreSQL databases for test servers and benchmarks (no vitest here, so the
// benchmark can use it too).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A fresh database on the server of `adminUrl`; `drop` removes it (forcing out connections).
 * Empty, or a copy of `template` (PostgreSQL copies the files: far cheaper than migrating).
 */
export async function createDatabase(
  adminUrl: string,
  prefix = 'pinit_test',
  template?: string,
): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
