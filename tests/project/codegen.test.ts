// The typed documents in tests/generated and examples/generated are what `npm run codegen`
// makes from schema.graphql and the operation files: a changed operation or schema without a
// regenerate fails here.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import config from '../../codegen.ts';
import { ROOT } from '../helpers/process.ts';

interface Output {
  filename: string;
  content: string;
}

const run = async () => (await generate({ ...config, cwd: ROOT, silent: true }, false)) as Output[];

describe('npm run codegen', () => {
  it('has generated the committed typed documents (run `npm run codegen` after changing operations or the schema)', async () => {
    const outputs = await run();
    expect(outputs.map((o) => o.filename).sort()).toEqual([
      'examples/generated/gql.ts',
      'examples/generated/graphql.ts',
      'examples/generated/index.ts',
      'tests/generated/gql.ts',
      'tests/generated/graphql.ts',
      'tests/generated/index.ts',
    ]);
    const stale = outputs
      .filter((o) => {
        const file = join(ROOT, o.filename);
        return !existsSync(file) || readFileSync(file, 'utf8') !== o.content;
      })
      .map((o) => o.filename);
    expect(stale).toEqual([]);
  }, 60_000);
});
