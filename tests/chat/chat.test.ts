// Chats over HTTP and graphql-ws: direct, group and event chats, ordered idempotent sends,
// edits and deletions, read receipts, typing, history paging, batching and bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderedPair } from '../../src/services/social/index.ts';
import {
  ChatHistoryDocument,
  ChatsDocument,
  CreateGroupChatDocument,
  DeleteMessageDocument,
  EditMessageDocument,
  EventChatDocument,
  JoinEventDocument,
  LeaveEventDocument,
  MarkChatReadDocument,
  MessageAddedDocument,
  MessageUpdatedDocument,
  OpenDirectChatDocument,
  SendMessageDocument,
  SetTypingDocument,
  TypingDocument,
} from '../generated/graphql.ts';
import { codes, countStatements, createUser, gql, gqlOk, subscribe, wsClient } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { startTestServer, testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

export async function befriend(server: TestServer, a: TestUser, b: TestUser): Promise<void> {
  await server.deps.prisma.friendship.create({ data: orderedPair(a.id, b.id) });
}

async function directChat(server: TestServer, a: TestUser, b: TestUser): Promise<string> {
  await befriend(server, a, b);
  return (await gqlOk(server, OpenDirectChatDocument, { userId: b.id }, { token: a.accessToken })).openDirectChat.id;
}

/** The chat scenario: sender on `writer`, receiver subscribed on `reader`. */
async function conversation(writer: TestServer, reader: TestServer) {
  const [ana, ben] = [await createUser(writer), await createUser(writer)];
  const chatId = await directChat(writer, ana, ben);
  const client = wsClient(reader, { authorization: `Bearer ${ben.accessToken}` });
  const anaClient = wsClient(reader, { authorization: `Bearer ${ana.accessToken}` });
  const added = await subscribe(reader, client, MessageAddedDocument, { chatId });
  const updates = await subscribe(reader, anaClient, MessageUpdatedDocument, { chatId });
  try {
    const bodies = Array.from({ length: 10 }, (_, i) => `message ${i}`);
    const sent: Array<{ id: string }> = [];
    for (const body of bodies)
      sent.push((await gqlOk(writer, SendMessageDocument, { chatId, body }, { token: ana.accessToken })).sendMessage);
    await added.next(() => added.received.length >= 10);
    expect(added.received.map((d) => d.messageAdded.body)).toEqual(bodies);

    // Pushed to Ben: delivered, as Ana sees through messageUpdated.
    const last = sent.at(-1)!;
    const delivered = await updates.next(
      (d) => d.messageUpdated.id === last.id && d.messageUpdated.status === 'DELIVERED',
    );
    expect(delivered.messageUpdated.readBy).toEqual([]);

    await gqlOk(writer, MarkChatReadDocument, { chatId }, { token: ben.accessToken });
    const read = await updates.next((d) => d.messageUpdated.id === last.id && d.messageUpdated.status === 'READ');
    expect(read.messageUpdated.readBy.map((u) => u.id)).toEqual([ben.id]);

    // A retried send returns the first message and publishes nothing new.
    const first = await gqlOk(
      writer,
      SendMessageDocument,
      { chatId, body: 'once', clientMessageId: 'c-1' },
      { token: ana.accessToken },
    );
    const retry = await gqlOk(
      writer,
      SendMessageDocument,
      { chatId, body: 'once', clientMessageId: 'c-1' },
      { token: ana.accessToken },
    );
    expect(retry.sendMessage.id).toBe(first.sendMessage.id);
    await added.next((d) => d.messageAdded.id === first.sendMessage.id);

    await gqlOk(
      writer,
      EditMessageDocument,
      { id: first.sendMessage.id, body: 'once, edited' },
      { token: ana.accessToken },
    );
    await gqlOk(writer, DeleteMessageDocument, { id: sent[0]!.id }, { token: ana.accessToken });
    const edited = await updates.next(
      (d) => d.messageUpdated.id === first.sendMessage.id && d.messageUpdated.body === 'once, edited',
    );
    expect(edited.messageUpdated.editedAt).not.toBeNull();
    const deleted = await updates.next((d) => d.messageUpdated.id === sent[0]!.id && d.messageUpdated.deleted);
    expect(deleted.messageUpdated.body).toBe('');

    expect(added.received.filter((d) => d.messageAdded.id === first.sendMessage.id)).toHaveLength(1);
    expect(added.errors).toEqual([]);
    return { ana, ben, chatId };
  } finally {
    added.stop();
    updates.stop();
    await client.dispose();
    await anaClient.dispose();
  }
}

describe('chat on one instance', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { RATE_LIMIT_SEND_MESSAGE_PER_USER: '1000/10' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('delivers messages in order, once per retry, with edits, deletions and SENT → DELIVERED → READ', async () => {
    await conversation(server, server);
  });

  it('reports SENT until another member fetches a message', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    const { sendMessage } = await gqlOk(
      server,
      SendMessageDocument,
      { chatId, body: 'hello' },
      { token: ana.accessToken },
    );
    expect(sendMessage.status).toBe('SENT');
    const history = await gqlOk(server, ChatHistoryDocument, { id: chatId }, { token: ben.accessToken });
    expect(history.chat?.unreadCount).toBe(1);
    const asAna = await gqlOk(server, ChatHistoryDocument, { id: chatId }, { token: ana.accessToken });
    expect(asAna.chat?.messages.edges.map((e) => e.node.status)).toEqual(['DELIVERED']);
    expect(
      (await gqlOk(server, MarkChatReadDocument, { chatId }, { token: ben.accessToken })).markChatRead.unreadCount,
    ).toBe(0);
  });

  it('counts a reply as reading what came before it', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    const anaClient = wsClient(server, { authorization: `Bearer ${ana.accessToken}` });
    const updates = await subscribe(server, anaClient, MessageUpdatedDocument, { chatId });
    try {
      const { sendMessage: question } = await gqlOk(
        server,
        SendMessageDocument,
        { chatId, body: 'coffee?' },
        { token: ana.accessToken },
      );
      await gqlOk(server, SendMessageDocument, { chatId, body: 'yes!' }, { token: ben.accessToken });
      const read = await updates.next((d) => d.messageUpdated.id === question.id && d.messageUpdated.status === 'READ');
      expect(read.messageUpdated.readBy.map((u) => u.id)).toEqual([ben.id]);
    } finally {
      updates.stop();
      await anaClient.dispose();
    }
  });

  it('opens one direct chat per pair of friends, and refuses non-friends and yourself', async () => {
    const [ana, ben, cleo] = [await createUser(server), await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    expect(
      (await gqlOk(server, OpenDirectChatDocument, { userId: ana.id }, { token: ben.accessToken })).openDirectChat.id,
    ).toBe(chatId);
    expect(codes(await gql(server, OpenDirectChatDocument, { userId: cleo.id }, { token: ana.accessToken }))).toEqual([
      'FORBIDDEN',
    ]);
    expect(
      (await gql(server, OpenDirectChatDocument, { userId: ana.id }, { token: ana.accessToken })).errors?.[0]
        ?.extensions,
    ).toMatchObject({
      code: 'BAD_USER_INPUT',
    });
    const racing = await Promise.all(
      [0, 1].map(async () => {
        const [x, y] = [await createUser(server), await createUser(server)];
        await befriend(server, x, y);
        const both = await Promise.all([
          gqlOk(server, OpenDirectChatDocument, { userId: y.id }, { token: x.accessToken }),
          gqlOk(server, OpenDirectChatDocument, { userId: x.id }, { token: y.accessToken }),
        ]);
        return both.map((r) => r.openDirectChat.id);
      }),
    );
    for (const [a, b] of racing) expect(a).toBe(b);
  });

  it('makes group chats of friends only', async () => {
    const [ana, ben, cleo, dan] = [
      await createUser(server),
      await createUser(server),
      await createUser(server),
      await createUser(server),
    ];
    await befriend(server, ana, ben);
    await befriend(server, ana, cleo);
    const { createGroupChat } = await gqlOk(
      server,
      CreateGroupChatDocument,
      { title: ' Study crew ', memberIds: [ben.id, cleo.id] },
      { token: ana.accessToken },
    );
    expect(createGroupChat).toMatchObject({ kind: 'GROUP', title: 'Study crew' });
    expect(createGroupChat.members.map((m) => m.id).sort()).toEqual([ana.id, ben.id, cleo.id].sort());
    const withStranger = await gql(
      server,
      CreateGroupChatDocument,
      { title: 'x', memberIds: [ben.id, dan.id] },
      { token: ana.accessToken },
    );
    expect(codes(withStranger)).toEqual(['FORBIDDEN']);
    expect(withStranger.errors?.[0]?.message).toContain(dan.id);
    expect(
      codes(
        await gql(server, CreateGroupChatDocument, { title: '  ', memberIds: [ben.id] }, { token: ana.accessToken }),
      ),
    ).toEqual(['BAD_USER_INPUT']);
  });

  it('keeps an event chat in step with its host and attendees', async () => {
    const host = await createUser(server);
    await certify(server, host);
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const event = await createEvent(server, host, { isPublic: true });
    await gqlOk(server, JoinEventDocument, { id: event.id }, { token: ana.accessToken });
    await gqlOk(server, JoinEventDocument, { id: event.id }, { token: ben.accessToken });
    const { event: asAna } = await gqlOk(server, EventChatDocument, { id: event.id }, { token: ana.accessToken });
    expect(asAna?.chat?.kind).toBe('EVENT');
    expect(asAna?.chat?.members.map((m) => m.id).sort()).toEqual([host.id, ana.id, ben.id].sort());
    const chatId = asAna!.chat!.id;

    // Leaving the event leaves the chat: no more messages, no access.
    const client = wsClient(server, { authorization: `Bearer ${ben.accessToken}` });
    const all = await subscribe(server, client, MessageAddedDocument, {});
    try {
      await gqlOk(server, SendMessageDocument, { chatId, body: 'before' }, { token: host.accessToken });
      await all.next((d) => d.messageAdded.body === 'before');
      await gqlOk(server, LeaveEventDocument, { id: event.id }, { token: ben.accessToken });
      await gqlOk(server, SendMessageDocument, { chatId, body: 'after' }, { token: host.accessToken });
      // Proving that something does not arrive takes a wait; 'before' took far less than this.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(all.received.map((d) => d.messageAdded.body)).toEqual(['before']);
      expect(codes(await gql(server, ChatHistoryDocument, { id: chatId }, { token: ben.accessToken }))).toEqual([
        'NOT_FOUND',
      ]);
      expect(
        (await gqlOk(server, EventChatDocument, { id: event.id }, { token: ben.accessToken })).event?.chat,
      ).toBeNull();
    } finally {
      all.stop();
      await client.dispose();
    }
  });

  it('refuses non-members at subscribe time, and shows typing that expires by itself', async () => {
    const [ana, ben, cleo] = [await createUser(server), await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    const outsider = wsClient(server, { authorization: `Bearer ${cleo.accessToken}` });
    // subscribe() returns once the server established or refused the subscription.
    const refused = await subscribe(server, outsider, MessageAddedDocument, { chatId });
    expect(JSON.stringify(refused.errors)).toContain('NOT_FOUND');
    await outsider.dispose();

    const client = wsClient(server, { authorization: `Bearer ${ben.accessToken}` });
    const typing = await subscribe(server, client, TypingDocument, { chatId });
    try {
      await gqlOk(server, SetTypingDocument, { chatId, isTyping: true }, { token: ana.accessToken });
      const started = await typing.next((d) => d.typing.isTyping);
      expect(started.typing.user.id).toBe(ana.id);
      const before = Date.now();
      // Not renewed: it ends by itself.
      await typing.next((d) => !d.typing.isTyping, 10_000);
      expect(Date.now() - before).toBeGreaterThan(4_000);
      expect(await server.deps.prisma.message.count({ where: { chatId } })).toBe(0);
    } finally {
      typing.stop();
      await client.dispose();
    }
  });

  it('pages through 1000 messages in both directions', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    // Identical timestamps on purpose: order comes from sequence numbers.
    const at = new Date();
    await server.deps.prisma.message.createMany({
      data: Array.from({ length: 1000 }, (_, i) => ({
        chatId,
        seq: i + 1,
        senderId: i % 2 ? ana.id : ben.id,
        body: `m${i + 1}`,
        createdAt: at,
      })),
    });
    await server.deps.prisma.chat.update({ where: { id: chatId }, data: { lastSeq: 1000 } });
    const expected = Array.from({ length: 1000 }, (_, i) => `m${i + 1}`);

    const forwards: string[] = [];
    let after: string | null | undefined;
    for (;;) {
      const { chat } = await gqlOk(
        server,
        ChatHistoryDocument,
        { id: chatId, first: 100, after },
        { token: ana.accessToken },
      );
      forwards.push(...chat!.messages.edges.map((e) => e.node.body));
      if (!chat!.messages.pageInfo.hasNextPage) break;
      after = chat!.messages.pageInfo.endCursor;
    }
    expect(forwards).toEqual(expected);

    const backwards: string[] = [];
    let before: string | null | undefined;
    for (;;) {
      const { chat } = await gqlOk(
        server,
        ChatHistoryDocument,
        { id: chatId, last: 70, before },
        { token: ana.accessToken },
      );
      backwards.unshift(...chat!.messages.edges.map((e) => e.node.body));
      if (!chat!.messages.pageInfo.hasPreviousPage) break;
      before = chat!.messages.pageInfo.startCursor;
    }
    expect(backwards).toEqual(expected);

    // Without first/last, the newest page.
    const { chat: latest } = await gqlOk(server, ChatHistoryDocument, { id: chatId }, { token: ana.accessToken });
    expect(latest!.messages.edges.map((e) => e.node.body)).toEqual(expected.slice(-20));
  });

  it('lists chats most recent first without a statement per chat', async () => {
    const me = await createUser(server);
    const partners: TestUser[] = [];
    for (let i = 0; i < 50; i++) partners.push(await createUser(server));
    const chatIds: string[] = [];
    for (const partner of partners) {
      const chatId = await directChat(server, me, partner);
      chatIds.push(chatId);
      await gqlOk(
        server,
        SendMessageDocument,
        { chatId, body: `hi ${partner.username}` },
        { token: partner.accessToken },
      );
    }
    const few = await countStatements(server, () =>
      gqlOk(server, ChatsDocument, { first: 5 }, { token: me.accessToken }),
    );
    const many = await countStatements(server, () =>
      gqlOk(server, ChatsDocument, { first: 50 }, { token: me.accessToken }),
    );
    expect(many).toBe(few);
    const { chats } = await gqlOk(server, ChatsDocument, { first: 50 }, { token: me.accessToken });
    expect(chats.edges.map((e) => e.node.id)).toEqual([...chatIds].reverse());
    expect(chats.edges[0]?.node).toMatchObject({
      unreadCount: 1,
      lastMessage: { body: `hi ${partners.at(-1)!.username}` },
    });
  });
});

