// Chats over HTTP and graphql-ws: direct, group and event chats, ordered idempotent sends,
// edits and deletions, read receipts, typing, history paging, batching and bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChatHistoryDocument,
  ChatsDocument,
  CreateGroupChatDocument,
  DeleteAccountDocument,
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
import { codes, countStatements, createUser, gqlOk, subscribe, wsClient } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { startTestServer, testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';
import { befriend } from '../helpers/social.ts';

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
    const { sendMessage } = await ana.gqlOk(SendMessageDocument, { chatId, body: 'hello' });
    expect(sendMessage.status).toBe('SENT');
    const history = await ben.gqlOk(ChatHistoryDocument, { id: chatId });
    expect(history.chat?.unreadCount).toBe(1);
    const asAna = await ana.gqlOk(ChatHistoryDocument, { id: chatId });
    expect(asAna.chat?.messages.edges.map((e) => e.node.status)).toEqual(['DELIVERED']);
    expect((await ben.gqlOk(MarkChatReadDocument, { chatId })).markChatRead.unreadCount).toBe(0);
  });

  it('counts a reply as reading what came before it', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    const anaClient = ana.ws();
    const updates = await subscribe(server, anaClient, MessageUpdatedDocument, { chatId });
    try {
      const { sendMessage: question } = await ana.gqlOk(SendMessageDocument, { chatId, body: 'coffee?' });
      await ben.gqlOk(SendMessageDocument, { chatId, body: 'yes!' });
      const read = await updates.next((d) => d.messageUpdated.id === question.id && d.messageUpdated.status === 'READ');
      expect(read.messageUpdated.readBy.map((u) => u.id)).toEqual([ben.id]);
    } finally {
      updates.stop();
      await anaClient.dispose();
    }
  });

  it('records the deliveries pushed to many chats together, in a statement or a few', async () => {
    const ben = await createUser(server);
    const friends = [
      await createUser(server),
      await createUser(server),
      await createUser(server),
      await createUser(server),
    ];
    const chatIds = await Promise.all(friends.map((friend) => directChat(server, friend, ben)));
    const benClient = ben.ws();
    const added = await subscribe(server, benClient, MessageAddedDocument, {});
    const watchers = await Promise.all(
      friends.map(async (friend, i) => {
        const client = friend.ws();
        return { client, updates: await subscribe(server, client, MessageUpdatedDocument, { chatId: chatIds[i] }) };
      }),
    );
    // The marker statements this instance runs (background ones included), seen at the database adapter.
    const db = server.deps.db;
    const query = db.query.bind(db);
    let markerStatements = 0;
    db.query = ((sql, opts) => {
      if (sql.sql.includes('AS i(chat_id, user_id, up_to)')) markerStatements++;
      return query(sql, opts);
    }) as typeof db.query;
    try {
      const sent = await Promise.all(
        friends.flatMap((friend, i) =>
          [1, 2].map(
            async (n) =>
              (await friend.gqlOk(SendMessageDocument, { chatId: chatIds[i]!, body: `hi ${n}` })).sendMessage,
          ),
        ),
      );
      await added.next(() => added.received.length >= sent.length);
      // Each sender sees its messages DELIVERED: what the batch recorded reached the others' topics.
      await Promise.all(
        watchers.map(({ updates }, i) =>
          updates.next(() =>
            sent
              .filter((m, j) => Math.floor(j / 2) === i)
              .every((m) =>
                updates.received.some((d) => d.messageUpdated.id === m.id && d.messageUpdated.status === 'DELIVERED'),
              ),
          ),
        ),
      );
      // One statement per message pushed (8) or per chat (4) before; now one per 100 ms batch.
      expect(markerStatements).toBeGreaterThan(0);
      expect(markerStatements).toBeLessThanOrEqual(3);
      for (const friend of friends) {
        const history = await friend.gqlOk(ChatHistoryDocument, { id: chatIds[friends.indexOf(friend)]! });
        expect(history.chat?.messages.edges.map((e) => e.node.status)).toEqual(['DELIVERED', 'DELIVERED']);
      }
    } finally {
      db.query = query;
      added.stop();
      await benClient.dispose();
      for (const { client, updates } of watchers) {
        updates.stop();
        await client.dispose();
      }
    }
  });

  it('keeps a read while deliveries pushed before it wait to be recorded: no DELIVERED after READ', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    const [anaClient, benClient] = [ana.ws(), ben.ws()];
    const added = await subscribe(server, benClient, MessageAddedDocument, { chatId });
    const updates = await subscribe(server, anaClient, MessageUpdatedDocument, { chatId });
    try {
      const sent = [];
      for (const body of ['one', 'two', 'three'])
        sent.push((await ana.gqlOk(SendMessageDocument, { chatId, body })).sendMessage);
      await added.next(() => added.received.length >= 3);
      // Read at once, while the pushes' deliveries are still queued.
      await ben.gqlOk(MarkChatReadDocument, { chatId });
      const last = sent.at(-1)!;
      await updates.next((d) => d.messageUpdated.id === last.id && d.messageUpdated.status === 'READ');
      await new Promise((resolve) => setTimeout(resolve, 400)); // past the delivery batch
      // A status is read when its frame goes out, so the event of a delivery recorded just before
      // the read may already show READ: READ may come twice, but statuses never go back, so
      // nothing but READ comes after it (READ ranks highest).
      const rank = { SENT: 0, DELIVERED: 1, READ: 2 };
      for (const message of sent) {
        const statuses = updates.received
          .filter((d) => d.messageUpdated.id === message.id)
          .map((d) => d.messageUpdated.status);
        expect(statuses).toContain('READ');
        const ranks = statuses.map((status) => rank[status]);
        expect(ranks).toEqual([...ranks].sort((x, y) => x - y));
      }
      const history = await ana.gqlOk(ChatHistoryDocument, { id: chatId });
      expect(history.chat?.messages.edges.map((e) => e.node.status)).toEqual(['READ', 'READ', 'READ']);
    } finally {
      added.stop();
      updates.stop();
      await anaClient.dispose();
      await benClient.dispose();
    }
  });

  it('opens one direct chat per pair of friends, and refuses non-friends and yourself', async () => {
    const [ana, ben, cleo] = [await createUser(server), await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    expect((await ben.gqlOk(OpenDirectChatDocument, { userId: ana.id })).openDirectChat.id).toBe(chatId);
    expect(codes(await ana.gql(OpenDirectChatDocument, { userId: cleo.id }))).toEqual(['FORBIDDEN']);
    expect((await ana.gql(OpenDirectChatDocument, { userId: ana.id })).errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
    });
    const racing = await Promise.all(
      [0, 1].map(async () => {
        const [x, y] = [await createUser(server), await createUser(server)];
        await befriend(server, x, y);
        const both = await Promise.all([
          x.gqlOk(OpenDirectChatDocument, { userId: y.id }),
          y.gqlOk(OpenDirectChatDocument, { userId: x.id }),
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
    const { createGroupChat } = await ana.gqlOk(CreateGroupChatDocument, {
      title: ' Study crew ',
      memberIds: [ben.id, cleo.id],
    });
    expect(createGroupChat).toMatchObject({ kind: 'GROUP', title: 'Study crew' });
    expect(createGroupChat.members.map((m) => m.id).sort()).toEqual([ana.id, ben.id, cleo.id].sort());
    const withStranger = await ana.gql(CreateGroupChatDocument, { title: 'x', memberIds: [ben.id, dan.id] });
    expect(codes(withStranger)).toEqual(['FORBIDDEN']);
    expect(withStranger.errors?.[0]?.message).toContain(dan.id);
    expect(codes(await ana.gql(CreateGroupChatDocument, { title: '  ', memberIds: [ben.id] }))).toEqual([
      'BAD_USER_INPUT',
    ]);
  });

  it('keeps an event chat in step with its host and attendees', async () => {
    const host = await createUser(server);
    await certify(server, host);
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const event = await createEvent(server, host, { isPublic: true });
    await ana.gqlOk(JoinEventDocument, { id: event.id });
    await ben.gqlOk(JoinEventDocument, { id: event.id });
    const { event: asAna } = await ana.gqlOk(EventChatDocument, { id: event.id });
    expect(asAna?.chat?.kind).toBe('EVENT');
    expect(asAna?.chat?.members.map((m) => m.id).sort()).toEqual([host.id, ana.id, ben.id].sort());
    const chatId = asAna!.chat!.id;
    const directId = await directChat(server, ana, ben);

    // Leaving the event leaves the chat: no more messages, no access.
    const client = ben.ws();
    const all = await subscribe(server, client, MessageAddedDocument, {});
    try {
      await host.gqlOk(SendMessageDocument, { chatId, body: 'before' });
      await all.next((d) => d.messageAdded.body === 'before');
      await ben.gqlOk(LeaveEventDocument, { id: event.id });
      await host.gqlOk(SendMessageDocument, { chatId, body: 'after' });
      // A fence: Ben's stream delivers in the order things were published to him, so 'after',
      // had it gone to him, would arrive before this message of his direct chat.
      await ana.gqlOk(SendMessageDocument, { chatId: directId, body: 'fence' });
      await all.next((d) => d.messageAdded.body === 'fence');
      expect(all.received.map((d) => d.messageAdded.body)).toEqual(['before', 'fence']);
      expect(codes(await ben.gql(ChatHistoryDocument, { id: chatId }))).toEqual(['NOT_FOUND']);
      expect((await ben.gqlOk(EventChatDocument, { id: event.id })).event?.chat).toBeNull();
    } finally {
      all.stop();
      await client.dispose();
    }
  });

  it('refuses non-members at subscribe time, and shows typing that expires by itself', async () => {
    const [ana, ben, cleo] = [await createUser(server), await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    const outsider = cleo.ws();
    // subscribe() returns once the server established or refused the subscription.
    const refused = await subscribe(server, outsider, MessageAddedDocument, { chatId });
    expect(JSON.stringify(refused.errors)).toContain('NOT_FOUND');
    await outsider.dispose();

    const client = ben.ws();
    const typing = await subscribe(server, client, TypingDocument, { chatId });
    try {
      await ana.gqlOk(SetTypingDocument, { chatId, isTyping: true });
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
      const { chat } = await ana.gqlOk(ChatHistoryDocument, { id: chatId, first: 100, after });
      forwards.push(...chat!.messages.edges.map((e) => e.node.body));
      if (!chat!.messages.pageInfo.hasNextPage) break;
      after = chat!.messages.pageInfo.endCursor;
    }
    expect(forwards).toEqual(expected);

    const backwards: string[] = [];
    let before: string | null | undefined;
    for (;;) {
      const { chat } = await ana.gqlOk(ChatHistoryDocument, { id: chatId, last: 70, before });
      backwards.unshift(...chat!.messages.edges.map((e) => e.node.body));
      if (!chat!.messages.pageInfo.hasPreviousPage) break;
      before = chat!.messages.pageInfo.startCursor;
    }
    expect(backwards).toEqual(expected);

    // Without first/last, the newest page.
    const { chat: latest } = await ana.gqlOk(ChatHistoryDocument, { id: chatId });
    expect(latest!.messages.edges.map((e) => e.node.body)).toEqual(expected.slice(-20));
  });

  it('lists chats most recent first without a statement per chat', async () => {
    const me = await createUser(server);
    const partners = await Promise.all(Array.from({ length: 50 }, () => createUser(server)));
    const chatIds = await Promise.all(partners.map((partner) => directChat(server, me, partner)));
    // One after another: the order of the last messages is the order the list must have.
    for (const [i, partner] of partners.entries())
      await partner.gqlOk(SendMessageDocument, { chatId: chatIds[i]!, body: `hi ${partner.username}` });
    const few = await countStatements(server, () => me.gqlOk(ChatsDocument, { first: 5 }));
    const many = await countStatements(server, () => me.gqlOk(ChatsDocument, { first: 50 }));
    expect(many).toBe(few);
    const { chats } = await me.gqlOk(ChatsDocument, { first: 50 });
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
    expect((await ana.gql(SendMessageDocument, { chatId, body: '   ' })).errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'body',
    });
    expect(codes(await ana.gql(SendMessageDocument, { chatId, body: 'x'.repeat(4001) }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await cleo.gql(SendMessageDocument, { chatId, body: 'hi' }))).toEqual(['NOT_FOUND']);
    expect(codes(await ana.gql(SendMessageDocument, { chatId: 'nope', body: 'hi' }))).toEqual(['NOT_FOUND']);

    const { sendMessage } = await ana.gqlOk(SendMessageDocument, { chatId, body: 'mine' });
    expect(codes(await ben.gql(EditMessageDocument, { id: sendMessage.id, body: 'yours?' }))).toEqual(['FORBIDDEN']);
    expect(codes(await ben.gql(DeleteMessageDocument, { id: sendMessage.id }))).toEqual(['FORBIDDEN']);
    expect(codes(await cleo.gql(EditMessageDocument, { id: sendMessage.id, body: 'x' }))).toEqual(['NOT_FOUND']);
    await ana.gqlOk(DeleteMessageDocument, { id: sendMessage.id });
    expect(codes(await ana.gql(EditMessageDocument, { id: sendMessage.id, body: 'revived' }))).toEqual(['CONFLICT']);
    expect(await server.deps.prisma.message.count({ where: { chatId } })).toBe(1);
  });

  it('rate-limits a flood of 200 messages in a second; what was accepted is stored once, in order', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        ana.gql(SendMessageDocument, { chatId, body: `flood ${i}`, clientMessageId: `f-${i}` }),
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

describe('the send budget', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { RATE_LIMIT_SEND_MESSAGE_PER_USER: '3/60' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is spent by stored messages only; a retry of a stored one is answered even past it', async () => {
    const [ana, ben, cleo] = [await createUser(server), await createUser(server), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    const first = (await ana.gqlOk(SendMessageDocument, { chatId, body: 'one', clientMessageId: 'b-1' })).sendMessage;
    // Retries and refusals store nothing, and give back what they spent.
    for (let i = 0; i < 5; i++) {
      const retry = await ana.gqlOk(SendMessageDocument, { chatId, body: 'one', clientMessageId: 'b-1' });
      expect(retry.sendMessage.id).toBe(first.id);
    }
    const elsewhere = await directChat(server, cleo, ben);
    for (let i = 0; i < 5; i++)
      expect(codes(await ana.gql(SendMessageDocument, { chatId: elsewhere, body: 'hi' }))).toEqual(['NOT_FOUND']);
    await ana.gqlOk(SendMessageDocument, { chatId, body: 'two' });
    await ana.gqlOk(SendMessageDocument, { chatId, body: 'three' });
    // The budget of 3 is spent by the three stored messages.
    expect(codes(await ana.gql(SendMessageDocument, { chatId, body: 'four' }))).toEqual(['RATE_LIMITED']);
    const again = await ana.gqlOk(SendMessageDocument, { chatId, body: 'one', clientMessageId: 'b-1' });
    expect(again.sendMessage.id).toBe(first.id);
    expect(await server.deps.prisma.message.count({ where: { chatId } })).toBe(3);
  });

  it('answers a retry past the budget only to a member: one who left gets NOT_FOUND, not the chat', async () => {
    const host = await createUser(server);
    await certify(server, host);
    const [ana, ben] = [await createUser(server), await createUser(server)];
    const event = await createEvent(server, host, { isPublic: true });
    await ana.gqlOk(JoinEventDocument, { id: event.id });
    const chatId = (await ana.gqlOk(EventChatDocument, { id: event.id })).event!.chat!.id;
    await ana.gqlOk(SendMessageDocument, { chatId, body: 'bye', clientMessageId: 'left-1' });
    await ana.gqlOk(LeaveEventDocument, { id: event.id });
    const direct = await directChat(server, ana, ben);
    await ana.gqlOk(SendMessageDocument, { chatId: direct, body: 'two' });
    await ana.gqlOk(SendMessageDocument, { chatId: direct, body: 'three' });
    expect(codes(await ana.gql(SendMessageDocument, { chatId: direct, body: 'four' }))).toEqual(['RATE_LIMITED']);
    const retry = await ana.gql(SendMessageDocument, { chatId, body: 'bye', clientMessageId: 'left-1' });
    expect(codes(retry)).toEqual(['NOT_FOUND']);
    expect(retry.data?.sendMessage ?? null).toBeNull();
  });

  it('keeps no text or name in the change log that the messages no longer show', async () => {
    const [ana, ben] = [await createUser(server, { fullName: 'Ana Logged' }), await createUser(server)];
    const chatId = await directChat(server, ana, ben);
    const sent = async (body: string) => (await ana.gqlOk(SendMessageDocument, { chatId, body })).sendMessage.id;
    const logged = async (id: string) =>
      (
        await server.deps.prisma.$queryRaw<Array<{ payload: string }>>`
          SELECT payload FROM change_log WHERE ref = ${id}::uuid`
      ).map((r) => r.payload);
    const [kept, edited, deleted] = [await sent('kept words'), await sent('first words'), await sent('gone words')];
    expect((await logged(kept)).join()).toContain('kept words');
    await ana.gqlOk(EditMessageDocument, { id: edited, body: 'second words' });
    await ana.gqlOk(DeleteMessageDocument, { id: deleted });
    expect((await logged(edited)).join()).not.toContain('first words');
    expect((await logged(deleted)).join()).not.toContain('gone words');
    expect((await logged(kept)).join()).toContain('kept words');
    // The change itself stays (messageAdded resumes through it), without the message as sent.
    expect(await logged(edited)).toHaveLength(1);
    await ana.gqlOk(DeleteAccountDocument, { password: ana.password });
    expect((await logged(kept)).join()).not.toMatch(/kept words|Ana Logged/);
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('chat across two instances (PostgreSQL + Redis)', () => {
  const instances = twoInstances({ RATE_LIMIT_SEND_MESSAGE_PER_USER: '1000/10' });

  it('carries a conversation from a sender on A to a receiver on B', async () => {
    const [a, b] = [instances.a(), instances.b()];
    await conversation(a, b);
  });
});
