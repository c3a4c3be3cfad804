// Assembles the schema: importing a domain registers its types on the builder. Every domain
// has the same files: types.ts (object, enum and input types), then queries.ts,
// mutations.ts and subscriptions.ts for the root fields it adds.
import { lexicographicSortSchema } from 'graphql';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { withDeadline } from './deadline.ts';
import { answeringGoneAccounts } from './deleted-viewer.ts';
import { mapPlanners } from './events/plans.ts';
import { chatPlanners } from './chat/plans.ts';
import { withPagingCheck } from './paging.ts';
import { PlannedExecution } from './planned.ts';
import './users/types.ts';
import './users/queries.ts';
import './users/mutations.ts';
import './accounts/types.ts';
import './accounts/mutations.ts';
import './events/types.ts';
import './events/queries.ts';
import './events/mutations.ts';
import './events/subscriptions.ts';
import './images/types.ts';
import './images/mutations.ts';
import './social/types.ts';
import './social/queries.ts';
import './social/mutations.ts';
import './chat/types.ts';
import './chat/queries.ts';
import './chat/mutations.ts';
import './chat/subscriptions.ts';
import './notifications/types.ts';
import './notifications/queries.ts';
import './notifications/mutations.ts';
import './notifications/subscriptions.ts';
import './moderation/types.ts';
import './moderation/queries.ts';
import './moderation/mutations.ts';

export const schema = builder.toSchema({ sortSchema: false });

/**
 * The operations answered without graphql-js walking their results (./planned.ts): the map
 * pages, the live map's executions per change and the chat's live messages. Their roots get
 * what the plugins' resolver wrappers give such root fields: the paging policy's argument
 * checks and the execution deadline; for queries the deleted-viewer check too (its plugin
 * wraps Query and Mutation fields only). A query with auth scopes is never planned (planning
 * would skip them); a subscription's scopes are checked when it subscribes, which runs through
 * the schema with the very context each of its events is then executed with.
 */
export const planned = new PlannedExecution<Context>(
  schema,
  [...mapPlanners, ...chatPlanners],
  (resolve, field, root) => {
    const checked = withDeadline(withPagingCheck(field.extensions, resolve));
    if (root !== schema.getQueryType()) return checked;
    if ((field.extensions.pothosOptions as { authScopes?: unknown } | undefined)?.authScopes) {
      throw new Error(`Query.${field.name} has auth scopes, which planned execution does not apply`);
    }
    return answeringGoneAccounts(checked);
  },
);

/** The schema as printed to schema.graphql: sorted, so diffs stay small. */
export const sortedSchema = lexicographicSortSchema(schema);
