// A production start that cannot work ends with one line saying what is wrong and what to do,
// and exit code 1: no stack trace from the WASM migration engine, no JSON log of an error.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runScript } from '../helpers/process.ts';

const adminUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

const production = {
  NODE_ENV: 'production',
  JWT_SECRET: 's'.repeat(40),
  PORT: '0',
  METRICS_PORT: '0',
  HOST: '127.0.0.1',
  STORAGE: 'disk',
  DATA_DIR: '/nonexistent/pinit-startup-test',
};

/** A local port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function oneLine(result: { code: number | null; stdout: string; stderr: string }): string {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toMatch(/wasm|\.js:\d+:\d+/);
  return lines[0]!;
}

// Each case starts a process (tsx loading the whole app); slow on a busy machine.
const SLOW = { timeout: 120_000 };

describe('a production start that cannot reach its database', SLOW, () => {
  it.skipIf(!adminUrl)('names the missing database and how to create it', async () => {
    const name = `pinit_missing_${randomBytes(4).toString('hex')}`;
    const url = new URL(adminUrl!);
    url.pathname = `/${name}`;
    const line = oneLine(await runScript('src/main.ts', [], { ...production, DATABASE_URL: url.toString() }, 110_000));
    expect(line).toBe(
      `Database unavailable: database "${name}" does not exist on the PostgreSQL server at ${url.hostname}:${url.port || 5432} (DATABASE_URL); create it (CREATE DATABASE "${name}") or point DATABASE_URL at an existing database`,
    );
  });

  it('says that nothing listens at the address, without the password', async () => {
    const port = await closedPort();
    const line = oneLine(
      await runScript(
        'src/main.ts',
        [],
        { ...production, DATABASE_URL: `postgresql://pinit:secret-pw@127.0.0.1:${port}/pinit` },
        110_000,
      ),
    );
    expect(line).toContain(`nothing accepts connections at 127.0.0.1:${port} (DATABASE_URL)`);
    expect(line).not.toContain('secret-pw');
  });

  it('gives `npm run db:migrate` the same line', async () => {
    const port = await closedPort();
    const line = oneLine(
      await runScript(
        'scripts/migrate.ts',
        [],
        { ...production, DATABASE_URL: `postgresql://pinit@127.0.0.1:${port}/pinit` },
        110_000,
      ),
    );
    expect(line).toMatch(/^Database unavailable: nothing accepts connections at/);
  });
});

describe('production without S3', SLOW, () => {
  it('refuses to start unless STORAGE=disk says local files are meant', async () => {
    const { STORAGE: _, ...withoutStorage } = production;
    const line = oneLine(await runScript('src/main.ts', [], withoutStorage, 110_000));
    expect(line).toBe(
      'Invalid configuration: S3_BUCKET must be set when NODE_ENV=production (each instance would keep its own images on its own disk); set STORAGE=disk to store them under DATA_DIR/files on a single instance',
    );
  });
});
