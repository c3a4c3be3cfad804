// Planned execution: an operation whose every root field has a planner runs without graphql-js
// walking its result. The hot documents would otherwise cost one wrapped resolution per field
// and row: the map page (200 events × a dozen fields, thousands per request), and the live map
// (one execution per change, viewer and selection, each reading the event through the ORM).
//
// A document is planned once (per operation) and the plan kept with it: its root fields'
// selections are collected (fragments and aliases resolved, fields merged as graphql-js merges
// them) and handed to their planners, which compile them into one loader and one writer per
// field that build the response directly. graphql-js still runs the root level, on a small
// schema of the planned fields whose results it passes through as they are: arguments,
// variables, errors (located, null-propagated) and the resolver wrappers' rules stay exactly
// those of normal execution. Queries are planned whole; a subscription's plan is its execution
// for each event (the root value), which its fan-out group runs (src/transport/fanout.ts).
// Anything a planner does not know (a field, an argument below the root, a directive, an
// abstract type) leaves the document to normal execution, so planning changes how fast an
// answer comes, never what it is; tests/events/planned-pages.test.ts and
// planned-changes.test.ts compare the two field by field.
import { GraphQLNonNull, GraphQLObjectType, GraphQLScalarType, GraphQLSchema, isNonNullType, Kind } from 'graphql';
import type {
  DocumentNode,
  ExecutionArgs,
  ExecutionResult,
  FieldNode,
  FragmentDefinitionNode,
  GraphQLField,
  GraphQLFieldResolver,
  GraphQLLeafType,
  GraphQLOutputType,
  OperationDefinitionNode,
  SelectionSetNode,
} from 'graphql';
import {
  execute,
  getNamedType,
  getOperationAST,
  isLeafType,
  isListType,
  isObjectType,
  OperationTypeNode,
} from 'graphql';

/** A field of a selection, collected: its response key, its name, and its own fields (collected, merged). */
export interface Selected {
  key: string;
  name: string;
  fields: readonly Selected[];
}

/**
 * Builds a root field's answer from its (coerced) arguments, the operation's context, and the
 * root value: for a subscription, the event it is executed for.
 */
export type PlannedRoot<Ctx> = (args: Record<string, unknown>, ctx: Ctx, source: unknown) => Promise<unknown>;

/** The operations planned: queries, and subscriptions' executions for each of their events. */
export type PlannedOperation = OperationTypeNode.QUERY | OperationTypeNode.SUBSCRIPTION;

/** Plans one root field. */
export interface RootPlanner<Ctx> {
  /** The root type of the field: Query unless said otherwise. */
  operation?: PlannedOperation;
  /** The root field it answers. */
  field: string;
  /**
   * The loader and writer for this selection of the field (its type is the field's named
   * type), or null when the selection has something the planner does not answer.
   */
  compile(selection: readonly Selected[], type: GraphQLObjectType): PlannedRoot<Ctx> | null;
}

/** The object type a field's type names (through lists and non-null); null for anything else (interfaces, unions, leaves), which planning leaves to graphql-js. */
export function namedObject(type: GraphQLOutputType): GraphQLObjectType | null {
  const named = getNamedType(type);
  return isObjectType(named) ? named : null;
}

/**
 * The fields of `selectionSets` on `type` in response order, merged by response key (what
 * graphql-js's collectFields does), recursively; null for what planning leaves to graphql-js:
 * directives, arguments (below the root), fragments on another type, abstract types.
 */
function collect(
  type: GraphQLObjectType,
  selectionSets: readonly SelectionSetNode[],
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  withArguments = false,
): Array<Selected & { nodes: FieldNode[] }> | null {
  const byKey = new Map<string, { name: string; nodes: FieldNode[] }>();
  const visit = (set: SelectionSetNode, seen: Set<string>): boolean => {
    for (const selection of set.selections) {
      if (selection.directives?.length) return false;
      if (selection.kind === Kind.FIELD) {
        if (!withArguments && selection.arguments?.length) return false;
        const key = selection.alias?.value ?? selection.name.value;
        // graphql-js answers with null-prototype objects; a planner's may not: this key stays with graphql-js.
        if (key === '__proto__') return false;
        const entry = byKey.get(key);
        if (entry) entry.nodes.push(selection);
        else byKey.set(key, { name: selection.name.value, nodes: [selection] });
        continue;
      }
      const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments.get(selection.name.value);
      if (!fragment) return false;
      if (fragment.typeCondition && fragment.typeCondition.name.value !== type.name) return false;
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        // A fragment spread twice in one selection adds nothing the second time.
        if (seen.has(selection.name.value)) continue;
        seen.add(selection.name.value);
      }
      if (!visit(fragment.selectionSet, seen)) return false;
    }
    return true;
  };
  for (const set of selectionSets) if (!visit(set, new Set())) return null;
  const fields: Array<Selected & { nodes: FieldNode[] }> = [];
  for (const [key, { name, nodes }] of byKey) {
    if (name === '__typename') {
      fields.push({ key, name, fields: [], nodes });
      continue;
    }
    const field = type.getFields()[name];
    if (!field) return null;
    const sets = nodes.flatMap((node) => (node.selectionSet ? [node.selectionSet] : []));
    if (sets.length === 0) {
      fields.push({ key, name, fields: [], nodes });
      continue;
    }
    const child = namedObject(field.type);
    if (!child) return null;
    const subfields = collect(child, sets, fragments);
    if (!subfields) return null;
    fields.push({ key, name, fields: subfields, nodes });
  }
  return fields;
}

