// npm run db:migrate — applies prisma/migrations to DATABASE_URL, or to the embedded
// database under DATA_DIR when DATABASE_URL is unset.
import { loadConfig } from '../src/config.ts';
import { openDatabase, pgliteDirFor } from '../src/db/index.ts';
import { runCli } from './cli.ts';

await runCli(async () => {
  const config = loadConfig();
  const db = await openDatabase({ url: config.databaseUrl, pgliteDir: pgliteDirFor(config.dataDir) });
  try {
    const applied = await db.migrate();
    console.log(
      applied.length ? `Applied ${applied.length} migration(s):\n  ${applied.join('\n  ')}` : 'Database is up to date.',
    );
  } finally {
    await db.close();
  }
});
