import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The printed schema clients generate types from. */
export const SCHEMA_FILE = join(root, 'schema.graphql');
/** The client contract, kept beside the repository in shared/api. */
export const CONTRACT_FILE = join(root, '..', 'shared', 'api', 'contract.graphql');
