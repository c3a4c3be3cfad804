// An access token outlives a deletion of its account: it is verified by signature, with no
// database read per request. An operation by such a token fails where it first touches the
// missing row (a foreign key to it, an update of it that finds nothing), which would reach the
// client as INTERNAL_SERVER_ERROR. This plugin catches that in one place: when a root query or
// mutation of a signed-in viewer fails with anything but a domain error, it asks once whether
// the viewer's account still exists, and if not answers UNAUTHENTICATED. Successful operations
// and domain errors cost nothing extra. (`me` answers UNAUTHENTICATED itself: it reads the row.)
import SchemaBuilder, { BasePlugin } from '@pothos/core';
import type { PothosOutputFieldConfig, SchemaTypes } from '@pothos/core';
import type { GraphQLFieldResolver } from 'graphql';
import type { Context } from '../context.ts';
import { accountGone, DomainError } from '../lib/errors.ts';
import { failedForGoneAccount } from '../services/accounts/index.ts';

export const deletedViewerPlugin = 'deletedViewer' as const;

/* eslint-disable @typescript-eslint/no-namespace */
declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      deletedViewer: DeletedViewerPlugin<Types>;
    }
  }
}
/* eslint-enable @typescript-eslint/no-namespace */

const ROOTS = new Set(['Query', 'Mutation']);

export class DeletedViewerPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    if (!ROOTS.has(fieldConfig.parentType)) return resolver;
    return answeringGoneAccounts(resolver);
  }
}

/** A root field's resolver that answers UNAUTHENTICATED when it failed because the viewer's account is gone. */
export function answeringGoneAccounts<P, C, A>(resolver: GraphQLFieldResolver<P, C, A>): GraphQLFieldResolver<P, C, A> {
  return async (parent, args, context, info) => {
    try {
      return await resolver(parent, args, context, info);
    } catch (error) {
      const { viewer, deps } = context as Context;
      if (viewer && !(error instanceof DomainError) && (await failedForGoneAccount(deps, viewer.id, error)))
        throw accountGone();
      throw error;
    }
  };
}

SchemaBuilder.registerPlugin(deletedViewerPlugin, DeletedViewerPlugin);
