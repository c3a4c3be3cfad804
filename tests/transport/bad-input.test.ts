// What a careless or hostile client can send, over HTTP and over graphql-ws: every case gets a
// contract code, nothing is a 500, and a bad WebSocket operation does not break its connection.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  ChangePasswordDocument,
  HostedEventsDocument,
  LoginDocument,
  MeDocument,
  RegisterDocument,
  SearchUsersDocument,
  UpdateProfileDocument,
} from '../generated/graphql.ts';
import { codes, createUser, gql, TEST_PASSWORD, uniqueName, wsRequest } from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    env: { CORS_ORIGINS: 'https://app.pinit.example', RATE_LIMIT_CHANGE_PASSWORD_PER_USER: '3/600' },
  });
});
afterAll(async () => {
  await server?.close();
});

const cursor = (text: string) => Buffer.from(text).toString('base64');

describe('control characters and forged cursors', () => {
  it('rejects NUL and other control characters in text fields', async () => {
    const user = await createUser(server);
    const register = await gql(server, RegisterDocument, {
      input: { username: uniqueName(), password: TEST_PASSWORD, fullName: 'a\u0000b' },
    });
    expect(register.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'fullName' });
    const email = await gql(server, RegisterDocument, {
      input: { username: uniqueName(), password: TEST_PASSWORD, email: 'a\u0000@b.example' },
    });
    expect(email.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'email' });
    const bio = await user.gql(UpdateProfileDocument, { input: { bio: 'x\u0007y' } });
    expect(bio.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'bio' });
    const tags = await user.gql(UpdateProfileDocument, { input: { interests: ['ok', 'bad\u0000'] } });
    expect(tags.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'interests' });
    expect(codes(await gql(server, SearchUsersDocument, { query: 'a\u0000' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await gql(server, LoginDocument, { username: 'a\u0000b', password: 'whatever pass' }))).toEqual([
      'UNAUTHENTICATED',
    ]);
  });

  it.each([['GPC:S:not-a-uuid'], ['GPC:N:5'], ['GPC:T:["S:nope"]'], ['GPC:J:{}'], ['anything']])(
    'answers a forged cursor %j with BAD_USER_INPUT',
    async (text) => {
      const search = await gql(server, SearchUsersDocument, { query: 'a', after: cursor(text) });
      expect(codes(search)).toEqual(['BAD_USER_INPUT']);
    },
  );

  it('answers a forged cursor inside a nested connection with BAD_USER_INPUT too', async () => {
    const user = await createUser(server);
    const result = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query:
          'query($id: ID!, $after: String) { user(id: $id) { hostedEvents(first: 5, after: $after) { edges { node { id } } } } }',
        variables: { id: user.id, after: cursor('GPC:S:not-a-uuid') },
      }),
    });
    const body = await result.json();
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    void HostedEventsDocument;
  });

  it('rate-limits password changes per user', async () => {
    const user = await createUser(server);
    const tries = [];
    for (let i = 0; i < 4; i++) {
      tries.push(
        codes(
          await user.gql(ChangePasswordDocument, { currentPassword: 'wrong guess!', newPassword: 'whatever new' }),
        )[0],
      );
    }
    expect(tries).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT', 'BAD_USER_INPUT', 'RATE_LIMITED']);
  });
});

describe('graphql-ws', () => {
  it('answers a syntax error, an unknown field and a wrongly typed variable per operation, keeping the connection', async () => {
    const user = await createUser(server);
    const client = user.ws();
    const run = (query: string, variables?: Record<string, unknown>) =>
      new Promise<unknown>((resolve) => {
        client.subscribe(
          { query, variables },
          { next: (v) => resolve(v), error: (e) => resolve(e), complete: () => resolve('completed') },
        );
      });
    try {
      const syntax = await run('{ me { id ');
      expect(JSON.stringify(syntax)).toContain('BAD_USER_INPUT');
      const unknown = await run('{ me { passwordHash } }');
      expect(JSON.stringify(unknown)).toContain('BAD_USER_INPUT');
      const wrongType = await run('query($q: String!) { searchUsers(query: $q) { edges { cursor } } }', { q: 5 });
      expect(JSON.stringify(wrongType)).toContain('BAD_USER_INPUT');
      expect(JSON.stringify(wrongType)).not.toContain('INTERNAL_SERVER_ERROR');
      // The same connection still works.
      expect((await wsRequest(client, MeDocument, {})).data?.me?.id).toBe(user.id);
    } finally {
      await client.dispose();
    }
  });

  it('refuses WebSocket connections from browser origins not in CORS_ORIGINS with 4403', async () => {
    const attempt = async (origin?: string) => {
      const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws', origin ? { headers: { origin } } : {});
      await once(socket, 'open');
      socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
      const outcome = await Promise.race([
        once(socket, 'message').then(([data]) => JSON.parse(String(data)).type as string),
        once(socket, 'close').then(([code]) => Number(code)),
      ]);
      socket.close();
      return outcome;
    };
    expect(await attempt('https://evil.example')).toBe(4403);
    expect(await attempt('https://app.pinit.example')).toBe('connection_ack');
    // Native apps send no Origin.
    expect(await attempt()).toBe('connection_ack');
  });

  it('keeps working for HTTP after all of that', async () => {
    const user = await createUser(server);
    expect((await user.gqlOk(MeDocument, {})).me?.id).toBe(user.id);
  });
});
