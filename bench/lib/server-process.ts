// API instances as child processes (`node --import tsx src/main.ts`), for cases whose server
// must not share a process with the load generator: its RSS and handles are then its own, and
// several instances behave as separate deployments do (own event loop, own pools). Peers the
// bench compares the API with (bench/peers/) run the same way, through startChildProcess.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

export interface ServerProcessOptions {
  /** The API's own database (not the admin URL); instances of one deployment share it. */
  databaseUrl: string;
  redisUrl: string;
  /** Instances of one deployment share the prefix (and so hear each other's changes). */
  redisPrefix: string;
  /** Instances of one deployment share the secret (a token from A works on B). */
  jwtSecret: string;
  /** Extra environment, e.g. { WS_MAX_CONNECTIONS_PER_USER: '1000' }. */
  env?: Record<string, string>;
  /** Shown in errors, e.g. "instance A". */
  name?: string;
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=…'] (a profile written when the instance exits). */
  nodeArgs?: string[];
  /**
   * The checkout whose src/main.ts runs (default this one): another commit's tree, with its own
   * node_modules and generated client, for an A/B of two versions under the same harness.
   */
  root?: string;
}

export interface ServerProcess {
  name: string;
  pid: number;
  url: string;
  graphqlUrl: string;
  wsUrl: string;
  /** Base URL of the instance's metrics listener (METRICS_PORT). */
  metricsUrl: string;
  /** The instance's /metrics, parsed: series name (with labels, as printed) → value. */
  metrics(): Promise<Map<string, number>>;
  /** The last few KB of what the instance wrote (LOG_LEVEL=warn: warnings and errors only). */
  recentOutput(): string;
  /** SIGTERM (graceful shutdown), SIGKILL after a deadline; removes the data directory. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Node arguments for an instance whose live memory a case reads: SIGUSR2 then runs a full
 * garbage collection (bench/clients/gc-on-signal.mjs).
 */
export const GC_ON_SIGNAL_ARGS = ['--expose-gc', '--import', join(ROOT, 'bench', 'clients', 'gc-on-signal.mjs')];

/**
 * Live memory of an instance started with GC_ON_SIGNAL_ARGS, right after a full collection:
 * V8's heap in use and its external memory (Buffers' bytes), in MB. Unlike RSS, it shows what is
 * held, not when the collector last ran or what the allocator kept after it.
 */
export async function liveMemoryMB(
  server: Pick<ServerProcess, 'pid' | 'metrics'>,
  settleMs = 1_000,
): Promise<{ heap: number; external: number }> {
  process.kill(server.pid, 'SIGUSR2');
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const m = await server.metrics();
  return {
    heap: (m.get('pinit_nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20,
    external: (m.get('pinit_nodejs_external_memory_bytes') ?? NaN) / 2 ** 20,
  };
}

/** A deployment's shared settings: one Redis prefix and one JWT secret, fresh per run. */
export function deploymentSecrets(): Pick<ServerProcessOptions, 'redisPrefix' | 'jwtSecret'> {
  return { redisPrefix: `bench-${randomBytes(4).toString('hex')}`, jwtSecret: randomBytes(32).toString('base64url') };
}

/**
 * A free TCP port. The API logs its URL only at level info, where every request is logged
 * too (which would cost the server CPU during the measurement), so the port is chosen here.
 */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** What every child process of the bench is: `node --import tsx <script>` on a port of its own. */
export interface ChildProcessOptions {
  /** Shown in errors, e.g. "instance A". */
  name: string;
  /** The entry point, relative to the repository root. */
  script: string;
  /** Its environment besides PATH, HOME and PORT (a free port chosen here, listened on at 127.0.0.1). */
  env: Record<string, string>;
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=…']. */
  nodeArgs?: string[];
  /** The directory the script is relative to and the child runs in (default this repository's root). */
  root?: string;
  /** Whether the child at its base URL is ready, polled every 200 ms; a rejection means not yet. */
  ready: (url: string) => Promise<boolean>;
  /** Runs once the child has exited (after stop, or a failed start), e.g. to remove its files. */
  cleanUp?: () => Promise<void>;
}

export interface ChildProcessHandle {
  name: string;
  pid: number;
  /** Base URL, e.g. http://127.0.0.1:43121 */
  url: string;
  /** The last few KB of what the child wrote. */
  recentOutput(): string;
  /** SIGTERM (graceful shutdown), SIGKILL after a deadline, then cleanUp. Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts a child process and resolves once `ready` says so; a child that exits or stays unready fails the start. */
export async function startChildProcess(opts: ChildProcessOptions): Promise<ChildProcessHandle> {
  const port = await freePort();
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', opts.script], {
    cwd: opts.root ?? ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Warnings and errors are kept for the report of a failed start; the tail is enough.
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const url = `http://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await terminate(child, exited);
      await opts.cleanUp?.();
    })());

  try {
    await waitReady(url, opts.ready, exited, () => output);
  } catch (error) {
    await stop();
    throw new Error(`${opts.name} did not start: ${(error as Error).message}\n${output}`, { cause: error });
  }
  return { name: opts.name, pid: child.pid!, url, recentOutput: () => output, stop };
}

/** Starts one API instance and resolves once /readyz answers 200 (migrations done, pools up). */
export async function startServerProcess(opts: ServerProcessOptions): Promise<ServerProcess> {
  // Its own metrics port too: instances of one run share the machine (and 9464 may be taken).
  const metricsPort = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'pinit-bench-proc-'));
  const child = await startChildProcess({
    name: opts.name ?? 'API',
    script: 'src/main.ts',
    nodeArgs: opts.nodeArgs,
    ...(opts.root ? { root: opts.root } : {}),
    env: {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      DATA_DIR: dataDir,
      DATABASE_URL: opts.databaseUrl,
      REDIS_URL: opts.redisUrl,
      REDIS_PREFIX: opts.redisPrefix,
      JWT_SECRET: opts.jwtSecret,
      RATE_LIMITS: 'off',
      SEED_DEMO: 'false',
      // No case uploads images; production must choose local files explicitly.
      STORAGE: 'disk',
      LOG_LEVEL: 'warn',
      // The load generator is one address with thousands of sockets.
      WS_MAX_CONNECTIONS_PER_IP: '100000',
      WS_MAX_ANONYMOUS_CONNECTIONS_PER_IP: '100000',
      ...opts.env,
    },
    ready: async (url) => (await fetch(`${url}/readyz`)).ok,
    cleanUp: () => rm(dataDir, { recursive: true, force: true }),
  });
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  return {
    ...child,
    graphqlUrl: `${child.url}/graphql`,
    wsUrl: `${child.url.replace('http:', 'ws:')}/graphql`,
    metricsUrl,
    metrics: () => readMetrics(metricsUrl),
  };
}

async function waitReady(
  url: string,
  ready: (url: string) => Promise<boolean>,
  exited: Promise<number | null>,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`exited with code ${exitCode}`);
    if (await ready(url).catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`not ready within ${READY_TIMEOUT_MS / 1000} s; output so far: ${output().slice(-500)}`);
}

async function terminate(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** Prometheus text format → series → value (comments and histograms' labels kept verbatim), from a metrics listener's base URL. */
export async function readMetrics(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  const series = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    series.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return series;
}
