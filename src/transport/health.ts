// Liveness and readiness. /healthz says the process serves; /readyz checks each dependency
// within a deadline and names the failing ones (details go to the log, not to the caller).
import type { Router } from 'express';
import express from 'express';
import type { AppDeps } from '../context.ts';

/** Per-dependency deadline of /readyz. */
export const READINESS_TIMEOUT_MS = 2_000;

async function checkReadiness(deps: AppDeps) {
  const withTimeout = (p: Promise<void>) =>
    Promise.race([
      p,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), READINESS_TIMEOUT_MS).unref()),
    ]);
  const parts = {
    database: () => deps.db.ping(),
    pubsub: () => deps.pubsub.ping(),
    storage: () => deps.storage.ping(),
  };
  const entries = await Promise.all(
    Object.entries(parts).map(async ([name, check]) => {
      try {
        await withTimeout(check());
        return [name, 'ok'] as const;
      } catch (error) {
        deps.logger.warn({ part: name, err: error }, 'readiness check failed');
        return [name, 'failing'] as const;
      }
    }),
  );
  const checks = Object.fromEntries(entries);
  const failing = entries.filter(([, state]) => state !== 'ok').map(([name]) => name);
  return { ready: failing.length === 0, checks, failing };
}

/** GET /healthz, /readyz and /metrics. */
export function createHealthRouter(deps: AppDeps): Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const { ready, checks, failing } = await checkReadiness(deps);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', failing, checks });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return router;
}
