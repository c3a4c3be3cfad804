// GraphQL Code Generator: typed documents (client preset) from the operation files, against
// our printed schema. Apps point `schema` at their copy of schema.graphql the same way.
// Each output has its own documents (the tests' and the examples' operations share names).
import type { CodegenConfig } from '@graphql-codegen/cli';

const clientPreset = {
  preset: 'client',
  presetConfig: { fragmentMasking: false },
  config: {
    scalars: { DateTime: 'string' },
    enumsAsTypes: true,
    useTypeImports: true,
  },
} as const;

const config: CodegenConfig = {
  schema: 'schema.graphql',
  ignoreNoDocuments: false,
  // ESM: relative imports with extensions.
  emitLegacyCommonJSImports: false,
  generates: {
    'tests/generated/': { ...clientPreset, documents: ['tests/operations/**/*.graphql'] },
    'examples/generated/': { ...clientPreset, documents: ['examples/operations/**/*.graphql'] },
  },
};

export default config;
