// Prisma migrations through Prisma's own schema engine compiled to WASM, so neither the
// app nor its tooling needs the native engine binary (which these machines cannot
// download). applyMigrations records `_prisma_migrations` exactly as
// `prisma migrate deploy` does, so the two stay interchangeable.
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import * as glue from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { MigrationList, SchemaEngine } from '@prisma/schema-engine-wasm';
import { PROJECT_ROOT } from '../lib/paths.ts';

export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'prisma', 'migrations');
export const SCHEMA_PATH = join(PROJECT_ROOT, 'prisma', 'schema.prisma');

let engineClass: Promise<typeof SchemaEngine> | undefined;

/** Instantiates the WASM module once per process (its glue keeps the instance in a module global). */
function loadEngineClass(): Promise<typeof SchemaEngine> {
  engineClass ??= (async () => {
    // The package's exports hide package.json, so locate it through the main entry.
    const pkgDir = dirname(createRequire(import.meta.url).resolve('@prisma/schema-engine-wasm'));
    const wasmModule = await WebAssembly.compile(await readFile(join(pkgDir, 'schema_engine_bg.wasm')));
    const imports: Record<string, unknown> = { ...glue };
    for (const name of Object.keys(glue)) {
      if (name.startsWith('__wbg_setTimeout')) {
        // The engine arms 10 s timers; unref them or short CLI runs linger.
        const original = (glue as Record<string, unknown>)[name] as (...args: unknown[]) => NodeJS.Timeout;
        imports[name] = (...args: unknown[]) => {
          const timer = original(...args);
          timer.unref?.();
          return timer;
        };
      }
    }
    const importObject: WebAssembly.Imports = {};
    for (const { module } of WebAssembly.Module.imports(wasmModule)) {
      importObject[module] = imports as WebAssembly.ModuleImports;
    }
    const instance = await WebAssembly.instantiate(wasmModule, importObject);
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return glue.SchemaEngine as unknown as typeof SchemaEngine;
  })();
  return engineClass;
}

/**
 * Runs `use` with an engine, then frees it and disposes the connections it opened: the
 * engine does not, and a PostgreSQL pool left open keeps a CLI process alive.
 */
async function withEngine<T>(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  use: (engine: SchemaEngine, schema: string) => Promise<T>,
): Promise<T> {
  const schema = await readFile(SCHEMA_PATH, 'utf8');
  const Engine = await loadEngineClass();
  const opened: SqlDriverAdapter[] = [];
  const track = async (adapter: Promise<SqlDriverAdapter>) => {
    opened.push(wholeScripts(await adapter));
    return opened.at(-1)!;
  };
  const tracked: SqlMigrationAwareDriverAdapterFactory = {
    provider: adapterFactory.provider,
    adapterName: adapterFactory.adapterName,
    connect: () => track(adapterFactory.connect()),
    connectToShadowDb: () => track(adapterFactory.connectToShadowDb()),
  };
  const log = (message: string) => {
    if (process.env.PINIT_DEBUG_MIGRATIONS) process.stderr.write(`${message}\n`);
  };
  const engine = await Engine.new(
    { datamodels: [[SCHEMA_PATH, schema]] },
    log,
    bindMigrationAwareSqlAdapterFactory(tracked),
  );
  try {
    return await use(engine, schema);
  } finally {
    engine.free();
    await Promise.all(opened.map((adapter) => adapter.dispose().catch(() => undefined)));
  }
}

/**
 * Migrations run whole, as `prisma migrate deploy` runs them: @prisma/adapter-pg splits a script
 * at every `;`, which breaks a function's body (and a `;` in a string). A statement without
 * parameters goes over pg's simple query protocol, which takes many statements at once (and
 * runs them in one implicit transaction). PGlite's adapter runs scripts whole already.
 */
function wholeScripts(adapter: SqlDriverAdapter): SqlDriverAdapter {
  if (adapter.adapterName !== '@prisma/adapter-pg') return adapter;
  adapter.executeScript = async (script) => {
    await adapter.executeRaw({ sql: script, args: [], argTypes: [] });
  };
  return adapter;
}

/** Reads prisma/migrations in the shape the engine expects. */
export async function readMigrations(dir = MIGRATIONS_DIR): Promise<MigrationList> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const lockPath = join(dir, 'migration_lock.toml');
  return {
    baseDir: dir,
    lockfile: { path: 'migration_lock.toml', content: await readFile(lockPath, 'utf8').catch(() => null) },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      names.map(async (name) => ({
        path: name,
        migrationFile: {
          path: 'migration.sql',
          content: await readFile(join(dir, name, 'migration.sql'), 'utf8').then(
            (value) => ({ tag: 'ok' as const, value }),
            (error: Error) => ({ tag: 'error' as const, value: error.message }),
          ),
        },
      })),
    ),
  };
}

const noFilter = { externalTables: [], externalEnums: [] };

/** Applies every pending migration; returns the names applied. */
export function applyMigrations(adapterFactory: SqlMigrationAwareDriverAdapterFactory): Promise<string[]> {
  return withEngine(adapterFactory, async (engine) => {
    const { appliedMigrationNames } = await engine.applyMigrations({
      migrationsList: await readMigrations(),
      filters: noFilter,
    });
    return appliedMigrationNames;
  });
}

/**
 * The SQL that takes a database from the migrations' end state to prisma/schema.prisma.
 * The engine replays the migrations on the factory's shadow database to find the start state.
 */
export function diffSchemaAgainstMigrations(adapterFactory: SqlMigrationAwareDriverAdapterFactory): Promise<string> {
  return withEngine(adapterFactory, async (engine, schema) => {
    const result = await engine.diff({
      from: { tag: 'migrations', ...(await readMigrations()) },
      to: { tag: 'schemaDatamodel', files: [{ path: SCHEMA_PATH, content: schema }] },
      script: true,
      exitCode: null,
      filters: noFilter,
    });
    return result.stdout ?? '';
  });
}
