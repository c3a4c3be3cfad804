// Planned chat frames (src/schema/chat/plans.ts): a messageAdded frame for a message just sent
// is written from the change that announced it, with no read of the message or its sender.
// What a subscriber receives must be what normal execution sends, byte for byte: the planned
// document is subscribed next to the same document plus a field the planner does not know
// (`status`, which makes graphql-js execute it), that field then taken out again. Replayed
// messages (`after`) are read as they are now, edits included.
import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EditMessageDocument, OpenDirectChatDocument } from '../generated/graphql.ts';
import { createUser, gqlOk, subscribe } from '../helpers/client.ts';
import type { LiveSubscription, TestUser } from '../helpers/client.ts';
import { jpeg, uploadOk } from '../helpers/images.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';
import { befriend } from '../helpers/social.ts';

/** A chat screen's selection, every field the planner answers, and `extra`. */
const incoming = (extra = '') => `
  subscription Incoming($chatId: ID, $after: String) {
    messageAdded(chatId: $chatId, after: $after) {
      __typename id body clientMessageId createdAt editedAt deleted cursor sentAt: createdAt ${extra}
      sender { __typename id username fullName avatarUrl handle: username }
    }
  }`;

const SEND = parse(`mutation Send($chatId: ID!, $body: String!, $clientMessageId: String) {
  sendMessage(chatId: $chatId, body: $body, clientMessageId: $clientMessageId) { id } }`) as TypedDocumentNode<
  unknown,
  { chatId: string; body: string; clientMessageId?: string }
>;

interface Added {
  messageAdded: Record<string, unknown> & { id: string; body: string; cursor: string };
}

const document = (text: string) => parse(text) as TypedDocumentNode<Added, { chatId: string; after?: string }>;

/** What a subscriber received, as JSON text (key order counts), `status` taken out. */
const received = (subscription: LiveSubscription<Added>) =>
  JSON.stringify(
    subscription.received.map((payload) => {
      const copy = structuredClone(payload);
      delete copy.messageAdded.status;
      return copy;
    }),
  );

describe('planned chat frames', () => {
  let server: TestServer;
  let ana: TestUser;
  let ben: TestUser;
  let chatId: string;

  beforeAll(async () => {
    server = await startTestServer();
    [ana, ben] = await Promise.all([createUser(server, { fullName: 'Ana Sender' }), createUser(server)]);
    await befriend(server, ana, ben);
    await uploadOk(server, { data: await jpeg(64, 64) }, { token: ana.accessToken, isPrimary: true });
    chatId = (await gqlOk(server, OpenDirectChatDocument, { userId: ben.id }, { token: ana.accessToken }))
      .openDirectChat.id;
  });

  afterAll(async () => {
    await server?.close();
  });

  /** Sends a message; the answer is its id only, so the mutation reads nothing back. */
  const send = (from: TestUser, body: string, clientMessageId?: string) =>
    gqlOk(server, SEND, { chatId, body, clientMessageId }, { token: from.accessToken });

  it('sends what normal execution sends, live and replayed, and replays edits as they are now', async () => {
    const client = ben.ws();
    try {
      const planned = await subscribe(server, client, document(incoming()), { chatId });
      const executed = await subscribe(server, client, document(incoming('status')), { chatId });
      await send(ana, 'first');
      await send(ana, 'with an id, "quoted" ünïcode ✓', 'client-1');
      await send(ben, 'a reply');
      for (const s of [planned, executed]) await s.next(() => s.received.length === 3);
      expect(received(planned)).toBe(received(executed));
      const [first, second, reply] = planned.received.map((d) => d.messageAdded);
      expect(first).toMatchObject({ body: 'first', editedAt: null, deleted: false, clientMessageId: null });
      expect(second).toMatchObject({ clientMessageId: 'client-1' });
      expect(first!.sender).toMatchObject({ id: ana.id, fullName: 'Ana Sender', handle: ana.username });
      expect(String((first!.sender as { avatarUrl: string }).avatarUrl)).toMatch(/^http/);
      expect(reply!.sender).toMatchObject({ id: ben.id, avatarUrl: null });
      planned.stop();
      executed.stop();

      // Edited since: a replay reads the message as it is now, planned document or not.
      await gqlOk(server, EditMessageDocument, { id: second!.id, body: 'edited' }, { token: ana.accessToken });
      const after = first!.cursor;
      const replayPlanned = await subscribe(server, client, document(incoming()), { chatId, after });
      const replayExecuted = await subscribe(server, client, document(incoming('status')), { chatId, after });
      for (const s of [replayPlanned, replayExecuted]) await s.next(() => s.received.length === 2);
      expect(received(replayPlanned)).toBe(received(replayExecuted));
      expect(replayPlanned.received[0]!.messageAdded).toMatchObject({ id: second!.id, body: 'edited' });
      expect(replayPlanned.received[0]!.messageAdded.editedAt).toEqual(expect.any(String));
    } finally {
      await client.dispose();
    }
  });

  it('reads neither the message nor its sender for a live frame; executes what it does not plan', async () => {
    const client = ben.ws();
    const statements: string[] = [];
    const stop = server.deps.db.onStatement((text) => statements.push(text));
    try {
      const frame = async (extra: string, body: string) => {
        const added = await subscribe(server, client, document(incoming(extra)), { chatId });
        statements.length = 0;
        await send(ana, body);
        await added.next((d) => d.messageAdded.body === body);
        added.stop();
        // A read of a message's body or of a user (the sender) through the ORM.
        return statements.filter((s) => /"body"|FROM "public"\."users"/.test(s)).length;
      };
      expect(await frame('', 'planned')).toBe(0);
      expect(await frame('status', 'executed')).toBeGreaterThan(0);
    } finally {
      stop();
      await client.dispose();
    }
  });
});
