// Liveness, readiness and metrics. /healthz says the process serves; /readyz checks each
// dependency within a deadline and names the failing ones (details go to the log, not to the
// caller). /metrics has a listener of its own (METRICS_PORT, see ./server.ts); on the public port
// it exists only with METRICS_TOKEN, for the token's holder.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Router } from 'express';
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

/** The Prometheus exposition. */
export const serveMetrics =
  (deps: AppDeps): RequestHandler =>
  async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  };

/** Lets through requests carrying `Authorization: Bearer <token>`; 401 for the rest. */
function requireBearer(token: string): RequestHandler {
  // Digests have one length whatever was sent, so the comparison takes the same time for any guess.
  const digest = (value: string) => createHash('sha256').update(value).digest();
  const expected = digest(`Bearer ${token}`);
  return (req, res, next) => {
    if (timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) return next();
    res.status(401).set('www-authenticate', 'Bearer').json({ error: 'unauthorized' });
  };
}

/** GET /healthz, /readyz, and /metrics when METRICS_TOKEN is set. */
export function createHealthRouter(deps: AppDeps): Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const { ready, checks, failing } = await checkReadiness(deps);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', failing, checks });
  });
  const { token } = deps.config.metrics;
  if (token) router.get('/metrics', requireBearer(token), serveMetrics(deps));
  return router;
}
