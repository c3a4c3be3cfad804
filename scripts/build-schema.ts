// npm run schema:print — writes schema.graphql from the code-first schema. A test fails
// when the file is stale, so run this after changing any type.
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { SCHEMA_FILE } from '../src/lib/paths.ts';
import { sortedSchema } from '../src/schema/index.ts';

writeFileSync(SCHEMA_FILE, `${printSchema(sortedSchema)}\n`);
console.log(`Wrote ${SCHEMA_FILE}`);
