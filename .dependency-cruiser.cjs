// Import boundaries between the layers of src/ (see "Layers" in the README), checked by
// `npm run lint` (`npm run lint:deps`). Paths are relative to the repository root.
//
//   wiring       src/main.ts, src/app.ts, src/config.ts, src/context.ts, src/builder.ts
//   transport    src/transport/      HTTP + graphql-ws front
//   schema       src/schema/<domain>/ GraphQL types and thin resolvers
//   services     src/services/<domain>/ business rules, plain functions, GraphQL-free
//   adapters     src/{db,pubsub,storage,auth,cache,presence,push,ratelimit,metrics}/
//   lib          src/lib/            small shared utilities
//
// Outside the layers: scripts/, bench/, examples/, tests/, prisma/ (src/ imports none of them,
// except src/app.ts importing prisma/seed.ts). src/generated/ is generated and not cruised into.

/** npm packages that are GraphQL (the engine, the schema builder, servers, protocols, tooling). */
const GRAPHQL_PACKAGES =
  '^node_modules/(graphql|graphql-[^/]+|@graphql-[^/]+/[^/]+|@pothos/[^/]+|@apollo/[^/]+|@as-integrations/[^/]+|@escape\\.tech/graphql-armor[^/]*)/';
const ADAPTERS = '^src/(db|pubsub|storage|auth|cache|presence|push|ratelimit|metrics)/';
/** What GraphQL-free code must not import of ours: the GraphQL layers, the schema builder and its generated types. */
const OUR_GRAPHQL = '^src/(schema/|transport/|builder\\.ts$|generated/pothos-types\\.ts$)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles, type-only ones included: they still tie the modules together.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'services-graphql-free',
      severity: 'error',
      comment:
        'Services are plain functions: no GraphQL package, and none of schema, transport, builder or Pothos types.',
      from: { path: '^src/services/' },
      to: { path: [GRAPHQL_PACKAGES, OUR_GRAPHQL] },
    },
    {
      name: 'services-not-wiring',
      severity: 'error',
      comment: 'Services get their dependencies passed in (AppDeps, src/context.ts), they never import the wiring.',
      from: { path: '^src/services/' },
      to: { path: '^src/(main|app)\\.ts$' },
    },
    {
      name: 'adapters-not-upward',
      severity: 'error',
      comment: 'Adapters sit below the services: they import no service, schema, transport, builder or wiring.',
      from: { path: ADAPTERS },
      to: { path: ['^src/(services|schema|transport)/', '^src/(main|app|builder)\\.ts$'] },
    },
    {
      name: 'lib-only-lib',
      severity: 'error',
      comment: 'src/lib imports nothing of ours outside src/lib.',
      from: { path: '^src/lib/' },
      to: { path: '^(src|scripts|bench|examples|tests|prisma)/', pathNot: '^src/lib/' },
    },
    {
      name: 'lib-graphql-free',
      severity: 'error',
      comment: 'src/lib is shared with the services, so it is GraphQL-free like them.',
      from: { path: '^src/lib/' },
      to: { path: GRAPHQL_PACKAGES },
    },
    {
      name: 'schema-not-transport',
      severity: 'error',
      comment: 'The transport serves the schema, not the other way round.',
      from: { path: '^src/schema/' },
      to: { path: '^src/transport/' },
    },
    {
      name: 'schema-through-services',
      severity: 'error',
      comment:
        'Resolvers are thin: they reach the adapters through services (AppDeps in the context), importing types at most.',
      from: { path: '^src/schema/' },
      to: { path: ADAPTERS, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'src-not-outside',
      severity: 'error',
      comment: 'src/ imports nothing from scripts/, bench/, examples/, tests/ or prisma/ ...',
      from: { path: '^src/', pathNot: '^src/app\\.ts$' },
      to: { path: '^(scripts|bench|examples|tests|prisma)/' },
    },
    {
      name: 'src-not-outside',
      severity: 'error',
      comment: '... except src/app.ts, which imports prisma/seed.ts (the demo data).',
      from: { path: '^src/app\\.ts$' },
      to: { path: '^(scripts|bench|examples|tests|prisma)/', pathNot: '^prisma/seed\\.ts$' },
    },
    {
      name: 'src-no-dev-dependencies',
      severity: 'error',
      comment:
        'Production code imports only dependencies (type-only imports are erased): devDependencies are not in the image.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'src-no-unlisted-packages',
      severity: 'error',
      comment: 'Every package src/ imports is in package.json itself, not only present as the dependency of another.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'Every import resolves.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Generated code appears as a leaf: what our code imports of it is checked, its own imports are not.
    doNotFollow: { path: ['node_modules', '^src/generated/', '^(tests|examples)/generated/'] },
    // Type-only imports count: a layer that needs another's types depends on it.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
