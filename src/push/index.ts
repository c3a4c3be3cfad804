// Push delivery: senders for the configured providers and the outbox worker that uses them.
import type { Logger } from 'pino';
import type { PrismaClient } from '../db/index.ts';
import { createApnsSender } from './apns.ts';
import type { PushConfig } from './config.ts';
import { createFcmSender } from './fcm.ts';
import type { PushSender } from './types.ts';
import { createPushWorker } from './worker.ts';
import type { PushWorker } from './worker.ts';

export type { PushConfig } from './config.ts';
export type { PushMessage, PushPlatform, PushSender, SendResult } from './types.ts';
export { createPushWorker, type PushWorker, type PushWorkerOptions } from './worker.ts';

/** A sender per configured provider: APNs for IOS, FCM for ANDROID. WEB tokens are stored only. */
export function createPushSenders(config: PushConfig): PushSender[] {
  const senders: PushSender[] = [];
  if (config.apns) senders.push(createApnsSender(config.apns, { timeoutMs: config.timeoutMs }));
  if (config.fcm) senders.push(createFcmSender(config.fcm, { timeoutMs: config.timeoutMs }));
  return senders;
}

/**
 * The worker for this instance, started. Without a configured provider it delivers nothing and
 * only expires and prunes old jobs.
 */
export function startPushWorker(opts: { prisma: PrismaClient; config: PushConfig; logger: Logger }): PushWorker {
  const worker = createPushWorker({
    prisma: opts.prisma,
    senders: createPushSenders(opts.config),
    logger: opts.logger,
    maxAttempts: opts.config.maxAttempts,
    retryBaseMs: opts.config.retryBaseMs,
    pollMs: opts.config.pollMs,
    // A claimed job outlives its slowest send (token exchange plus the send itself) before another worker may take it.
    leaseMs: Math.max(30_000, 3 * opts.config.timeoutMs),
  });
  worker.start();
  return worker;
}
