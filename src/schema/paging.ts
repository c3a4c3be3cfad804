// One paging policy for every connection. A small Pothos plugin finds each field with Relay
// connection arguments (prismaConnection, relatedConnection and hand-made t.connection alike),
// checks first/last/after/before before the resolver runs, and writes the field's real default
// and maximum into the argument descriptions. A field with its own sizes says so with the
// `paging` option; every other connection gets the builder's default policy.
//
// Cursors are checked against the list's shape (src/lib/cursors.ts) before Pothos or Prisma
// see them, also for nested connections, whose page Pothos loads with the parent's query: the
// check wraps the field's Prisma selection as well as its resolver.
import SchemaBuilder, { BasePlugin } from '@pothos/core';
import type { FieldNullability, InputFieldMap, PothosOutputFieldConfig, SchemaTypes, TypeParam } from '@pothos/core';
import type { GraphQLFieldResolver } from 'graphql';
import { checkPageArgs } from '../lib/cursors.ts';
import type { CursorShape } from '../lib/cursors.ts';
import { badInput } from '../lib/errors.ts';

export interface PagePolicy {
  /** Page size when the client gives neither first nor last. */
  readonly default: number;
  /** Largest first or last accepted; more is BAD_USER_INPUT (never silently clamped). */
  readonly max: number;
  /** The default page is the last `default` items (chat history), not the first. */
  readonly backwards?: boolean;
  /** The resolver checks its own cursors (map queries); otherwise they must be Pothos cursors. */
  readonly ownCursors?: boolean;
  /** Only first/after page (map queries): last and before are BAD_USER_INPUT. */
  readonly forwardOnly?: boolean;
  /**
   * The Prisma cursor the list pages by: `id` (the default) or a compound unique such as
   * `chatId_seq`. Pothos does not expose a field's cursor to plugins, so a list paging by
   * another one says so here. Ignored with ownCursors.
   */
  readonly cursor?: string;
}

/** The parts of a Prisma cursor, from its columns' names: ids are UUIDs, `seq` is an int4. */
function prismaCursorShape(cursor: string, where: string): CursorShape {
  const parts = cursor.split('_').map((column) => {
    if (column === 'id' || column.endsWith('Id')) return 'uuid' as const;
    if (column === 'seq') return 'int' as const;
    throw new Error(`${where}: the paging plugin does not know the type of cursor column "${column}"`);
  });
  return { parts };
}

type Args = { first?: number | null; last?: number | null; after?: string | null; before?: string | null };
type Select = (args: Args, ...rest: unknown[]) => unknown;

export const pagingPlugin = 'paging' as const;

// Pothos' plugin typing works by merging into its global namespace, type parameters included.
/* eslint-disable @typescript-eslint/no-namespace, @typescript-eslint/no-unused-vars */
declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      paging: PagingPlugin<Types>;
    }
    export interface SchemaBuilderOptions<Types extends SchemaTypes> {
      /**
       * The policy of connections that declare none. Prisma connections take their default size
       * from prisma.defaultConnectionSize: keep the two the same.
       */
      paging?: { defaultPolicy: PagePolicy };
    }
    export interface FieldOptions<
      Types extends SchemaTypes = SchemaTypes,
      ParentShape = unknown,
      Type extends TypeParam<Types> = TypeParam<Types>,
      Nullable extends FieldNullability<Type> = FieldNullability<Type>,
      Args extends InputFieldMap = InputFieldMap,
      ResolveShape = unknown,
      ResolveReturnShape = unknown,
    > {
      /** This connection's page sizes, when not the default policy (see src/schema/paging.ts). */
      paging?: PagePolicy;
    }
  }
}
/* eslint-enable @typescript-eslint/no-namespace, @typescript-eslint/no-unused-vars */

/** True for a field that takes Relay connection arguments. */
const isConnectionField = (args: Record<string, unknown>) =>
  ('first' in args || 'last' in args) && ('after' in args || 'before' in args);

function forwardOnly(args: { last?: number | null; before?: string | null }) {
  if (args.last !== null && args.last !== undefined)
    throw badInput('last', 'This list pages forwards: use first and after');
  if (args.before !== null && args.before !== undefined)
    throw badInput('before', 'This list pages forwards: use first and after');
}

