// The one SchemaBuilder: plugins, scalars and root types. Domain types live in src/schema/<domain>.
import SchemaBuilder from '@pothos/core';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLScalarType, Kind } from 'graphql';
import { GraphQLUpload } from 'graphql-upload-minimal';
import type { FileUpload } from 'graphql-upload-minimal';
import type { Context, Viewer } from './context.ts';
import { forbidden, unauthenticated } from './lib/errors.ts';
import { deadlinePlugin } from './schema/deadline.ts';
import { INSTANT_FORMAT, parseInstant } from './lib/validation.ts';
import { deletedViewerPlugin } from './schema/deleted-viewer.ts';
import { pagingPlugin } from './schema/paging.ts';
import type { PagePolicy } from './schema/paging.ts';
import { getDatamodel } from './generated/pothos-types.ts';
import type PrismaTypes from './generated/pothos-types.ts';

/**
 * Default and maximum page sizes of connections (map queries allow more). Every connection
 * checks its arguments against its policy (src/schema/paging.ts); this one unless it names its own.
 */
export const PAGE_SIZE = { default: 20, max: 100 } as const satisfies PagePolicy;

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: { signedIn: boolean; admin: boolean };
  // Fields behind `t.withAuth({ signedIn: true })` (or admin) see a non-null viewer.
  AuthContexts: { signedIn: Context & { viewer: Viewer }; admin: Context & { viewer: Viewer } };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    // A multipart file part (graphql-upload-minimal): resolves once the part starts arriving.
    Upload: { Input: Promise<FileUpload>; Output: never };
  };
  // Contract fields are non-null unless marked otherwise.
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  // The deadline plugin comes last, so it sees the original resolvers (and skips plain property reads).
  // Paging before Prisma: its resolver wrapper then runs before Prisma's loading of a nested
  // connection, and its field config step after Prisma's, seeing the field's selection.
  plugins: [ScopeAuthPlugin, pagingPlugin, PrismaPlugin, RelayPlugin, deletedViewerPlugin, deadlinePlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => ({ signedIn: ctx.viewer !== null, admin: ctx.viewer?.role === 'ADMIN' }),
    // Refuse a subscription when it is made, not by failing each event later.
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, ctx) => (ctx.viewer ? forbidden() : unauthenticated()),
  },
  prisma: {
    // The client comes from the context so that tests and tools can run several servers.
    client: (ctx) => ctx.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: true,
    filterConnectionTotalCount: true,
    // Pothos clamps to these; the paging plugin rejects larger pages before it gets the chance.
    defaultConnectionSize: PAGE_SIZE.default,
    maxConnectionSize: PAGE_SIZE.max,
    // A development hint; anonymous `me` legitimately skips the query.
    onUnusedQuery: (process.env.NODE_ENV ?? 'development') === 'development' ? 'warn' : null,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // IDs are plain database UUIDs (contract), so no global-id node lookup.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    edgesFieldOptions: { nullable: false, description: 'The page of results.' },
    nodeFieldOptions: { nullable: false, description: 'The item at the end of the edge.' },
    cursorFieldOptions: {
      description: 'An opaque cursor; pass it as `after` (or `before`) to continue from this item.',
    },
    pageInfoFieldOptions: { description: 'Where this page sits in the whole list.' },
    hasNextPageFieldOptions: { description: 'More items follow this page.' },
    hasPreviousPageFieldOptions: { description: 'More items precede this page.' },
    startCursorFieldOptions: { description: 'Cursor of the first item of the page.' },
    endCursorFieldOptions: { description: 'Cursor of the last item of the page.' },
    pageInfoTypeOptions: { description: 'Paging state of a connection.' },
    // The paging plugin replaces the first/last descriptions with each field's real sizes.
    firstArgOptions: { description: 'Items to return after `after`.' },
    afterArgOptions: { description: 'Cursor to continue after.' },
    lastArgOptions: { description: 'Items to return before `before`.' },
    beforeArgOptions: { description: 'Cursor to continue before.' },
  },
  paging: { defaultPolicy: PAGE_SIZE },
});

/** An input the DateTime scalar refuses; graphql-js makes it BAD_USER_INPUT (the transport adds the field). */
const instantOf = (value: unknown): Date => {
  const instant = parseInstant(value);
  if (instant instanceof Date) return instant;
  throw new TypeError(instant.problem);
};

// Written here rather than taken from graphql-scalars, whose DateTime accepted instants
// PostgreSQL cannot store (year 0000) and numbers as well as strings.
const DateTime = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: `An instant in time: ${INSTANT_FORMAT}. Sent back in UTC with milliseconds.`,
  serialize: (value) => {
    // Rows give Dates; pub/sub messages carry the ISO text they were published with.
    const date = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(date.getTime())) throw new TypeError('DateTime cannot represent an invalid date');
    return date.toISOString();
  },
  parseValue: instantOf,
  parseLiteral: (ast) => instantOf(ast.kind === Kind.STRING ? ast.value : null),
});

builder.addScalarType('DateTime', DateTime);

builder.addScalarType('Upload', GraphQLUpload, {
  description:
    'A file sent as a part of a GraphQL multipart request (https://github.com/jaydenseric/graphql-multipart-request-spec). Only valid as an input.',
});

builder.queryType({ description: 'Reads.' });
builder.mutationType({ description: 'Writes.' });
builder.subscriptionType({ description: 'Live updates over graphql-ws.' });

/**
 * A connection type built with the plain builder, for a `t.withAuth(...)` connection field: that
 * field builder's types carry the refined context, so TypeScript sees a different ref type.
 * At run time the ref is the same (the context type is only a type).
 */
export const withAuthConnection = <Ref extends object>(ref: Ref) => ref as never;
