// npm run db:seed — loads the demo data into an empty database.
import { loadConfig } from '../src/config.ts';
import { openDatabase, pgliteDirFor } from '../src/db/index.ts';
import { seedDemo } from '../prisma/seed.ts';
import { runCli } from './cli.ts';

await runCli(async () => {
  const config = loadConfig();
  const db = await openDatabase({ url: config.databaseUrl, pgliteDir: pgliteDirFor(config.dataDir) });
  try {
    await db.migrate();
    if ((await db.prisma.user.count()) > 0) {
      console.log('The database already has users; demo data not loaded.');
      return;
    }
    console.log(await seedDemo(db.prisma));
  } finally {
    await db.close();
  }
});
