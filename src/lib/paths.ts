// The project root, found from this module's location whether it runs from src/ (tsx) or
// from dist/src/ (compiled): the nearest ancestor holding prisma/schema.prisma.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'prisma', 'schema.prisma'))) return dir;
    if (dirname(dir) === dir) throw new Error(`prisma/schema.prisma not found above ${start}`);
  }
}

export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** The printed schema clients generate types from. */
export const SCHEMA_FILE = join(PROJECT_ROOT, 'schema.graphql');
/**
 * The project's copy of the client contract (api/contract.graphql). The planning copy lives
 * in shared/api beside the repository; .ci/run fails when the two differ.
 */
export const CONTRACT_FILE = join(PROJECT_ROOT, 'api', 'contract.graphql');
