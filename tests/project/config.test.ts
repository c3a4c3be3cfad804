import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { statementTimeoutFor, transactionOptionsFor } from '../../src/db/index.ts';

describe('configuration', () => {
  it('runs embedded with nothing set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 4000,
      databaseUrl: undefined,
      redisUrl: undefined,
      s3: undefined,
      seedDemo: true,
      uploadsMaxConcurrentPerUser: 2,
      uploadsMaxConcurrent: 16,
      uploadIdleTimeoutSeconds: 10,
      uploadTimeoutSeconds: 60,
      httpHeadersTimeoutSeconds: 10,
      httpKeepAliveTimeoutSeconds: 5,
    });
    expect(config.rateLimits.enabled).toBe(true);
    expect(config.dataDir.endsWith('.data')).toBe(true);
  });

  it('reads the production parts', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      JWT_SECRET: 's'.repeat(40),
      DATABASE_URL: 'postgresql://u@db/pinit',
      REDIS_URL: 'redis://cache:6379',
      S3_BUCKET: 'pinit-media',
      S3_REGION: 'auto',
      S3_ENDPOINT: 'https://acct.r2.cloudflarestorage.com',
      S3_ACCESS_KEY_ID: 'id',
      S3_SECRET_ACCESS_KEY: 'secret',
      S3_PUBLIC_URL: 'https://media.pinit.example/',
      S3_FORCE_PATH_STYLE: 'true',
      CORS_ORIGINS: 'https://a.example, https://b.example',
      RATE_LIMITS: 'off',
      RATE_LIMIT_LOGIN_PER_IP: '100/60',
      SEED_DEMO: 'false',
    });
    expect(config.s3).toMatchObject({
      bucket: 'pinit-media',
      forcePathStyle: true,
      publicUrl: 'https://media.pinit.example/',
    });
    expect(config.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.rateLimits).toMatchObject({
      enabled: false,
      rules: { loginPerIp: { points: 100, durationSeconds: 60 } },
    });
    expect(config.seedDemo).toBe(false);
  });

  it('loads demo data by default only outside production', () => {
    expect(loadConfig({}).seedDemo).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(40), STORAGE: 'disk' }).seedDemo).toBe(false);
    expect(
      loadConfig({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(40), STORAGE: 'disk', SEED_DEMO: 'true' }).seedDemo,
    ).toBe(true);
    expect(loadConfig({ SEED_DEMO: 'false' }).seedDemo).toBe(false);
  });

  it('gives the database deadlines that fail a stalled request within 5 s', () => {
    const { databaseTimeouts } = loadConfig({});
    expect(databaseTimeouts).toEqual({ queryMs: 4_500, connectMs: 3_000 });
    // One statement, or waiting for a connection, ends before the 5 s target (the bench's
    // "hostile" case); the server cancels a statement a little before the client gives up.
    expect(databaseTimeouts.queryMs).toBeLessThan(5_000);
    expect(databaseTimeouts.connectMs).toBeLessThan(5_000);
    expect(statementTimeoutFor(databaseTimeouts.queryMs)).toBe(4_000);
    expect(transactionOptionsFor(databaseTimeouts)).toEqual({ maxWait: 3_000, timeout: 9_000 });
    expect(
      loadConfig({ DATABASE_QUERY_TIMEOUT_MS: '1500', DATABASE_CONNECT_TIMEOUT_MS: '1000' }).databaseTimeouts,
    ).toEqual({ queryMs: 1_500, connectMs: 1_000 });
  });

  it('trusts only loopback proxies unless told otherwise', () => {
    expect(loadConfig({}).trustProxy).toEqual(['loopback']);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toEqual(['loopback', '10.0.0.0/8']);
  });

  it.each([
    [{ TRUST_PROXY: 'every$one' }, 'TRUST_PROXY'],
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ DATABASE_QUERY_TIMEOUT_MS: '5s' }, 'DATABASE_QUERY_TIMEOUT_MS'],
    [{ DATABASE_CONNECT_TIMEOUT_MS: '10' }, 'DATABASE_CONNECT_TIMEOUT_MS'],
    [{ SEED_DEMO: 'maybe' }, 'SEED_DEMO'],
    [{ RATE_LIMITS: 'sometimes' }, 'RATE_LIMITS'],
    [{ RATE_LIMIT_LOGIN_PER_IP: 'ten' }, 'RATE_LIMIT_LOGIN_PER_IP'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
    [{ NODE_ENV: 'production' }, 'JWT_SECRET'],
    [{ S3_BUCKET: 'pinit', S3_ACCESS_KEY_ID: 'only-the-id' }, 'S3_ACCESS_KEY_ID'],
    [{ UPLOADS_MAX_CONCURRENT_PER_USER: '0' }, 'UPLOADS_MAX_CONCURRENT_PER_USER'],
    [{ UPLOAD_IDLE_TIMEOUT_SECONDS: 'soon' }, 'UPLOAD_IDLE_TIMEOUT_SECONDS'],
  ])('stops on %j with one line naming %s', (env, variable) => {
    let error: unknown;
    try {
      loadConfig(env as NodeJS.ProcessEnv);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain(variable);
    expect(message.split('\n')).toHaveLength(1);
  });
});
