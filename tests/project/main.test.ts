// `npm start` as a user runs it: the embedded default from an empty data directory, demo
// data, readiness, metrics on their own port, and a clean exit on SIGTERM; and a one-line refusal of bad configuration.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runScript, spawnScript } from '../helpers/process.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

// A cold `node --import tsx` process that creates, migrates and seeds an embedded database:
// tens of seconds of CPU on a busy two-core machine.
const SLOW = 120_000;

describe('src/main.ts', () => {
  it(
    'starts on the embedded default with demo data, serves /graphql, /readyz and (on its metrics port) /metrics, and exits 0 on SIGTERM',
    async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'pinit-main-'));
      dirs.push(dataDir);
      const child = spawnScript('src/main.ts', [], {
        DATA_DIR: dataDir,
        PORT: '0',
        HOST: '127.0.0.1',
        // Any free port: 9464 may be taken by another run.
        METRICS_PORT: '0',
        LOG_LEVEL: 'info',
      });
      let output = '';
      const { url, metrics } = await new Promise<{ url: string; metrics: string }>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const ready = output.split('\n').find((line) => line.includes('PinIt API ready'));
          if (ready) resolve(JSON.parse(ready) as { url: string; metrics: string });
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
      });
      try {
        expect((await fetch(url.replace('/graphql', '/readyz'))).status).toBe(200);
        expect((await fetch(metrics)).status).toBe(200);
        expect((await fetch(url.replace('/graphql', '/metrics'))).status).toBe(404);
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: '{ searchUsers(query: "a", first: 50) { edges { node { username } } } }' }),
        });
        const body = await res.json();
        // "A few dozen" demo users.
        expect(body.data.searchUsers.edges.length).toBeGreaterThanOrEqual(24);
      } finally {
        child.kill('SIGTERM');
      }
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
      expect(output).toContain('"msg":"stopped"');
    },
    SLOW,
  );

  it('refuses bad configuration with one line naming the variable', async () => {
    const result = await runScript('src/main.ts', [], { PORT: 'eighty' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual(['Invalid configuration: PORT must be a port number']);
  });
});
