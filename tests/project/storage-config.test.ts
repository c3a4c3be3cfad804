// STORAGE: where images go. Production must name S3 or choose local files on purpose, because
// several instances would each keep their own files.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

const production = { NODE_ENV: 'production', JWT_SECRET: 's'.repeat(40) };
const s3 = { S3_BUCKET: 'pinit-images', S3_ENDPOINT: 'http://minio:9000' };

function refusal(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('the STORAGE setting', () => {
  it('defaults to S3 when S3_BUCKET is set, local files otherwise (outside production)', () => {
    expect(loadConfig({}).s3).toBeUndefined();
    expect(loadConfig(s3).s3).toMatchObject({ bucket: 'pinit-images' });
    expect(loadConfig({ ...production, ...s3 }).s3).toMatchObject({ bucket: 'pinit-images' });
  });

  it('refuses production without S3_BUCKET, in one line naming S3_BUCKET and STORAGE=disk', () => {
    const message = refusal(production);
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toMatch(
      /^Invalid configuration: S3_BUCKET must be set when NODE_ENV=production .*set STORAGE=disk/,
    );
  });

  it('lets production keep images on disk when STORAGE=disk says so', () => {
    expect(loadConfig({ ...production, STORAGE: 'disk' }).s3).toBeUndefined();
  });

  it('refuses contradictions and unknown values', () => {
    expect(refusal({ STORAGE: 's3' })).toBe('Invalid configuration: S3_BUCKET must be set when STORAGE=s3');
    expect(refusal({ ...s3, STORAGE: 'disk' })).toBe(
      'Invalid configuration: STORAGE=disk and S3_BUCKET contradict each other; unset one of them',
    );
    expect(refusal({ STORAGE: 'nfs' })).toBe('Invalid configuration: STORAGE must be disk or s3');
    expect(loadConfig({ ...s3, STORAGE: 's3' }).s3).toMatchObject({ bucket: 'pinit-images' });
  });
});
