// The printed schema is current, every type and field is described, and the contract holds
// except for what tests/contract-pending.txt still lists.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, findBreakingChanges, isInputObjectType, isObjectType, printSchema } from 'graphql';
import type { GraphQLSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { sortedSchema } from '../../src/schema/index.ts';
import { CONTRACT_FILE, SCHEMA_FILE } from '../../src/lib/paths.ts';

const PENDING_FILE = join(import.meta.dirname, '..', 'contract-pending.txt');

/** A breaking change as listed in contract-pending.txt: the removed element's name, or the whole description. */
export function pendingKey(change: { type: string; description: string }): string {
  return ['TYPE_REMOVED', 'FIELD_REMOVED'].includes(change.type)
    ? change.description.replace(/ was removed\.$/, '')
    : change.description;
}

function readPending(): string[] {
  return readFileSync(PENDING_FILE, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
}

describe('schema.graphql', () => {
  it('matches the code (run `npm run schema:print` after changing types)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(`${printSchema(sortedSchema)}\n`);
  });

  it('describes every type, field and argument', () => {
    const missing: string[] = [];
    for (const type of Object.values(sortedSchema.getTypeMap())) {
      if (type.name.startsWith('__')) continue;
      if (!type.description) missing.push(type.name);
      if (isObjectType(type) || isInputObjectType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description) missing.push(`${type.name}.${field.name}`);
          for (const arg of 'args' in field ? field.args : []) {
            if (!arg.description) missing.push(`${type.name}.${field.name}(${arg.name})`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('the client contract', () => {
  const contract: GraphQLSchema = buildSchema(readFileSync(CONTRACT_FILE, 'utf8'));
  const breaking = findBreakingChanges(contract, sortedSchema).map(pendingKey);
  const pending = readPending();

  it('has no breaking change that is not listed as pending', () => {
    expect(breaking.filter((key) => !pending.includes(key))).toEqual([]);
  });

  it('lists nothing as pending that is already built', () => {
    expect(pending.filter((key) => !breaking.includes(key))).toEqual([]);
  });

  it('lists each pending entry once', () => {
    expect(pending.length).toBe(new Set(pending).size);
  });
});
