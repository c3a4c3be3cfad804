// npm run user:admin -- <username> [ADMIN|USER]
// Gives an existing user a role (ADMIN by default; USER demotes) on the configured database
// (DATABASE_URL, or the embedded one under DATA_DIR), and ends the user's sessions: with
// REDIS_URL, running instances hear of it at once and refuse the old tokens. Run it with the
// server stopped when on the embedded database: PGlite allows one process at a time.
import { createLogger, openPubSub } from '../src/app.ts';
import { createSessionStates } from '../src/auth/sessions.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, pgliteDirFor } from '../src/db/index.ts';
import { createMetrics } from '../src/metrics/index.ts';
import { setRole } from '../src/services/accounts/index.ts';
import { runCli } from './cli.ts';

await runCli(async () => {
  const [username, role = 'ADMIN'] = process.argv.slice(2);
  if (!username || (role !== 'ADMIN' && role !== 'USER')) {
    console.error('usage: npm run user:admin -- <username> [ADMIN|USER]');
    process.exitCode = 2;
    return;
  }
  const config = loadConfig();
  const logger = createLogger(config);
  const db = await openDatabase({ url: config.databaseUrl, pgliteDir: pgliteDirFor(config.dataDir) });
  const pubsub = openPubSub(
    config,
    logger,
    createMetrics(() => null, config.metrics),
  );
  const sessions = createSessionStates({ prisma: db.prisma, pubsub, logger, options: config.sessionCache });
  try {
    await db.migrate();
    const { user, sessionsEnded } = await setRole({ prisma: db.prisma, sessions }, username, role);
    console.log(
      `${user.username} is now ${user.role === 'ADMIN' ? 'an' : 'a'} ${user.role}. Sessions ended: ${sessionsEnded} (sign in again).`,
    );
  } finally {
    sessions.close();
    await pubsub.close();
    await db.close();
  }
});
