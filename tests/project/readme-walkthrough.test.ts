// The README's newcomer paths, run over HTTP and graphql-ws against a server with the demo data:
// the demo accounts it names (and which of them are certified), and "From two accounts to a
// chat": friend request, acceptance, direct chat, a message that arrives live.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { codes, subscribe, wsClient } from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

interface Result {
  // The walkthrough's operations are the README's text, so their results are untyped.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data?: Record<string, any>;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ env: { SEED_DEMO: 'true' } });
});
afterAll(() => server?.close());

async function op(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<Result> {
  const res = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as Result;
}

async function ok(query: string, variables: Record<string, unknown> = {}, token?: string) {
  const result = await op(query, variables, token);
  if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
  return result.data!;
}

const login = async (username: string) =>
  (
    await ok(
      'mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken user { id isCertified role } } }',
      { u: username, p: 'pinit-demo-password' },
    )
  ).login as {
    accessToken: string;
    user: { id: string; isCertified: boolean; role: string };
  };

describe('the demo accounts the README names', () => {
  it('exist with the README password, certified exactly as listed, none an admin', async () => {
    const listed = {
      'ada.novak0': true,
      'dev.schulz3': true,
      'gus.rossi6': true,
      'jana.kim9': true,
      'ben.novak1': false,
      'cleo.schulz2': false,
      'emil.okafor4': false,
      'hana.rossi7': false,
    };
    for (const [username, certified] of Object.entries(listed)) {
      const { user } = await login(username);
      expect({ username, certified: user.isCertified, role: user.role }).toEqual({ username, certified, role: 'USER' });
    }
  });

  it('lets a certified one create a public event, and not an uncertified one', async () => {
    const create = 'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id isPublic } }';
    const input = {
      title: 'README try-out',
      latitude: 52.52,
      longitude: 13.4,
      startsAt: new Date(Date.now() + 86_400_000).toISOString(),
      endsAt: new Date(Date.now() + 90_000_000).toISOString(),
      isPublic: true,
    };
    const ada = await login('ada.novak0');
    expect((await ok(create, { input }, ada.accessToken)).createEvent.isPublic).toBe(true);
    const ben = await login('ben.novak1');
    expect(codes(await op(create, { input }, ben.accessToken))).toEqual(['FORBIDDEN']);
  });
});

describe('From two accounts to a chat', () => {
  it('runs as the README says', async () => {
    const ada = await login('ada.novak0');
    const ben = await login('ben.novak1');

    // 1. Ada looks Ben up and asks.
    const benId = (await ok('{ user(username: "ben.novak1") { id } }', {}, ada.accessToken)).user.id as string;
    expect(benId).toBe(ben.user.id);
    // Not friends yet: no chat.
    expect(
      codes(await op('mutation ($id: ID!) { openDirectChat(userId: $id) { id } }', { id: benId }, ada.accessToken)),
    ).toEqual(['FORBIDDEN']);
    await ok('mutation ($id: ID!) { sendFriendRequest(userId: $id) { id } }', { id: benId }, ada.accessToken);

    // 2. Ben finds the request and accepts it.
    const requests = (await ok('{ friendRequests(incoming: true) { id from { username } } }', {}, ben.accessToken))
      .friendRequests as Array<{ id: string; from: { username: string } }>;
    expect(requests.map((r) => r.from.username)).toEqual(['ada.novak0']);
    const friend = (
      await ok(
        'mutation ($id: ID!) { acceptFriendRequest(requestId: $id) { id username } }',
        { id: requests[0]!.id },
        ben.accessToken,
      )
    ).acceptFriendRequest;
    expect(friend).toEqual({ id: ada.user.id, username: 'ada.novak0' });
    expect(
      (await ok('{ user(username: "ben.novak1") { friendshipStatus } }', {}, ada.accessToken)).user.friendshipStatus,
    ).toBe('FRIENDS');

    // 3. Either opens the chat: the same one for both.
    const chatId = (
      await ok('mutation ($id: ID!) { openDirectChat(userId: $id) { id } }', { id: benId }, ada.accessToken)
    ).openDirectChat.id as string;
    expect(
      (await ok('mutation ($id: ID!) { openDirectChat(userId: $id) { id } }', { id: ada.user.id }, ben.accessToken))
        .openDirectChat.id,
    ).toBe(chatId);

    // 4. Ben listens over graphql-ws; Ada sends.
    const client = wsClient(server, { authorization: `Bearer ${ben.accessToken}` });
    try {
      const messages = await subscribe(
        server,
        client,
        parse(
          'subscription ($chatId: ID) { messageAdded(chatId: $chatId) { body sender { username } } }',
        ) as TypedDocumentNode<{ messageAdded: { body: string; sender: { username: string } } }, { chatId: string }>,
        { chatId },
      );
      const send =
        'mutation ($chatId: ID!, $body: String!, $cid: String) { sendMessage(chatId: $chatId, body: $body, clientMessageId: $cid) { id status } }';
      const clientMessageId = randomUUID();
      const first = (await ok(send, { chatId, body: 'Hello!', cid: clientMessageId }, ada.accessToken)).sendMessage;
      const got = await messages.next((m) => m.messageAdded.body === 'Hello!');
      expect(got.messageAdded.sender.username).toBe('ada.novak0');
      messages.stop();
      // A retry with the same clientMessageId posts nothing twice.
      expect((await ok(send, { chatId, body: 'Hello!', cid: clientMessageId }, ada.accessToken)).sendMessage.id).toBe(
        first.id,
      );
    } finally {
      await client.dispose();
    }
  });
});
