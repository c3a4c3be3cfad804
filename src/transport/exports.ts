// GET /exports/pinit-data.json?token=…: the data export behind exportMyData's link. Whoever
// holds the link may download it once or many times until it expires or the session that
// asked for it ends; nothing else is needed (no Authorization header: a browser download).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RequestHandler, Router } from 'express';
import express from 'express';
import type { AppDeps } from '../context.ts';
import { DomainError } from '../lib/errors.ts';
import { EXPORT_PATH, EXPORT_PURPOSE, exportDocument } from '../services/accounts/export.ts';
import { isDatabaseUnavailable } from '../db/faults.ts';

const refuse = (res: express.Response, status: number, error: string) =>
  res.status(status).set('cache-control', 'no-store').json({ error });

/** Exports being built on this instance at once: each asks the database page after page while it streams. */
const MAX_CONCURRENT = 4;
/** A download whose client reads nothing for this long is cut, and one still going after the longer limit too. */
const STALL_MS = 60_000;
const TOTAL_MS = 15 * 60_000;

function serveExport(deps: AppDeps): RequestHandler {
  // Users whose export this instance is building: one at a time each (a link may be followed again and again).
  const building = new Set<string>();
  return async (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    const claims = await deps.downloads.verify(token, EXPORT_PURPOSE);
    if (claims === 'invalid') return refuse(res, 404, 'No export at this link');
    if (claims === 'expired') return refuse(res, 410, 'This link has expired: ask for a new one with exportMyData');
    if (building.has(claims.userId) || building.size >= MAX_CONCURRENT) {
      return refuse(res.set('retry-after', '10'), 429, 'An export is being built already; try again shortly');
    }
    building.add(claims.userId);
    // A client that stops reading (or reads forever) gives its slot back.
    res.setTimeout(STALL_MS, () => res.destroy());
    const cut = setTimeout(() => res.destroy(), TOTAL_MS).unref();
    res.on('close', () => {
      clearTimeout(cut);
      building.delete(claims.userId);
    });
    try {
      await deps.sessions.check({ userId: claims.userId, sessionId: claims.sessionId, role: 'USER' });
      const document = await exportDocument(deps, claims.userId);
      if (!document) return refuse(res, 410, 'The account no longer exists');
      res.status(200).set({
        'content-type': 'application/json; charset=utf-8',
        'content-disposition': `attachment; filename="pinit-data-${new Date().toISOString().slice(0, 10)}.json"`,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff',
      });
      await pipeline(Readable.from(document), res);
    } catch (error) {
      if (error instanceof DomainError && error.code === 'UNAUTHENTICATED')
        return refuse(res, 410, 'The session that asked for this export has ended: ask for a new one');
      deps.logger.error({ err: error, userId: claims.userId }, 'data export failed');
      // Headers sent: the download ends short, which the client sees as a failed transfer.
      if (res.headersSent) return res.destroy();
      const unavailable = isDatabaseUnavailable(error) || (error instanceof DomainError && error.retryable === true);
      return unavailable
        ? refuse(res.set('retry-after', '5'), 503, 'The export cannot be built now; try again shortly')
        : refuse(res, 500, 'The export failed');
    }
  };
}

export function createExportsRouter(deps: AppDeps): Router {
  const router = express.Router();
  router.get(EXPORT_PATH, serveExport(deps));
  return router;
}
