// One set of query limits for HTTP and WebSocket operations alike: the parser's token limit
// and graphql-armor's depth, alias, directive and cost rules, added to graphql-js's own
// validation. Page sizes are capped where each connection resolves (100, or 500 on the map).
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { GraphQLError, Kind } from 'graphql';
import type { ASTNode, DocumentNode, SelectionSetNode, ValidationContext, ValidationRule } from 'graphql';

export const QUERY_LIMITS = {
  /** Nesting of selections. */
  depth: 12,
  /** Aliased fields per operation (each alias can multiply work). */
  aliases: 30,
  /** Directives per operation. */
  directives: 20,
  /** Lexical tokens per document: bounds parsing work before anything else runs. */
  tokens: 5_000,
  /**
   * graphql-armor's static cost (objects 2, scalars 1, ×1.5 per level of nesting, so it grows
   * fast with depth). A full map-screen page (events with host, avatars, attendees, counts and
   * viewer flags) costs about 400 000; the limit stops documents that are both wide and deep.
   */
  cost: 1_000_000,
} as const;

export const parseOptions = { maxTokens: QUERY_LIMITS.tokens } as const;

// graphql-armor throws out of validation by default, which servers answer as a crash; report
// through the validation context instead, like graphql-js's own rules.
const report = {
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
};

/** graphql-armor's rules, applied to both transports by the operation pipeline (./pipeline.ts). */
export const limitRules: ValidationRule[] = [
  maxDepthRule({ n: QUERY_LIMITS.depth, ignoreIntrospection: true, flattenFragments: true, ...report }),
  maxAliasesRule({ n: QUERY_LIMITS.aliases, ...report }),
  maxDirectivesRule({ n: QUERY_LIMITS.directives, ...report }),
  costLimitRule({ maxCost: QUERY_LIMITS.cost, ignoreIntrospection: true, ...report }),
] as ValidationRule[];

/** Strips graphql-js's "Did you mean …?" hints, which map out the schema for a prober. */
export const withoutSuggestions = (message: string) => message.replace(/ Did you mean .+\?$/, '');

/**
 * Shape limits checked in one pass over the parsed document, before graphql-js' validation:
 * its overlapping-fields rule is quadratic in fields that share a response name (and in
 * fragment spreads), so `{ me { id } }` repeated a thousand times, small enough for the token
 * limit, would cost hundreds of milliseconds of CPU before any rule refused it.
 */
export const SHAPE_LIMITS = {
  /** Selections (fields, fragment spreads, inline fragments) in the whole document. */
  selections: 1_000,
  /** Times one response name (or one fragment) may appear in a single selection set. */
  repeatsPerSelectionSet: 20,
  /** Fragment definitions in the document. */
  fragments: 50,
} as const;

/** The first shape limit the document breaks, as an error; null when it keeps them all. */
export function checkShape(document: DocumentNode): GraphQLError | null {
  let selections = 0;
  let fragments = 0;
  const refuse = (message: string, node?: ASTNode) => new GraphQLError(message, { nodes: node });
  // An explicit stack: a hostile document must not be able to exhaust the call stack either.
  // Inline fragments share their parent's count of response names, as graphql-js merges them.
  const stack: Array<{ set: SelectionSetNode; seen: Map<string, number> }> = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION && ++fragments > SHAPE_LIMITS.fragments) {
      return refuse(`A document may define at most ${SHAPE_LIMITS.fragments} fragments`, definition);
    }
    if ('selectionSet' in definition && definition.selectionSet)
      stack.push({ set: definition.selectionSet, seen: new Map() });
  }
  while (stack.length) {
    const { set, seen } = stack.pop()!;
    for (const selection of set.selections) {
      if (++selections > SHAPE_LIMITS.selections) {
        return refuse(`A document may hold at most ${SHAPE_LIMITS.selections} selections`, selection);
      }
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        stack.push({ set: selection.selectionSet, seen });
        continue;
      }
      const key =
        selection.kind === Kind.FIELD ? (selection.alias ?? selection.name).value : `...${selection.name.value}`;
      const times = (seen.get(key) ?? 0) + 1;
      if (times > SHAPE_LIMITS.repeatsPerSelectionSet) {
        return refuse(
          `"${key}" is selected more than ${SHAPE_LIMITS.repeatsPerSelectionSet} times in one selection set`,
          selection,
        );
      }
      seen.set(key, times);
      if (selection.kind === Kind.FIELD && selection.selectionSet)
        stack.push({ set: selection.selectionSet, seen: new Map() });
    }
  }
  return null;
}
