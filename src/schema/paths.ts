import { join } from 'node:path';
import { PROJECT_ROOT } from '../paths.ts';

/** The printed schema clients generate types from. */
export const SCHEMA_FILE = join(PROJECT_ROOT, 'schema.graphql');
/** The client contract, kept beside the repository in shared/api. */
export const CONTRACT_FILE = join(PROJECT_ROOT, '..', 'shared', 'api', 'contract.graphql');
