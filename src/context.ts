// Per-operation context. Each HTTP request and each graphql-ws operation gets a fresh one,
// so DataLoader caches never serve rows older than the operation.
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { Database, PrismaClient } from './db/index.ts';
import type { PubSub } from './pubsub/index.ts';
import type { RateLimiter } from './ratelimit/index.ts';
import type { Storage } from './storage/index.ts';
import type { Role, TokenIssuer } from './auth/tokens.ts';

/** The long-lived parts every operation shares: adapters behind their interfaces. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Database;
  prisma: PrismaClient;
  pubsub: PubSub;
  storage: Storage;
  rateLimiter: RateLimiter;
  tokens: TokenIssuer;
}

/** The signed-in user of an operation. */
export interface Viewer {
  id: string;
  role: Role;
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
}

export function createContext(deps: AppDeps, fields: Omit<Context, 'deps' | 'prisma'>): Context {
  return { deps, prisma: deps.prisma, ...fields };
}
