// The README's codegen.ts for client apps, run as an app would: GraphQL Code Generator with
// exactly that configuration in an ESM TypeScript project ("type": "module", NodeNext), then
// tsc over the result. Without emitLegacyCommonJSImports: false the generated index.ts imports
// "./gql" without an extension and tsc fails with TS2835; this checks the snippet keeps it.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { generate } from '@graphql-codegen/cli';
import type { CodegenConfig } from '@graphql-codegen/cli';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process.ts';

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The ts block that follows "add a `codegen.ts`" in the README. */
function readmeSnippet(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const from = readme.indexOf('add a `codegen.ts`');
  expect(from).toBeGreaterThan(0);
  return /```ts\n([\s\S]*?)```/.exec(readme.slice(from))![1]!;
}

/** An ESM app with the example operations and the given codegen.ts; returns its directory. */
async function appWith(snippet: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'pinit-codegen-app-'));
  dirs.push(dir);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
      },
      include: ['src'],
    }),
  );
  cpSync(join(ROOT, 'examples', 'operations'), join(dir, 'src', 'operations'), { recursive: true });
  writeFileSync(
    join(dir, 'src', 'main.ts'),
    "import * as gql from './gql/index.js';\nexport const documents: object = gql;\n",
  );
  writeFileSync(join(dir, 'codegen.ts'), snippet);
  return dir;
}

async function generateAndTypecheck(dir: string): Promise<{ ok: boolean; output: string }> {
  const config = ((await import(join(dir, 'codegen.ts'))) as { default: CodegenConfig }).default;
  // The snippet points at a sibling checkout; here the schema is this repository's.
  const outputs = (await generate(
    { ...config, schema: join(ROOT, 'schema.graphql'), cwd: dir, silent: true },
    false,
  )) as Array<{ filename: string; content: string }>;
  expect(outputs.map((o) => o.filename)).toEqual(
    expect.arrayContaining(['src/gql/gql.ts', 'src/gql/graphql.ts', 'src/gql/index.ts']),
  );
  for (const { filename, content } of outputs) {
    const file = join(dir, filename);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  try {
    const { stdout } = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir]);
    return { ok: true, output: stdout };
  } catch (error) {
    return { ok: false, output: String((error as { stdout?: string }).stdout ?? error) };
  }
}

describe("the README's codegen.ts for client apps", () => {
  it('generates documents that an ESM app type-checks', async () => {
    const snippet = readmeSnippet();
    expect(snippet).toContain('emitLegacyCommonJSImports: false');
    const result = await generateAndTypecheck(await appWith(snippet));
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
  }, 120_000);

  it('fails that app with TS2835 without emitLegacyCommonJSImports: false (the snag it prevents)', async () => {
    const snippet = readmeSnippet().replace(/^.*emitLegacyCommonJSImports: false,\n/m, '');
    const result = await generateAndTypecheck(await appWith(snippet));
    expect(result.ok).toBe(false);
    expect(result.output).toContain('TS2835');
  }, 120_000);
});
