// Assembles the schema: importing a domain registers its types on the builder.
import { lexicographicSortSchema } from 'graphql';
import { builder } from '../builder.ts';
import './users/types.ts';
import './users/queries.ts';
import './users/mutations.ts';
import './accounts/mutations.ts';
import './events/types.ts';
import './events/inputs.ts';
import './events/queries.ts';
import './events/mutations.ts';
import './events/subscriptions.ts';
import './images/types.ts';
import './images/mutations.ts';
import './social/types.ts';
import './social/operations.ts';
import './chat/types.ts';
import './chat/operations.ts';
import './notifications/types.ts';
import './notifications/operations.ts';

export const schema = builder.toSchema({ sortSchema: false });

/** The schema as printed to schema.graphql: sorted, so diffs stay small. */
export const sortedSchema = lexicographicSortSchema(schema);
