// Entry point: read config, start, and shut down gracefully on SIGTERM/SIGINT.
import { ConfigError, loadConfig } from './config.ts';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

// Loaded once the configuration is known to be valid: the app's modules (the schema, Prisma, the
// AWS SDK) take seconds of CPU to load, and a bad variable should be told at once.
const { createApp, createLogger } = await import('./app.ts');
const logger = createLogger(config);
const app = await createApp(config, logger).catch((error: unknown) => {
  // A known misconfiguration found while starting (e.g. a missing database): one line, no trace.
  if (error instanceof ConfigError) console.error(error.message);
  else logger.fatal({ err: error }, 'start-up failed');
  process.exit(1);
});

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    // Ctrl+C under a wrapper (npm, tsx) delivers the signal twice; one shutdown is enough.
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A drain that hangs must not keep the process alive forever (and a referenced timer
    // keeps the process from ending before the pools are closed).
    setTimeout(() => {
      logger.error('shutdown timed out');
      process.exit(1);
    }, 15_000);
    app.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
