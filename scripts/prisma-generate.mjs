// Runs `prisma generate` offline. Prisma's CLI insists on a native schema engine binary,
// which it would download; nothing in generate uses it, so we point it at a stub that
// explains itself if anything ever does call it. Migrations go through the WASM engine
// instead (src/db/migrate.ts).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stub = join(root, 'node_modules', '.cache', 'pinit', 'schema-engine-stub');
if (!existsSync(stub)) {
  mkdirSync(dirname(stub), { recursive: true });
  writeFileSync(
    stub,
    '#!/bin/sh\necho "PinIt: the native Prisma schema engine is not installed; use npm run db:migrate (WASM engine)." >&2\nexit 1\n',
  );
  chmodSync(stub, 0o755);
}
const env = {
  ...process.env,
  // generators such as prisma-pothos-types are resolved from node_modules/.bin
  PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? stub,
};
const cli = join(root, 'node_modules', 'prisma', 'build', 'index.js');
const result = spawnSync(process.execPath, [cli, 'generate'], { cwd: root, env, stdio: 'inherit' });
process.exit(result.status ?? 1);
