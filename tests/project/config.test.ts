import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

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