/**
 * A leaf value as graphql-js sends it: the type's serialize, lists mapped, non-null enforced.
 * `asSent`: the value is in the scalar's wire form already (an instant PostgreSQL formatted).
 */
export function leafSerializer(type: GraphQLOutputType, asSent = false): (value: unknown) => unknown {
  if (isNonNullType(type)) {
    const inner = leafSerializer(type.ofType, asSent);
    return (value) => {
      const result = inner(value);
      if (result === null) throw new Error('Cannot return null for a non-nullable field');
      return result;
    };
  }
  if (isListType(type)) {
    const item = leafSerializer(type.ofType, asSent);
    return (value) => (value === null || value === undefined ? null : (value as unknown[]).map(item));
  }
  if (!isLeafType(type)) throw new Error(`${String(type)} is not a leaf type`);
  const leaf: GraphQLLeafType = type;
  if (asSent) return (value) => value ?? null;
  return (value) => (value === null || value === undefined ? null : leaf.serialize(value));
}

/** Writes one response object (or value) of a plan from its source, with the operation's context. */
export type Write<S, Ctx = unknown> = (source: S, ctx: Ctx) => unknown;

/**
 * An object with the selection's keys in order, each written from the same source: one object
 * literal, by a function written once per plan. Objects of one shape built without a loop are
 * three times faster to make than by assigning keys in a loop, and faster to serialize. The
 * keys are GraphQL names (validated: letters, digits, underscores), JSON-quoted; `__proto__`,
 * which a literal would take for the prototype, is never planned (see collect).
 */
function objectWriter<S, Ctx>(entries: ReadonlyArray<readonly [string, Write<S, Ctx>]>): Write<S, Ctx> {
  const fields = entries.map(([key], i) => `${JSON.stringify(key)}: w[${i}](s, c)`).join(', ');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from validated names, see above
  const make = new Function('w', `return (s, c) => ({ ${fields} });`) as (w: Array<Write<S, Ctx>>) => Write<S, Ctx>;
  return make(entries.map(([, write]) => write));
}

/**
 * A selection's writer: `writerOf` gives each selected field's, or null when it does not plan
 * that field (then so is the whole: null); __typename is the type's name.
 */
export function writers<S, Ctx>(
  selection: readonly Selected[],
  type: GraphQLObjectType,
  writerOf: (field: Selected) => Write<S, Ctx> | null,
): Write<S, Ctx> | null {
  const entries: Array<readonly [string, Write<S, Ctx>]> = [];
  for (const field of selection) {
    const write = field.name === '__typename' ? () => type.name : writerOf(field);
    if (!write) return null;
    entries.push([field.key, write]);
  }
  return objectWriter(entries);
}

/**
 * For `writers`: each leaf field that `reads` names (by field name) read from the source and
 * sent as its type sends it (`asSent`: the fields whose values come in wire form already); null
 * for any other field, or one with a selection.
 */
export function leavesFrom<S, Ctx>(
  type: GraphQLObjectType,
  reads: Readonly<Record<string, (source: S, ctx: Ctx) => unknown>>,
  asSent: ReadonlySet<string> = new Set(),
): (field: Selected) => Write<S, Ctx> | null {
  return (field) => {
    const read = Object.hasOwn(reads, field.name) ? reads[field.name] : undefined;
    if (!read || field.fields.length) return null;
    const send = leafSerializer(type.getFields()[field.name]!.type, asSent.has(field.name));
    return (source, ctx) => send(read(source, ctx));
  };
}

/**
 * Thrown by a planned root that cannot build its answer: the operation then runs through normal
 * execution instead (queries only read, so running them again changes nothing), whose partial
 * data and error paths are the schema's own.
 */
export class PlanFallback extends Error {
  override name = 'PlanFallback';
  constructor(cause: unknown) {
    super('The planned answer could not be built', { cause });
  }
}

/** What a planned root field resolves to: the answer its planner built, sent as it is. */
const Planned = new GraphQLScalarType({
  name: 'PlannedAnswer',
  description: 'A root field’s answer built by its planner (never in the printed schema).',
  serialize: (value) => value,
});

/** Runs the operations its planners can answer; see the top of this file. */
export class PlannedExecution<Ctx> {
  private readonly roots: GraphQLSchema;
  /** Per planned operation type: the schema's root type, and its fields' planners. */
  private readonly rootTypes = new Map<
    OperationTypeNode,
    { type: GraphQLObjectType; planners: ReadonlyMap<string, RootPlanner<Ctx>> }
  >();
  /**
   * Per document, per operation name: its plan (the operation with its planned root fields'
   * selections taken out), or null when it is not planned.
   */
  private readonly plans = new WeakMap<DocumentNode, Map<string, DocumentNode | null>>();
  /** The compiled root of each planned root field node (of the plans' documents). */
  private readonly compiled = new WeakMap<FieldNode, PlannedRoot<Ctx>>();

