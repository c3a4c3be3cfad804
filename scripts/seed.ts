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
    const seeded = await seedDemo(db.prisma);
    console.log(
      seeded
        ? `Loaded ${seeded.users} users and ${seeded.events} events.`
        : 'The database already has users; demo data not loaded.',
    );
  } finally {
    await db.close();
  }
});
