// Hostile document shapes are refused before graphql-js' validation runs, on HTTP and graphql-ws:
// documents small enough for the token limit whose validation would cost much CPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHAPE_LIMITS } from '../../src/transport/limits.ts';
import { postQuery, wsQuery } from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const repeated = (times: number, field = '__typename') => `{ ${Array.from({ length: times }, () => field).join(' ')} }`;

describe('document shape limits, before validation, on HTTP and graphql-ws', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  // 1,200 × `me { id }` is 4,800 tokens (under the token limit) and a valid document: without the
  // shape check it runs, after graphql-js compared every pair of the 1,200 fields.
  it.each([
    ['a response name repeated 1,200 times', repeated(1200, 'me { id }'), /"me" is selected more than 20 times/],
    [
      'an inline fragment bomb merging into one selection set',
      `{ ${Array.from({ length: 300 }, () => '... on Query { me { id } }').join(' ')} }`,
      /"me" is selected more than 20 times/,
    ],
    [
      `more than ${SHAPE_LIMITS.selections} selections`,
      `{ ${Array.from({ length: 60 }, (_, i) => `e${i}: me { ${Array.from({ length: 18 }, (_, j) => `f${j}: id`).join(' ')} }`).join(' ')} }`,
      new RegExp(`at most ${SHAPE_LIMITS.selections} selections`),
    ],
    [
      `more than ${SHAPE_LIMITS.fragments} fragments`,
      `{ ...F0 } ${Array.from({ length: SHAPE_LIMITS.fragments + 1 }, (_, i) => `fragment F${i} on Query { __typename }`).join(' ')}`,
      new RegExp(`at most ${SHAPE_LIMITS.fragments} fragments`),
    ],
  ])('refuses %s', async (_name, query, message) => {
    const { status, body: http } = await postQuery(server, query);
    expect(status).toBe(400);
    expect(http.data).toBeUndefined();
    expect(http.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    expect(http.errors?.[0]?.message).toMatch(message);

    const ws = await wsQuery(server, query);
    expect(ws.data).toBeUndefined();
    expect(ws.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    expect(ws.errors?.[0]?.message).toMatch(message);
  });

  it('accepts ordinary repetition: the same field in a few inline fragments, up to the limit', async () => {
    const query = `{ ${Array.from({ length: SHAPE_LIMITS.repeatsPerSelectionSet }, () => '... on Query { __typename }').join(' ')} }`;
    expect(await postQuery(server, query)).toMatchObject({ status: 200, body: { data: { __typename: 'Query' } } });
    expect(await wsQuery(server, query)).toMatchObject({ data: { __typename: 'Query' } });
  });
});