  /**
   * `wrap` gives each planned root field the rules the schema's resolver wrappers apply to it
   * (its argument checks, the execution deadline, the deleted-viewer check): a planned root
   * runs its planner, not the field's resolver.
   */
  constructor(
    schema: GraphQLSchema,
    planners: readonly RootPlanner<Ctx>[],
    wrap: (
      resolve: GraphQLFieldResolver<unknown, Ctx>,
      field: GraphQLField<unknown, Ctx>,
      rootType: GraphQLObjectType,
    ) => GraphQLFieldResolver<unknown, Ctx>,
  ) {
    const run: GraphQLFieldResolver<unknown, Ctx> = (root, args: Record<string, unknown>, ctx, info) =>
      this.compiled.get(info.fieldNodes[0]!)!(args, ctx, root);
    const plannedType = (operation: PlannedOperation): GraphQLObjectType | undefined => {
      const type = schema.getRootType(operation);
      const own = planners.filter((p) => (p.operation ?? OperationTypeNode.QUERY) === operation);
      if (!type || !own.length) return undefined;
      this.rootTypes.set(operation, { type, planners: new Map(own.map((p) => [p.field, p])) });
      const fields = Object.fromEntries(
        own.map(({ field: name }) => {
          const field = type.getFields()[name] as GraphQLField<unknown, Ctx> | undefined;
          if (!field) throw new Error(`No ${type.name}.${name} to plan`);
          const resolve = wrap(run, field, type);
          const args = Object.fromEntries(
            field.args.map((a) => [a.name, { type: a.type, defaultValue: a.defaultValue }]),
          );
          const answer = isNonNullType(field.type) ? new GraphQLNonNull(Planned) : Planned;
          return [name, { type: answer, args, resolve }];
        }),
      );
      return new GraphQLObjectType({ name: type.name, fields });
    };
    // A schema needs a query type; one with nothing planned is never reached.
    const query =
      plannedType(OperationTypeNode.QUERY) ??
      new GraphQLObjectType({ name: 'Query', fields: { _: { type: Planned } } });
    this.roots = new GraphQLSchema({ query, subscription: plannedType(OperationTypeNode.SUBSCRIPTION) });
  }

  /**
   * The operation's result when it is planned (its errors as graphql-js makes them, for the
   * transport to format), or null when it must run through normal execution. A subscription's
   * is its execution for one event, the root value.
   */
  execute(args: ExecutionArgs): Promise<ExecutionResult> | ExecutionResult | null {
    const plan = this.planOf(args.document, args.operationName);
    if (!plan) return null;
    // A subscription's plan is its execution for one event: none without one (sent over HTTP).
    const [operation] = plan.definitions as [OperationDefinitionNode];
    if (operation.operation === OperationTypeNode.SUBSCRIPTION && args.rootValue === undefined) return null;
    const fallBack = (result: ExecutionResult) =>
      result.errors?.some((e) => e.originalError instanceof PlanFallback) ? execute(args) : result;
    const result = execute({ ...args, schema: this.roots, document: plan });
    return result instanceof Promise ? result.then(fallBack) : fallBack(result);
  }

  private planOf(document: DocumentNode, operationName: string | null | undefined): DocumentNode | null {
    let byName = this.plans.get(document);
    if (!byName) this.plans.set(document, (byName = new Map<string, DocumentNode | null>()));
    const name = operationName ?? '';
    let plan = byName.get(name);
    if (plan === undefined) byName.set(name, (plan = this.plan(document, operationName)));
    return plan;
  }

  private plan(document: DocumentNode, operationName: string | null | undefined): DocumentNode | null {
    const operation = getOperationAST(document, operationName);
    const root = operation && this.rootTypes.get(operation.operation);
    if (!root || operation.directives?.length) return null;
    // The root level runs through graphql-js: only fields there, each with a planner (or __typename).
    const selections = operation.selectionSet.selections;
    if (selections.some((s) => s.kind !== Kind.FIELD || s.directives?.length)) return null;
    const fragments = new Map(
      document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])),
    );
    const fields = collect(root.type, [operation.selectionSet], fragments, true);
    if (!fields) return null;
    const planned: FieldNode[] = [];
    for (const field of fields) {
      if (field.name === '__typename') {
        planned.push(field.nodes[0]!);
        continue;
      }
      const planner = root.planners.get(field.name);
      const type = namedObject(root.type.getFields()[field.name]!.type);
      const compiled = planner && type ? planner.compile(field.fields, type) : null;
      if (!compiled) return null;
      // One node per response key (validation made the merged ones' arguments equal), without
      // its selection: the planned schema's field is a leaf.
      const node: FieldNode = { ...field.nodes[0]!, selectionSet: undefined };
      this.compiled.set(node, compiled);
      planned.push(node);
    }
    const rewritten: OperationDefinitionNode = {
      ...operation,
      selectionSet: { ...operation.selectionSet, selections: planned },
    };
    return { kind: Kind.DOCUMENT, definitions: [rewritten] };
  }
}
