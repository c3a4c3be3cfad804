// npm run user:admin -- <username>
// Grants ADMIN to an existing user on the configured database (DATABASE_URL, or the
// embedded one under DATA_DIR). Run it with the server stopped when on the embedded
// database: PGlite allows one process at a time.
import { loadConfig } from '../src/config.ts';
import { openDatabase, pgliteDirFor } from '../src/db/index.ts';
import { grantAdmin } from '../src/services/accounts/index.ts';
import { runCli } from './cli.ts';

await runCli(async () => {
  const username = process.argv[2];
  if (!username) {
    console.error('usage: npm run user:admin -- <username>');
    process.exitCode = 2;
    return;
  }
  const config = loadConfig();
  const db = await openDatabase({ url: config.databaseUrl, pgliteDir: pgliteDirFor(config.dataDir) });
  try {
    await db.migrate();
    const user = await grantAdmin({ prisma: db.prisma }, username);
    console.log(
      `${user.username} is now an ADMIN. Tokens issued before now carry the old role until they are refreshed.`,
    );
  } finally {
    await db.close();
  }
});
