// One paging policy for every connection: each connection field reachable from Query, found by
// walking the schema (so a new connection is covered without touching this file), refuses
// `first: max + 1` (and `last: max + 1`) with BAD_USER_INPUT naming the argument, accepts
// `first: max`, and states its real sizes in its argument descriptions.
import { getNamedType, isNonNullType, isObjectType, parse } from 'graphql';
import type { GraphQLField, GraphQLObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenDirectChatDocument } from '../generated/graphql.ts';
import { orderedPair } from '../../src/services/social/index.ts';
import { schema } from '../../src/schema/index.ts';
import { PAGING_EXTENSION } from '../../src/schema/paging.ts';
import type { PagePolicy } from '../../src/schema/paging.ts';
import { createAdmin, createUser } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { createEvent } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

type Field = GraphQLField<unknown, unknown>;
interface Step {
  parent: GraphQLObjectType;
  field: Field;
}

/** A Relay connection type: edges and pageInfo. */
const isConnectionType = (type: unknown): type is GraphQLObjectType =>
  isObjectType(type) && 'edges' in type.getFields() && 'pageInfo' in type.getFields();

/**
 * Every connection field reachable from Query, each with the shortest path of fields that
 * leads to it (breadth first, so nested connections hang off single objects such as
 * `me` or `event(id:)` rather than off lists that might be empty).
 */
function connectionFields(): Array<{ path: Step[]; target: Step }> {
  const found = new Map<string, { path: Step[]; target: Step }>();
  const queryType = schema.getQueryType()!;
  const queue: Array<{ type: GraphQLObjectType; path: Step[] }> = [{ type: queryType, path: [] }];
  const visited = new Set([queryType.name]);
  while (queue.length) {
    const { type, path } = queue.shift()!;
    for (const field of Object.values(type.getFields())) {
      const named = getNamedType(field.type);
      const step = { parent: type, field };
      const key = `${type.name}.${field.name}`;
      if (isConnectionType(named) && !found.has(key)) found.set(key, { path, target: step });
      if (isObjectType(named) && !visited.has(named.name)) {
        visited.add(named.name);
        queue.push({ type: named, path: [...path, step] });
      }
    }
  }
  return [...found.values()];
}

/** GraphQL literals for required arguments along the paths, by `Type.field`. */
let requiredArgs: Record<string, Record<string, string>>;

function argsFor(step: Step, extra: Record<string, string> = {}): string {
  const key = `${step.parent.name}.${step.field.name}`;
  const values: Record<string, string> = {};
  for (const arg of step.field.args) {
    if (!isNonNullType(arg.type) || arg.defaultValue !== undefined) continue;
    const value = requiredArgs[key]?.[arg.name];
    if (value === undefined)
      throw new Error(`No value for the required argument ${key}(${arg.name}:); add one to requiredArgs`);
    values[arg.name] = value;
  }
  Object.assign(values, extra);
  const list = Object.entries(values).map(([name, value]) => `${name}: ${value}`);
  return list.length ? `(${list.join(', ')})` : '';
}

/** The selection that reaches the target: through `edges { node { … } }` when a step is a connection. */
function operation(path: Step[], target: Step, pageArgs: Record<string, string>): string {
  let inner = `${target.field.name}${argsFor(target, pageArgs)} { edges { cursor } pageInfo { hasNextPage } }`;
  for (const step of [...path].reverse()) {
    const named = getNamedType(step.field.type);
    const body = isConnectionType(named) ? `edges { node { ${inner} } }` : inner;
    inner = `${step.field.name}${argsFor(step)} { ${body} }`;
  }
  return `query { ${inner} }`;
}

const fields = connectionFields();
const nameOf = ({ target }: { target: Step }) => `${target.parent.name}.${target.field.name}`;
const policyOf = ({ target }: { target: Step }) =>
  target.field.extensions?.[PAGING_EXTENSION] as PagePolicy | undefined;

let server: TestServer;
let viewer: TestUser;
beforeAll(async () => {
  server = await startTestServer();
  // An admin, so that admin-only connections (reports) are reached too.
  viewer = await createAdmin(server);
  const friend = await createUser(server);
  await server.deps.prisma.friendship.create({ data: orderedPair(viewer.id, friend.id) });
  const chatId = (await viewer.gqlOk(OpenDirectChatDocument, { userId: friend.id })).openDirectChat.id;
  const event = await createEvent(server, viewer);
  requiredArgs = {
    'Query.event': { id: JSON.stringify(event.id) },
    'Query.chat': { id: JSON.stringify(chatId) },
    'Query.searchUsers': { query: '"a"' },
    'Query.myEvents': { role: 'HOSTING' },
    'Query.eventsInBounds': { bounds: '{ south: -90, west: -180, north: 90, east: 180 }' },
    'Query.eventsNear': { latitude: '52.52', longitude: '13.405', radiusKm: '50' },
    'Query.searchEvents': { query: '"study"' },
  };
});
afterAll(async () => {
  await server?.close();
});

describe('paging', () => {
  it('finds the connections, root and nested', () => {
    const names = fields.map(nameOf);
    // A floor, not the list: new connections join automatically.
    for (const name of [
      'Query.searchUsers',
      'Query.eventsInBounds',
      'Query.chats',
      'User.hostedEvents',
      'Event.comments',
      'Chat.messages',
    ]) {
      expect(names).toContain(name);
    }
  });

  it.each(fields.map((f) => [nameOf(f), f] as const))(
    '%s has a policy, stated in its argument descriptions',
    (_name, f) => {
      const policy = policyOf(f);
      expect(policy, 'every connection goes through the paging plugin').toBeDefined();
      const first = f.target.field.args.find((a) => a.name === 'first');
      expect(first?.description).toContain(`at most ${policy!.max}`);
      const withDefault = f.target.field.args.find((a) => a.name === (policy!.backwards ? 'last' : 'first'));
      expect(withDefault?.description).toContain(`default ${policy!.default}`);
    },
  );

  it.each(fields.map((f) => [nameOf(f), f] as const))(
    '%s refuses first: max + 1 and accepts first: max over HTTP',
    async (name, f) => {
      const { max } = policyOf(f)!;
      const send = (pageArgs: Record<string, string>) => viewer.gql(parse(operation(f.path, f.target, pageArgs)), {});

      const over = await send({ first: String(max + 1) });
      expect(
        over.errors,
        `${name}: no error for first: ${max + 1} (does every step of the path resolve?)`,
      ).toBeDefined();
      expect(over.errors).toHaveLength(1);
      expect(over.errors![0]!.path?.at(-1)).toBe(f.target.field.name);
      expect(over.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });

      if (f.target.field.args.some((a) => a.name === 'last')) {
        const overLast = await send({ last: String(max + 1) });
        expect(overLast.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'last' });
      }

      const atMax = await send({ first: String(max) });
      expect(atMax.errors).toBeUndefined();
      expect(atMax.data).toBeTruthy();
    },
  );
});
