// extensions.field for input that graphql-js itself refuses (a DateTime out of range, an Int
// given a string), so that those BAD_USER_INPUT errors name their field as the services' do.
//
// graphql-js reports a bad literal at the value's node (validation) and a bad variable at the
// variable's definition, with the path inside the variable only in the message. Both are
// located here in the document: the argument and input fields leading to the value (for a
// variable, to where it is used, then the path inside its value, found by coercing it again).
// As in the services, the fields of an `input` argument are named without it ("startsAt",
// not "input.startsAt"); other arguments keep their name ("filter.startsAfter").
import { BREAK, coerceInputValue, GraphQLError, isInputType, Kind, typeFromAST, visit } from 'graphql';
import type { ASTNode, DocumentNode, GraphQLSchema, VariableDefinitionNode } from 'graphql';

const located = new WeakMap<GraphQLError, string>();

/** The field located for an error by locateInputErrors, if any. */
export const inputFieldOf = (error: GraphQLError): string | undefined => located.get(error);

const VALUE_KINDS = new Set<string>([
  Kind.VARIABLE,
  Kind.INT,
  Kind.FLOAT,
  Kind.STRING,
  Kind.BOOLEAN,
  Kind.NULL,
  Kind.ENUM,
  Kind.LIST,
  Kind.OBJECT,
]);

/** Argument and input-field names from the root of `within` down to the first node matching. */
function pathTo(within: readonly ASTNode[], matches: (node: ASTNode) => boolean): string[] | null {
  for (const root of within) {
    const names: string[] = [];
    let found: string[] | null = null;
    visit(root, {
      enter(node) {
        if (matches(node)) {
          found = [...names];
          return BREAK;
        }
        if (node.kind === Kind.ARGUMENT || node.kind === Kind.OBJECT_FIELD) names.push(node.name.value);
        return undefined;
      },
      leave(node) {
        if (node.kind === Kind.ARGUMENT || node.kind === Kind.OBJECT_FIELD) names.pop();
      },
    });
    if (found) return found;
  }
  return null;
}

/** The path inside a variable's value to its first part the schema refuses. */
function badPathInside(schema: GraphQLSchema, definition: VariableDefinitionNode, value: unknown): string[] {
  const type = typeFromAST(schema, definition.type);
  if (value === undefined || value === null || !type || !isInputType(type)) return [];
  let first: ReadonlyArray<string | number> | undefined;
  coerceInputValue(value, type, (path) => {
    first ??= path;
  });
  // List positions are not fields: a bad item is the list's fault.
  return (first ?? []).filter((p): p is string => typeof p === 'string');
}

function fieldOf(
  schema: GraphQLSchema,
  document: DocumentNode,
  error: GraphQLError,
  variables: Readonly<Record<string, unknown>> | null | undefined,
): string | undefined {
  const node = error.nodes?.[0];
  if (!node) return undefined;
  let path: string[] | null = null;
  if (node.kind === Kind.VARIABLE_DEFINITION) {
    const name = node.variable.name.value;
    const operation = document.definitions.find(
      (d) => d.kind === Kind.OPERATION_DEFINITION && d.variableDefinitions?.includes(node),
    );
    const fragments = document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
    const usage = pathTo(
      [...(operation && operation.kind === Kind.OPERATION_DEFINITION ? [operation.selectionSet] : []), ...fragments],
      (n) => n.kind === Kind.VARIABLE && n.name.value === name,
    );
    if (usage) path = [...usage, ...badPathInside(schema, node, variables?.[name])];
  } else if (VALUE_KINDS.has(node.kind)) {
    path = pathTo(document.definitions, (n) => n === node);
  }
  if (!path?.length) return undefined;
  return (path.length > 1 && path[0] === 'input' ? path.slice(1) : path).join('.');
}

/**
 * Locates the input each error is about, for formatError to give as extensions.field. Errors
 * that already name a field, or that are not about an input value, are left alone.
 */
export function locateInputErrors(
  schema: GraphQLSchema,
  document: DocumentNode | undefined,
  variables: Readonly<Record<string, unknown>> | null | undefined,
  errors: readonly GraphQLError[],
): void {
  if (!document) return;
  for (const error of errors) {
    if (error.path !== undefined || located.has(error) || error.extensions?.field !== undefined) continue;
    try {
      const field = fieldOf(schema, document, error, variables);
      if (field) located.set(error, field);
    } catch {
      // Locating is a courtesy: the error keeps its code without a field.
    }
  }
}
