// GraphQL Code Generator: typed documents (client preset) from the operation files, against
// our printed schema. Apps point `schema` at their copy of schema.graphql the same way.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['tests/operations/**/*.graphql'],
  ignoreNoDocuments: false,
  // ESM: relative imports with extensions.
  emitLegacyCommonJSImports: false,
  generates: {
    'tests/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        scalars: { DateTime: 'string' },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