describe('bad input on chat', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { RATE_LIMIT_SEND_MESSAGE_PER_USER: '30/10' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers each case with its code and stores nothing half', async () => {
    const [ana, ben, cleo] = [await createUser(server), await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    expect(
      (await gql(server, SendMessageDocument, { chatId, body: '   ' }, { token: ana.accessToken })).errors?.[0]
        ?.extensions,
    ).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'body',
    });
    expect(
      codes(await gql(server, SendMessageDocument, { chatId, body: 'x'.repeat(4001) }, { token: ana.accessToken })),
    ).toEqual(['BAD_USER_INPUT']);
    expect(codes(await gql(server, SendMessageDocument, { chatId, body: 'hi' }, { token: cleo.accessToken }))).toEqual([
      'NOT_FOUND',
    ]);
    expect(
      codes(await gql(server, SendMessageDocument, { chatId: 'nope', body: 'hi' }, { token: ana.accessToken })),
    ).toEqual(['NOT_FOUND']);

    const { sendMessage } = await gqlOk(
      server,
      SendMessageDocument,
      { chatId, body: 'mine' },
      { token: ana.accessToken },
    );
    expect(
      codes(await gql(server, EditMessageDocument, { id: sendMessage.id, body: 'yours?' }, { token: ben.accessToken })),
    ).toEqual(['FORBIDDEN']);
    expect(codes(await gql(server, DeleteMessageDocument, { id: sendMessage.id }, { token: ben.accessToken }))).toEqual(
      ['FORBIDDEN'],
    );
    expect(
      codes(await gql(server, EditMessageDocument, { id: sendMessage.id, body: 'x' }, { token: cleo.accessToken })),
    ).toEqual(['NOT_FOUND']);
    await gqlOk(server, DeleteMessageDocument, { id: sendMessage.id }, { token: ana.accessToken });
    expect(
      codes(
        await gql(server, EditMessageDocument, { id: sendMessage.id, body: 'revived' }, { token: ana.accessToken }),
      ),
    ).toEqual(['CONFLICT']);
    expect(await server.deps.prisma.message.count({ where: { chatId } })).toBe(1);
  });

  it('rate-limits a flood of 200 messages in a second; what was accepted is stored once, in order', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        gql(
          server,
          SendMessageDocument,
          { chatId, body: `flood ${i}`, clientMessageId: `f-${i}` },
          { token: ana.accessToken },
        ),
      ),
    );
    const accepted = results.filter((r) => r.data?.sendMessage);
    const limited = results.filter((r) => codes(r)[0] === 'RATE_LIMITED');
    expect(accepted).toHaveLength(30);
    expect(limited).toHaveLength(170);
    const stored = await server.deps.prisma.message.findMany({ where: { chatId }, orderBy: { seq: 'asc' } });
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(new Set(stored.map((m) => m.clientMessageId)).size).toBe(30);
    expect(stored.map((m) => m.id).sort()).toEqual(accepted.map((r) => r.data!.sendMessage.id).sort());
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('chat across two instances (PostgreSQL + Redis)', () => {
  const instances = twoInstances({ RATE_LIMIT_SEND_MESSAGE_PER_USER: '1000/10' });

  it('carries a conversation from a sender on A to a receiver on B', async () => {
    const [a, b] = [instances.a(), instances.b()];
    await conversation(a, b);
  });
});
