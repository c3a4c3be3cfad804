// The execution deadline of a query. graphql-js cannot abort an execution, so a small Pothos
// plugin checks the operation's deadline (Context.deadline) before every resolver that does
// work: once it has passed, the remaining fields fail at once instead of loading more rows, and
// the transport reports one DEADLINE_EXCEEDED error for the operation. Fields that only read a
// property of their parent are not wrapped (they cost nothing and are most of a response).
import SchemaBuilder, { BasePlugin } from '@pothos/core';
import type { SchemaTypes } from '@pothos/core';
import { defaultFieldResolver } from 'graphql';
import type { GraphQLFieldResolver } from 'graphql';
import { deadlineExceeded } from '../lib/errors.ts';

export const deadlinePlugin = 'deadline' as const;

// Pothos' plugin typing works by merging into its global namespace, type parameters included.
/* eslint-disable @typescript-eslint/no-namespace */
declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      deadline: DeadlinePlugin<Types>;
    }
  }
}
/* eslint-enable @typescript-eslint/no-namespace */

/** What the plugin reads from the context: when the operation must stop (epoch ms; Infinity for none). */
interface WithDeadline {
  deadline: number;
}

export class DeadlinePlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    if (resolver === defaultFieldResolver) return resolver;
    return withDeadline(resolver);
  }
}

/** Throws DEADLINE_EXCEEDED once the operation's deadline has passed. */
export function checkDeadline(context: unknown): void {
  if (Date.now() > (context as WithDeadline).deadline) throw deadlineExceeded();
}

/** The resolver, failing at once with DEADLINE_EXCEEDED once the operation's deadline has passed. */
export function withDeadline<P, C, A>(resolver: GraphQLFieldResolver<P, C, A>): GraphQLFieldResolver<P, C, A> {
  return (parent, args, context, info) => {
    checkDeadline(context);
    return resolver(parent, args, context, info);
  };
}

SchemaBuilder.registerPlugin(deadlinePlugin, DeadlinePlugin);
