// /metrics as an attacker and a scraper meet it. Operation names are the client's choice, and
// each distinct one used to add a series per histogram bucket (5,000 names: 65,000 series, 19 MB
// of /metrics, never freed): now only the first METRICS_MAX_OPERATION_NAMES names of validated
// documents become label values. /metrics is served on its own port (METRICS_PORT); on the
// public port only with METRICS_TOKEN, to its holder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { postQuery, scrape, wsQuery } from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

/** Sample lines of an exposition: one per series. */
const seriesIn = (text: string) => text.split('\n').filter((line) => line && !line.startsWith('#')).length;

/** The distinct values of the operation label of the operations counter. */
const operationLabels = (text: string) =>
  new Set([...text.matchAll(/^pinit_graphql_operations_total\{[^}]*operation="([^"]*)"/gm)].map((m) => m[1]));

/** The operations counter summed over the series carrying these labels. */
const count = (text: string, labels: Record<string, string>) =>
  text
    .split('\n')
    .filter((line) => line.startsWith('pinit_graphql_operations_total{'))
    .filter((line) => Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);

/** Sends `count` queries, each with its own operation name, a few at a time. */
async function distinctNames(server: TestServer, count: number, name = (i: number) => `Op${i}`): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const { status } = await postQuery(server, `query ${name(next++)} { __typename }`);
      expect(status).toBe(200);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

const kb = (text: string) => `${(Buffer.byteLength(text) / 1024).toFixed(1)} KB`;

describe('operation names on /metrics, with a small cap', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { METRICS_MAX_OPERATION_NAMES: '5' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  // A hundred times the cap: were any series kept per name past it, these alone would more than
  // double the exposition (the first assertion below). 5,000 names (the bench's hostile case)
  // prove no more and took most of this file's time.
  const NAMES = 500;

  it(`keeps the series bounded through ${NAMES} distinct operation names`, { timeout: 120_000 }, async () => {
    // Documents that fail validation are timed as __invalid and take no place in the cap.
    for (let i = 0; i < 10; i++) expect((await postQuery(server, `query Bad${i} { nope }`)).status).toBe(400);
    await postQuery(server, 'query Warm { __typename }');
    const before = await scrape(server);
    expect(NAMES - 5).toBeGreaterThan(seriesIn(before));

    await distinctNames(server, NAMES);
    // A name past the cap over graphql-ws, and names that are no GraphQL name of sane length.
    expect((await wsQuery(server, 'query OverWs { __typename }')).errors).toBeUndefined();
    await postQuery(server, `query ${'L'.repeat(5_000)} { __typename }`);
    const after = await scrape(server);

    console.info(
      `/metrics before and after ${NAMES} distinct operation names (cap 5): ${seriesIn(before)} → ${seriesIn(after)} series, ${kb(before)} → ${kb(after)}`,
    );
    expect(seriesIn(after)).toBeLessThanOrEqual(2 * seriesIn(before));
    expect([...operationLabels(after)].sort()).toEqual(['Op0', 'Op1', 'Op2', 'Op3', 'Warm', '__invalid', '__other']);
    expect(count(after, { operation: '__other', transport: 'ws' })).toBe(1);
    expect(count(after, { operation: '__invalid', type: 'invalid' })).toBe(10);
  });

  it('labels anonymous operations as one value', async () => {
    await postQuery(server, '{ __typename }');
    expect(operationLabels(await scrape(server))).toContain('__anonymous');
  });

  it('serves /metrics on the metrics port, and not on the public port without a token', async () => {
    expect(server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.metricsUrl).not.toBe(server.url);
    const scraped = await fetch(`${server.metricsUrl}/metrics`);
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await scraped.text()).toContain('pinit_process_resident_memory_bytes');
    // The metrics listener serves nothing else.
    expect((await fetch(`${server.metricsUrl}/graphql`)).status).toBe(404);

    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    const withToken = await fetch(`${server.url}/metrics`, {
      headers: { authorization: 'Bearer anything-at-all-0123' },
    });
    expect(withToken.status).toBe(404);
  });

  it('stops start-up with one line when the metrics port is taken (two instances on one machine)', async () => {
    const taken = new URL(server.metricsUrl!).port;
    const error: unknown = await startTestServer({ env: { METRICS_PORT: taken } }).then(
      async (started) => {
        await started.close();
        return new Error('started on a taken port');
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      `Invalid configuration: METRICS_PORT=${taken} on 127.0.0.1 is already in use (another instance on this machine?); give each instance its own METRICS_PORT`,
    );
  });
});

describe('the default cap, and /metrics on the public port with METRICS_TOKEN', () => {
  const token = 'scraper-token-0123456789abcdef';
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { METRICS_TOKEN: token } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('keeps at most 100 operation names by default', { timeout: 60_000 }, async () => {
    expect(server.config.metrics.maxOperationNames).toBe(100);
    await postQuery(server, 'query Warm { __typename }');
    const before = await scrape(server);
    await distinctNames(server, 300);
    const after = await scrape(server);
    const labels = operationLabels(after);
    console.info(
      `/metrics before and after 300 distinct operation names (default cap): ${seriesIn(before)} → ${seriesIn(after)} series, ${kb(before)} → ${kb(after)}`,
    );
    expect(labels.size).toBe(100 + 1);
    expect(labels).toContain('__other');
    expect(labels).not.toContain('Op299');
    // One counter series per name (99 new names and __other); latency is not per name.
    const perName = seriesIn(
      after
        .split('\n')
        .filter((l) => l.includes('operation="Op0"'))
        .join('\n'),
    );
    expect(perName).toBe(1);
    // The app's own series, not the process metrics (each new kind of GC the process meets adds
    // a histogram): they grew by the counter's new names alone.
    const ours = (text: string) =>
      seriesIn(
        text
          .split('\n')
          .filter((line) => !/^pinit_(process|nodejs)_/.test(line))
          .join('\n'),
      );
    expect(ours(after) - ours(before)).toBeLessThanOrEqual(labels.size);
  });

  it('answers 401 to a missing or wrong token on the public port, and serves the right one', async () => {
    const publicMetrics = (authorization?: string) =>
      fetch(`${server.url}/metrics`, { headers: authorization ? { authorization } : {} });
    expect((await publicMetrics()).status).toBe(401);
    expect((await publicMetrics(`Bearer ${token}x`)).status).toBe(401);
    expect((await publicMetrics(`Bearer ${token.slice(0, -1)}`)).status).toBe(401);
    expect((await publicMetrics(token)).status).toBe(401);
    const ok = await publicMetrics(`Bearer ${token}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('pinit_graphql_operation_duration_seconds');
    // The metrics port needs no token: it is meant for the internal network only.
    expect((await fetch(`${server.metricsUrl}/metrics`)).status).toBe(200);
  });
});

describe('metrics configuration', () => {
  it('listens on 9464 of HOST by default; METRICS_PORT=off has no listener', () => {
    expect(loadConfig({}).metrics).toEqual({ port: 9464, host: '0.0.0.0', token: undefined, maxOperationNames: 100 });
    expect(loadConfig({ HOST: '10.0.0.5', METRICS_PORT: '0' }).metrics).toMatchObject({ port: 0, host: '10.0.0.5' });
    expect(loadConfig({ METRICS_PORT: 'off', METRICS_HOST: '127.0.0.1' }).metrics).toMatchObject({
      port: null,
      host: '127.0.0.1',
    });
  });

  it.each([
    [{ METRICS_PORT: 'nine' }, 'METRICS_PORT'],
    [{ METRICS_PORT: '70000' }, 'METRICS_PORT'],
    [{ PORT: '9464' }, 'METRICS_PORT must differ from PORT'],
    [{ METRICS_TOKEN: 'short' }, 'METRICS_TOKEN'],
    [{ METRICS_MAX_OPERATION_NAMES: 'many' }, 'METRICS_MAX_OPERATION_NAMES'],
  ])('stops on %j with one line naming %s', (env, text) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(text);
  });
});
