// The container files, checked as far as this machine allows: no Docker engine runs here, so
// the image is not built. What is checked: every file the Dockerfile copies from the build
// context exists and is not excluded by .dockerignore, the runtime stage runs as a non-root
// user with a /readyz healthcheck and starts what the build compiles, the compose file's API
// settings are a valid configuration, and, where the docker client has compose,
// `docker compose config` accepts the file.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { ROOT } from '../helpers/process.ts';

const run = promisify(execFile);
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** Dockerfile instructions with continuation lines joined, comments dropped. */
function instructions(): string[] {
  return read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** The stages, each a list of its instructions, by name. */
function stages(): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of instructions()) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      current = [];
      byName.set(from[1] ?? `stage${byName.size}`, current);
    }
    current.push(line);
  }
  return byName;
}

function dockerignored(path: string): boolean {
  const patterns = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return patterns.some((p) => {
    const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`);
    return re.test(path);
  });
}

describe('Dockerfile', () => {
  it('copies only files that exist in the build context', () => {
    const sources = instructions()
      .filter((l) => /^COPY\s/i.test(l) && !/--from=/i.test(l))
      .flatMap((l) =>
        l
          .split(/\s+/)
          .slice(1, -1)
          .filter((a) => !a.startsWith('--')),
      );
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(dockerignored(source.replace(/\/$/, '')), `${source} is excluded by .dockerignore`).toBe(false);
    }
    // Generated and local state stay out of the context; the image makes its own.
    for (const local of ['node_modules', 'dist', '.data', 'src/generated', '.env'])
      expect(dockerignored(local), local).toBe(true);
  });

  it('runs as a non-root user, checks /readyz, and starts the compiled entry point', () => {
    const all = stages();
    expect([...all.keys()]).toEqual(['deps', 'build', 'runtime']);
    const runtime = all.get('runtime')!;
    const user = runtime.filter((l) => /^USER\s/i.test(l)).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER\s+(root|0)(:|$)/i);
    expect(runtime.find((l) => /^HEALTHCHECK\s/i.test(l))).toContain('/readyz');
    const cmd = JSON.parse(runtime.find((l) => /^CMD\s/i.test(l))!.replace(/^CMD\s+/i, '')) as string[];
    expect(cmd).toEqual(['node', 'dist/src/main.js']);
    // tsc -p tsconfig.build.json compiles src/main.ts to exactly that file.
    const build = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(join(build.compilerOptions.outDir, 'src', 'main.js')).toBe(cmd[1]);
    expect(existsSync(join(ROOT, 'src', 'main.ts'))).toBe(true);
    // prisma generate at build time; migrations (and the root marker) in the runtime image.
    expect(all.get('deps')!.join('\n')).toMatch(/RUN npm ci/);
    expect(runtime.join('\n')).toContain('prisma/migrations');
    expect(runtime.join('\n')).toContain('prisma/schema.prisma');
  });
});

describe('docker-compose.yml', () => {
  const compose = read('docker-compose.yml');

  it('has the API, PostgreSQL, Redis, MinIO and the bucket set-up', () => {
    for (const service of ['api', 'postgres', 'redis', 'minio', 'minio-bucket'])
      expect(compose).toMatch(new RegExp(`^  ${service}:$`, 'm'));
    expect(compose).toContain('mc mb --ignore-existing local/pinit-images');
  });

  it('gives the API a configuration it accepts', () => {
    const api = /^ {2}api:\n([\s\S]*?)(?=^ {2}\S)/m.exec(compose)![1]!;
    const block = /^ {4}environment:\n((?: {6}.*\n|\s*#.*\n)+)/m.exec(api)![1]!;
    const env = Object.fromEntries(
      [...block.matchAll(/^ {6}([A-Z0-9_]+): (.*)$/gm)].map(([, key, value]) => [
        key!,
        // A YAML string in either kind of quotes.
        value!.replace(/^(["'])(.*)\1$/, '$2'),
      ]),
    );
    expect(env.JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?/);
    const config = loadConfig({ ...env, JWT_SECRET: 'x'.repeat(40) });
    expect(config).toMatchObject({
      isProduction: true,
      databaseUrl: 'postgresql://pinit:pinit@postgres:5432/pinit',
      redisUrl: 'redis://redis:6379',
      graphiql: true,
      s3: { bucket: 'pinit-images', forcePathStyle: true },
    });
  });

  it('passes `docker compose config` where the docker client has compose', async (ctx) => {
    const available = await run('docker', ['compose', 'version']).then(
      () => true,
      () => false,
    );
    if (!available) {
      console.warn(
        '[container] `docker compose` is not available here; docker-compose.yml was not validated by docker',
      );
      ctx.skip();
    }
    const { stdout } = await run('docker', ['compose', '-f', join(ROOT, 'docker-compose.yml'), 'config', '--quiet'], {
      env: { ...process.env, JWT_SECRET: 'x'.repeat(40) },
    });
    expect(stdout).toBe('');
  });
});