/** The extension under which a connection field's policy is visible in the built schema. */
export const PAGING_EXTENSION = 'paging';
/** The extension holding a connection field's argument check. */
const CHECK_EXTENSION = 'pagingCheck';

export class PagingPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  private policyOf(fieldConfig: PothosOutputFieldConfig<Types>): PagePolicy | null {
    if (!isConnectionField(fieldConfig.args)) return null;
    const own = (fieldConfig.pothosOptions as { paging?: PagePolicy }).paging;
    const policy = own ?? this.builder.options.paging?.defaultPolicy;
    if (!policy)
      throw new Error(`${fieldConfig.parentType}.${fieldConfig.name} is a connection without a paging policy`);
    return policy;
  }

  override onOutputFieldConfig(fieldConfig: PothosOutputFieldConfig<Types>): PothosOutputFieldConfig<Types> {
    const policy = this.policyOf(fieldConfig);
    if (!policy) return fieldConfig;
    const sizes = (arg: 'first' | 'last') =>
      (arg === 'last') === !!policy.backwards
        ? `default ${policy.default}, at most ${policy.max}`
        : `at most ${policy.max}`;
    const descriptions: Record<string, string> = policy.forwardOnly
      ? {
          first: `Items to return after \`after\` (${sizes('first')}).`,
          last: 'Not supported: this list pages forwards with first and after.',
          before: 'Not supported: this list pages forwards with first and after.',
        }
      : {
          first: `Items to return after \`after\` (${sizes('first')}).`,
          last: `Items to return before \`before\` (${sizes('last')}).`,
        };
    const args = Object.fromEntries(
      Object.entries(fieldConfig.args).map(([name, arg]) => [
        name,
        name in descriptions ? { ...arg, description: descriptions[name] } : arg,
      ]),
    );
    const where = `${fieldConfig.parentType}.${fieldConfig.name}`;
    const cursor = policy.ownCursors ? null : prismaCursorShape(policy.cursor ?? 'id', where);
    const check = (pageArgs: Args) => {
      if (policy.forwardOnly) forwardOnly(pageArgs);
      checkPageArgs(pageArgs, policy.max, cursor);
    };
    // Pothos' Prisma plugin loads a nested connection's page with its parent's query, through
    // the field's selection, where a bad cursor would fail the parent. There the parent loads
    // the default page instead, and the resolver wrapper below refuses the arguments at this
    // field's path. (Prisma's fallback, for a parent loaded without the page, runs inside that
    // wrapper: this plugin is registered before Prisma's.)
    const extensions = fieldConfig.extensions ?? {};
    const select = extensions.pothosPrismaSelect as Select | undefined;
    const valid = (pageArgs: Args) => {
      try {
        check(pageArgs);
        return true;
      } catch {
        return false;
      }
    };
    return {
      ...fieldConfig,
      args,
      extensions: {
        ...extensions,
        [PAGING_EXTENSION]: policy,
        [CHECK_EXTENSION]: check,
        ...(typeof select === 'function' && {
          pothosPrismaSelect: (pageArgs: Args, ...rest: unknown[]) =>
            select(
              valid(pageArgs) ? pageArgs : { ...pageArgs, first: null, last: null, after: null, before: null },
              ...rest,
            ),
        }),
      },
    };
  }

  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    return withPagingCheck(fieldConfig.extensions, resolver);
  }
}

/** The resolver of a connection field (by its extensions), refusing paging arguments its policy does not allow first. */
export function withPagingCheck<P, C, A>(
  extensions: Readonly<Record<string, unknown>> | null | undefined,
  resolver: GraphQLFieldResolver<P, C, A>,
): GraphQLFieldResolver<P, C, A> {
  const check = extensions?.[CHECK_EXTENSION] as ((args: Args) => void) | undefined;
  if (!check) return resolver;
  return (parent, args, context, info) => {
    check(args as Args);
    return resolver(parent, args, context, info);
  };
}

SchemaBuilder.registerPlugin(pagingPlugin, PagingPlugin);
