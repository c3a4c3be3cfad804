// Per-operation context. Each HTTP request and each graphql-ws operation gets a fresh one,
// so DataLoader caches never serve rows older than the operation.
import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { Database, PrismaClient } from './db/index.ts';
import type { Metrics } from './metrics/index.ts';
import type { PresenceStore } from './presence/index.ts';
import type { PubSub } from './pubsub/index.ts';
import type { RateLimiter } from './ratelimit/index.ts';
import type { Storage } from './storage/index.ts';
import type { SessionStates } from './auth/sessions.ts';
import type { ChangeFeed } from './changes/index.ts';
import type { Role, TokenIssuer } from './auth/tokens.ts';
import type { DownloadLinks } from './auth/links.ts';

/** The long-lived parts every operation shares: adapters behind their interfaces. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Database;
  prisma: PrismaClient;
  pubsub: PubSub;
  presence: PresenceStore;
  metrics: Metrics;
  storage: Storage;
  rateLimiter: RateLimiter;
  tokens: TokenIssuer;
  /** Signed, expiring download links (the data export). */
  downloads: DownloadLinks;
  /** Which sessions are live and the role each has now, per instance, invalidated through pub/sub. */
  sessions: SessionStates;
  /** The change log behind resumable subscriptions: record in a transaction, tell it after commit, subscribe. */
  changes: ChangeFeed;
}

/** The signed-in user of an operation. */
export interface Viewer {
  id: string;
  /** The role now (the session's, not the token's). */
  role: Role;
  /** The session the access token belongs to. */
  sessionId: string;
  /** Access-token expiry in epoch seconds. */
  tokenExpiresAt: number;
}

export interface Context {
  deps: AppDeps;
  prisma: PrismaClient;
  viewer: Viewer | null;
  requestId: string;
  logger: Logger;
  clientIp: string;
  loaders: Loaders;
  /** When a query must stop resolving fields (epoch ms); Infinity for mutations and subscriptions (src/schema/deadline.ts). */
  deadline: number;
}

/** Batches per operation for what Prisma relations don't cover. */
export interface Loaders {
  isOnline: DataLoader<string, boolean>;
}

export function createContext(
  deps: AppDeps,
  fields: Omit<Context, 'deps' | 'prisma' | 'loaders' | 'deadline'>,
): Context {
  return {
    deps,
    prisma: deps.prisma,
    deadline: Infinity,
    ...fields,
    loaders: { isOnline: new DataLoader((ids) => deps.presence.areOnline(ids)) },
  };
}
