// Resumable subscriptions (src/changes/), driven over graphql-ws as a phone coming back from the
// background drives them: keep the last cursor, subscribe again with `after`, and get exactly
// the changes it may see that it missed, in order, once, then live ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { Client } from 'graphql-ws';
import type { Prisma } from '../../src/generated/prisma/client.ts';
import { mapTopicsFor, recordEventChange } from '../../src/services/events/realtime.ts';
import { snapshot } from '../../src/services/events/index.ts';
import { orderedPair } from '../../src/services/social/index.ts';
import {
  CancelEventDocument,
  ChatHistoryCursorsDocument,
  NotificationCursorsDocument,
  OpenDirectChatDocument,
  ResumeEventChangedDocument,
  ResumeMessageAddedDocument,
  ResumeNotificationAddedDocument,
  SendFriendRequestDocument,
  SendMessageDocument,
  UpdateEventDocument,
} from '../generated/graphql.ts';
import type {
  ResumeEventChangedSubscription,
  ResumeEventChangedSubscriptionVariables,
  ResumeMessageAddedSubscription,
} from '../generated/graphql.ts';
import { countStatements, createUser, gqlOk, subscribe, wsClient, wsRequest } from '../helpers/client.ts';
import type { LiveSubscription, TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer, testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const BOX = { south: 52.4, west: 13.3, north: 52.6, east: 13.5 };
const INSIDE = { latitude: 52.5, longitude: 13.4 };
const OUTSIDE = { latitude: 48.14, longitude: 11.58 };

type MapChange = ResumeEventChangedSubscription['eventChanged'];

const bearer = (user: TestUser) => ({ authorization: `Bearer ${user.accessToken}` });

/** The change log's id a change cursor names (clients treat cursors as opaque; the test looks inside). */
const changeIdOf = (cursor: string) => (JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, number])[1];

/**
 * Renames an event and records its change in `tx`, as updateEvent does, without telling the
 * change feed: what a transaction that has not committed yet, or a writer that died at commit,
 * leaves for the relay.
 */
async function renameInTransaction(tx: Prisma.TransactionClient, eventId: string, title: string, hostId: string) {
  const before = await tx.event.findUniqueOrThrow({ where: { id: eventId } });
  const after = await tx.event.update({ where: { id: eventId }, data: { title, version: { increment: 1 } } });
  await recordEventChange(
    tx,
    {
      kind: 'UPDATED',
      eventId,
      version: after.version,
      occurredAt: new Date(),
      before: snapshot(before),
      after: snapshot(after),
    },
    [hostId],
  );
}

/** A promise the test resolves when it chooses: a step of a transaction held open, or reached. */
function latch() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** A map subscriber that comes and goes on one instance, keeping its last cursor as an app does. */
class MapScreen {
  private client: Client | undefined;
  private live: LiveSubscription<ResumeEventChangedSubscription> | undefined;
  /** Everything received, over every connection. */
  readonly received: MapChange[] = [];
  private seen = 0;

  constructor(private readonly server: TestServer) {}

  get lastCursor(): string | undefined {
    return this.received.at(-1)?.cursor;
  }

  async open(after?: string): Promise<void> {
    this.client = wsClient(this.server, undefined, { stayConnected: true });
    const variables: ResumeEventChangedSubscriptionVariables = { bounds: BOX, ...(after ? { after } : {}) };
    this.live = await subscribe(this.server, this.client, ResumeEventChangedDocument, variables);
    this.seen = 0;
    const pump = setInterval(() => this.collect(), 5);
    pump.unref();
    void this.live.finished.then(() => clearInterval(pump));
    this.stopPump = () => clearInterval(pump);
  }

  private stopPump = () => {};

  private collect() {
    const fresh = this.live?.received.slice(this.seen) ?? [];
    this.seen += fresh.length;
    for (const d of fresh) this.received.push(d.eventChanged);
  }

  /** Waits for a change matching `match` (received on any connection). */
  async next(match: (c: MapChange) => boolean, timeoutMs = 5_000): Promise<MapChange> {
    return eventually(
      () => {
        this.collect();
        if (this.live?.errors.length) throw new Error(JSON.stringify(this.live.errors));
        return this.received.find(match) ?? false;
      },
      { timeoutMs, intervalMs: 5, what: 'a matching change' },
    ) as Promise<MapChange>;
  }

  async close(): Promise<void> {
    this.collect();
    this.stopPump();
    this.live?.stop();
    await this.client?.dispose();
  }
}

/**
 * A certified host's public event in the viewport, renamed to `title` while a map screen
 * watched: the host, the event, and the change the screen saw (its cursor is what the screen,
 * back later, resumes after).
 */
async function watchedRename(server: TestServer, title: string) {
  const host = await createUser(server);
  await certify(server, host);
  const event = await createEvent(server, host, { isPublic: true, ...INSIDE, title: 'v1' });
  const screen = new MapScreen(server);
  await screen.open();
  await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title } });
  const seen = await screen.next((c) => c.event?.title === title);
  await screen.close();
  return { host, event, seen };
}

/**
 * What a change looks like in an assertion: what happened, to which event, and whether it is
 * shown. (The event itself is read at delivery, so a replayed change shows it as it is now.)
 */
const summary = (c: MapChange) => `${c.kind} ${c.eventId} v${c.version} ${c.event ? 'shown' : 'hidden'}`;

describe('resuming on one instance', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('resumes messageAdded after a Message.cursor, which also pages Chat.messages', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    await server.deps.prisma.friendship.create({ data: orderedPair(ana.id, ben.id) });
    const { openDirectChat } = await ana.gqlOk(OpenDirectChatDocument, { userId: ben.id });
    const chatId = openDirectChat.id;
    const send = (body: string) => ana.gqlOk(SendMessageDocument, { chatId, body });

    let client = wsClient(server, bearer(ben), { stayConnected: true });
    const first = await subscribe(server, client, ResumeMessageAddedDocument, { chatId });
    await send('one');
    const one = (await first.next((d) => d.messageAdded.body === 'one')).messageAdded;
    first.stop();
    await client.dispose();

    // Away: two messages in this chat, one in another of ben's chats.
    const cleo = await createUser(server);
    await server.deps.prisma.friendship.create({ data: orderedPair(cleo.id, ben.id) });
    const other = (await cleo.gqlOk(OpenDirectChatDocument, { userId: ben.id })).openDirectChat.id;
    await send('two');
    await cleo.gqlOk(SendMessageDocument, { chatId: other, body: 'elsewhere' });
    await send('three');

    client = wsClient(server, bearer(ben), { stayConnected: true });
    const back = await subscribe(server, client, ResumeMessageAddedDocument, { chatId, after: one.cursor });
    const all = await subscribe(server, client, ResumeMessageAddedDocument, { after: one.cursor });
    await back.next((d) => d.messageAdded.body === 'three');
    await send('four');
    await back.next((d) => d.messageAdded.body === 'four');
    await all.next((d) => d.messageAdded.body === 'four');
    expect(back.received.map((d) => d.messageAdded.body)).toEqual(['two', 'three', 'four']);
    expect(all.received.map((d) => d.messageAdded.body)).toEqual(['two', 'elsewhere', 'three', 'four']);
    expect(back.errors).toEqual([]);
    back.stop();
    all.stop();
    await client.dispose();

    // The same cursor is the message's edge cursor in the history, and pages from it.
    const { chat } = await ben.gqlOk(ChatHistoryCursorsDocument, { chatId, last: 10 });
    const edges = chat!.messages.edges;
    expect(edges.map((e) => e.node.cursor)).toEqual(edges.map((e) => e.cursor));
    expect(edges[0]!.cursor).toBe(one.cursor);
    const after = await ben.gqlOk(ChatHistoryCursorsDocument, { chatId, after: one.cursor });
    expect(after.chat!.messages.edges.map((e) => e.node.body)).toEqual(['two', 'three', 'four']);
  });

  it('reads a replayed page of messages in a few statements, not one per message', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    await server.deps.prisma.friendship.create({ data: orderedPair(ana.id, ben.id) });
    const chatId = (await ana.gqlOk(OpenDirectChatDocument, { userId: ben.id })).openDirectChat.id;
    await ana.gqlOk(SendMessageDocument, { chatId, body: 'seen' });
    const seen = (await ben.gqlOk(ChatHistoryCursorsDocument, { chatId, last: 1 })).chat!.messages.edges[0]!;
    // 25: what sendMessage's rate limit lets one sender send at once, more than enough to tell.
    for (let i = 0; i < 25; i++) await ana.gqlOk(SendMessageDocument, { chatId, body: `missed ${i}` });

    const reconnected = wsClient(server, bearer(ben), { stayConnected: true });
    let back: LiveSubscription<ResumeMessageAddedSubscription> | undefined;
    const statements = await countStatements(server, async () => {
      back = await subscribe(server, reconnected, ResumeMessageAddedDocument, { chatId, after: seen.cursor });
      await back.next((d) => d.messageAdded.body === 'missed 24');
    });
    expect(back!.received.map((d) => d.messageAdded.body)).toEqual(Array.from({ length: 25 }, (_, i) => `missed ${i}`));
    // The connection's session, membership, the cursor's message and position, one page of the
    // log, one read of its messages, the delivery marks (coalesced): 15 here, 57 when each
    // message was read alone.
    expect(statements).toBeLessThan(25);
    back!.stop();
    await reconnected.dispose();
  });

  it('resumes notificationAdded after a Notification.cursor, from the feed or from a live one', async () => {
    const ben = await createUser(server);
    const askers = await Promise.all(Array.from({ length: 4 }, () => createUser(server)));
    const ask = (asker: TestUser) => asker.gqlOk(SendFriendRequestDocument, { userId: ben.id });
    await ask(askers[0]!);
    const feed = await ben.gqlOk(NotificationCursorsDocument, { first: 5 });
    const newest = feed.notifications.edges[0]!;
    expect(newest.node.cursor).toBe(newest.cursor);

    // Offline: two more requests. Back, after the newest in the feed: exactly those two.
    await ask(askers[1]!);
    await ask(askers[2]!);
    const client = wsClient(server, bearer(ben), { stayConnected: true });
    const live = await subscribe(server, client, ResumeNotificationAddedDocument, { after: newest.node.cursor });
    await live.next((_d) => live.received.length >= 2);
    await ask(askers[3]!);
    await live.next((_d) => live.received.length >= 3);
    const ids = live.received.map((d) => d.notificationAdded.id);
    expect(new Set(ids).size).toBe(3);
    expect(ids).not.toContain(newest.node.id);
    expect(live.received.map((d) => d.notificationAdded.text)).toEqual(
      [askers[1]!, askers[2]!, askers[3]!].map((a) => expect.stringContaining(a.username) as unknown as string),
    );
    live.stop();
    await client.dispose();
  });

  it('replays to each subscriber with `after`, also when it sits in a fragment or a variable default', async () => {
    const { host, event, seen: mark } = await watchedRename(server, 'seen');
    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title: 'missed' } });

    // Identical documents and variables share a live group; a resumed one must not, or who
    // joins second misses the replay the first one got.
    const selection = 'cursor event { title }';
    const operations: Array<[string, Record<string, unknown>]> = [
      [
        `subscription($b: BoundsInput!, $a: String) { ...Live }
         fragment Live on Subscription { eventChanged(bounds: $b, after: $a) { ${selection} } }`,
        { b: BOX, a: mark.cursor },
      ],
      [
        `subscription($b: BoundsInput!, $a: String = "${mark.cursor}") { eventChanged(bounds: $b, after: $a) { ${selection} } }`,
        { b: BOX },
      ],
    ];
    for (const [text, variables] of operations) {
      const document = parse(text) as TypedDocumentNode<{ eventChanged: { event: { title: string } | null } }>;
      const clients = [wsClient(server), wsClient(server)];
      for (const client of clients) {
        const live = await subscribe(server, client, document, variables);
        await live.next((d) => d.eventChanged.event?.title === 'missed');
        expect(live.errors).toEqual([]);
      }
      for (const client of clients) await client.dispose();
    }
  });

  it('refuses a text that is not a cursor of the subscription with BAD_USER_INPUT on `after`', async () => {
    const ben = await createUser(server);
    const client = wsClient(server, bearer(ben));
    const messageCursor = Buffer.from('GPC:T:["S:00000000-0000-4000-8000-000000000000","N:1"]').toString('base64');
    const changeCursor = Buffer.from(JSON.stringify(['change', 1])).toString('base64url');
    const refused = [
      await wsRequest(client, ResumeEventChangedDocument, { bounds: BOX, after: 'nope' }),
      await wsRequest(client, ResumeEventChangedDocument, { bounds: BOX, after: messageCursor }),
      await wsRequest(client, ResumeMessageAddedDocument, { after: changeCursor }),
      await wsRequest(client, ResumeNotificationAddedDocument, { after: 'x'.repeat(10_000) }),
    ];
    for (const result of refused)
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    await client.dispose();
  });
});

describe('a replay to a client that reads, at the smallest output bound', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { WS_MAX_BUFFERED_KB: '16' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is not taken for a slow consumer while its frames are batched into one write', async () => {
    const [ana, ben] = [await createUser(server), await createUser(server)];
    await server.deps.prisma.friendship.create({ data: orderedPair(ana.id, ben.id) });
    const chatId = (await ana.gqlOk(OpenDirectChatDocument, { userId: ben.id })).openDirectChat.id;
    await ana.gqlOk(SendMessageDocument, { chatId, body: 'seen' });
    const seen = (await ben.gqlOk(ChatHistoryCursorsDocument, { chatId, last: 1 })).chat!.messages.edges[0]!;
    // 20 frames of ~3 KB: 60 KB in one turn, four times the bound on what may wait unread.
    const body = (i: number) => `${i} ${'x'.repeat(3_000)}`;
    for (let i = 0; i < 20; i++) await ana.gqlOk(SendMessageDocument, { chatId, body: body(i) });

    const client = wsClient(server, bearer(ben), { stayConnected: true });
    const back = await subscribe(server, client, ResumeMessageAddedDocument, { chatId, after: seen.cursor });
    await back.next((d) => d.messageAdded.body === body(19));
    expect(back.received.map((d) => d.messageAdded.body)).toEqual(Array.from({ length: 20 }, (_, i) => body(i)));
    expect(back.errors).toEqual([]);
    back.stop();
    await client.dispose();
  });
});

describe('cursors older than the history kept', () => {
  let server: TestServer;
  beforeAll(async () => {
    // The smallest history there is, trimmed often: a few hundred changes outlive a cursor.
    server = await startTestServer({ env: { CHANGE_LOG_MAX_CHANGES: '100', CHANGE_LOG_POLL_MS: '50' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers RESYNC_REQUIRED, while a recent cursor still resumes', async () => {
    const { host, event, seen: old } = await watchedRename(server, 'old');
    for (let i = 0; i < 110; i++) await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title: `t${i}` } });
    await eventually(async () => (await server.deps.changes.positionOf({ id: changeIdOf(old.cursor) })) === null, {
      timeoutMs: 10_000,
      what: 'the old change to be trimmed',
    });

    const client = wsClient(server);
    const expired = await wsRequest(client, ResumeEventChangedDocument, { bounds: BOX, after: old.cursor });
    expect(expired.errors?.[0]?.extensions).toMatchObject({ code: 'RESYNC_REQUIRED' });
    expect(expired.errors?.[0]?.message).toMatch(/query again/);
    await client.dispose();

    // A client that resyncs (queries, then subscribes without `after`) and one with a recent cursor go on.
    const recent = new MapScreen(server);
    await recent.open();
    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title: 'recent' } });
    const mark = await recent.next((c) => c.event?.title === 'recent');
    await recent.close();
    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title: 'missed' } });
    await recent.open(mark.cursor);
    await recent.next((c) => c.event?.title === 'missed');
    await recent.close();
  });
  it('ends live subscribers with RESYNC_REQUIRED when changes they missed were trimmed, then goes on', async () => {
    const host = await createUser(server);
    await certify(server, host);
    const event = await createEvent(server, host, { isPublic: true, ...INSIDE, title: 'v1' });
    const client = wsClient(server, undefined, { stayConnected: true });
    const live = await subscribe(server, client, ResumeEventChangedDocument, { bounds: BOX });
    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title: 'heard' } });
    await live.next((d) => d.eventChanged.event?.title === 'heard');

    // What an instance finds when it comes back from longer than the history kept without the
    // database: other instances relayed three changes, and they are trimmed already.
    await server.deps.prisma.$executeRaw`UPDATE change_log_state SET head = head + 3`;
    await live.finished;
    expect(live.errors).toEqual([[expect.objectContaining({ extensions: { code: 'RESYNC_REQUIRED' } })]]);

    // A screen that resyncs hears what comes next.
    const again = await subscribe(server, client, ResumeEventChangedDocument, { bounds: BOX });
    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title: 'after the resync' } });
    await again.next((d) => d.eventChanged.event?.title === 'after the resync');
    again.stop();
    await client.dispose();
  });

  it('answers RESYNC_REQUIRED for a position whose later history is gone, with no change kept at all', async () => {
    const host = await createUser(server);
    await certify(server, host);
    const event = await createEvent(server, host, { isPublic: true, ...INSIDE, title: 'v1' });
    const screen = new MapScreen(server);
    await screen.open();
    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title: 'marked' } });
    const mark = await screen.next((c) => c.event?.title === 'marked');
    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title: 'later' } });
    await screen.next((c) => c.event?.title === 'later');
    await screen.close();
    const position = (await server.deps.changes.positionOf({ id: changeIdOf(mark.cursor) }))!;

    // A quiet day trims by age everything there was, between the cursor's lookup and the replay.
    await server.deps.prisma.$executeRaw`DELETE FROM change_log`;
    const replay = server.deps.changes.subscribe(mapTopicsFor([INSIDE]), position);
    await expect(replay.next()).rejects.toMatchObject({ code: 'RESYNC_REQUIRED' });
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('resuming across two instances', () => {
  // B is the writer; its Redis link goes through a proxy the tests can cut.
  const instances = twoInstances({ CHANGE_LOG_POLL_MS: '200' }, { redisProxyForB: true });
  let host: TestUser;
  beforeAll(async () => {
    host = await createUser(instances.b());
    await certify(instances.b(), host);
  });

  it('replays exactly the visible changes missed while away, in order and once, then goes live', async () => {
    const [a, b] = [instances.a(), instances.b()];
    const as = (input: object, id: string) => host.gqlOk(UpdateEventDocument, { id, input });
    const screen = new MapScreen(a);
    await screen.open();
    const seen = await createEvent(b, host, { isPublic: true, ...INSIDE, title: 'Seen' });
    await screen.next((c) => c.eventId === seen.id);
    const away = screen.received.length;
    await screen.close();

    // Away: made on B while the screen (on A) is gone.
    const picnic = await createEvent(b, host, { isPublic: true, ...INSIDE, title: 'Picnic' });
    await as({ title: 'Picnic, renamed' }, picnic.id);
    await as({ ...OUTSIDE }, picnic.id); // moved out of the viewport: shown, so it can be dropped
    await as({ title: 'Still away' }, picnic.id); // outside before and after: not for this screen
    await createEvent(b, host, { isPublic: false, ...INSIDE, title: 'Private' }); // not visible
    await createEvent(b, host, { isPublic: true, ...OUTSIDE, title: 'Far' }); // not in bounds
    await as({ isPublic: false }, seen.id); // made private: told, with event null
    const rained = await createEvent(b, host, { isPublic: true, ...INSIDE, title: 'Rained off' });
    await host.gqlOk(CancelEventDocument, { id: rained.id });

    await screen.open(screen.lastCursor);
    await screen.next((c) => c.eventId === rained.id && c.kind === 'CANCELLED');
    const live = await createEvent(b, host, { isPublic: true, ...INSIDE, title: 'Live again' });
    await screen.next((c) => c.eventId === live.id);
    const fence = await createEvent(b, host, { isPublic: true, ...INSIDE, title: 'Fence' });
    await screen.next((c) => c.eventId === fence.id);
    await screen.close();

    expect(screen.received.slice(away).map(summary)).toEqual([
      `CREATED ${picnic.id} v1 shown`,
      `UPDATED ${picnic.id} v2 shown`,
      `UPDATED ${picnic.id} v3 shown`,
      `UPDATED ${seen.id} v2 hidden`,
      `CREATED ${rained.id} v1 shown`,
      `CANCELLED ${rained.id} v2 hidden`,
      `CREATED ${live.id} v1 shown`,
      `CREATED ${fence.id} v1 shown`,
    ]);
    expect(new Set(screen.received.map((c) => c.cursor)).size).toBe(screen.received.length);
  });

  it('gets exactly 40 concurrent changes through both instances once, resuming mid-burst', async () => {
    const [a, b] = [instances.a(), instances.b()];
    const screen = new MapScreen(a);
    await screen.open();
    const events = await Promise.all(
      Array.from({ length: 4 }, (_, i) => createEvent(b, host, { isPublic: true, ...INSIDE, title: `burst ${i}` })),
    );
    await screen.next(() => events.every((e) => screen.received.some((c) => c.eventId === e.id)));
    const start = screen.received.length;

    const burst = Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        gqlOk(
          i % 2 ? a : b,
          UpdateEventDocument,
          { id: events[i % 4]!.id, input: { title: `change ${i}` } },
          { token: host.accessToken },
        ),
      ),
    );
    // Mid-burst: the connection drops after some of the changes, and comes back with its cursor.
    await screen.next(() => screen.received.length - start >= 8, 10_000);
    await screen.close();
    await screen.open(screen.lastCursor);
    await burst;
    await screen
      .next(() => screen.received.slice(start).filter((c) => c.kind === 'UPDATED').length >= 40, 10_000)
      .catch((error: unknown) => {
        throw new Error(`received ${JSON.stringify(screen.received.slice(start).map(summary))}`, { cause: error });
      });
    const fence = await createEvent(b, host, { isPublic: true, ...INSIDE, title: 'after the burst' });
    await screen.next((c) => c.eventId === fence.id);
    await screen.close();

    const got = screen.received.slice(start, -1);
    // Each event changed ten times (versions 2 to 11): every version once, in order.
    for (const event of events)
      expect(got.filter((c) => c.eventId === event.id).map((c) => c.version)).toEqual(
        Array.from({ length: 10 }, (_, i) => i + 2),
      );
    expect(got).toHaveLength(40);
  });

  it('does not skip a change whose transaction started first and committed last', async () => {
    const [a, b] = [instances.a(), instances.b()];
    const [slow, fast] = [
      await createEvent(b, host, { isPublic: true, ...INSIDE, title: 'slow' }),
      await createEvent(b, host, { isPublic: true, ...INSIDE, title: 'fast' }),
    ];
    const screen = new MapScreen(a);
    await screen.open();

    // T1 records its change first (the smaller id) and commits last, as a slow transaction would.
    const [held, recorded] = [latch(), latch()];
    const t1 = b.deps.prisma.$transaction(
      async (tx) => {
        await renameInTransaction(tx, slow.id, 'slow, committed last', host.id);
        recorded.open();
        await held.opened;
      },
      { timeout: 15_000 },
    );
    await recorded.opened;
    // T2 starts after and commits first; the screen sees it, and leaves with its cursor.
    await host.gqlOk(UpdateEventDocument, { id: fast.id, input: { title: 'fast, committed first' } });
    const t2 = await screen.next((c) => c.event?.title === 'fast, committed first');
    await screen.close();
    held.open();
    await t1;
    b.deps.changes.committed();

    await screen.open(t2.cursor);
    const late = await screen.next((c) => c.event?.title === 'slow, committed last');
    await screen.close();
    // The trap was set: T1's change has the smaller id and the larger position.
    const [p1, p2] = [
      await a.deps.changes.positionOf({ id: changeIdOf(late.cursor) }),
      await a.deps.changes.positionOf({ id: changeIdOf(t2.cursor) }),
    ];
    expect(changeIdOf(late.cursor)).toBeLessThan(changeIdOf(t2.cursor));
    expect(p1!).toBeGreaterThan(p2!);
  });

  it('gives a change one position when both instances relay while another relay holds the lock', async () => {
    const [a, b] = [instances.a(), instances.b()];
    const event = await createEvent(b, host, { isPublic: true, ...INSIDE, title: 'before the race' });
    const screen = new MapScreen(a);
    await screen.open();
    const waitingRelays = async () => {
      const [row] = await a.deps.prisma.$queryRaw<Array<{ n: bigint }>>`
        SELECT count(*) AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%change_log_relay%'`;
      return Number(row!.n);
    };
    // A relay holds the lock. A change commits; both instances' relays start, and wait for it.
    const [held, locked] = [latch(), latch()];
    const first = b.deps.prisma.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT head FROM change_log_state FOR UPDATE`;
        locked.open();
        await held.opened;
        return tx.$queryRaw<Array<{ id: bigint; position: bigint }>>`SELECT id, position FROM change_log_relay(500)`;
      },
      { timeout: 15_000 },
    );
    await locked.opened;
    await b.deps.prisma.$transaction((tx) => renameInTransaction(tx, event.id, 'relayed once', host.id));
    a.deps.changes.committed();
    b.deps.changes.committed();
    await eventually(async () => (await waitingRelays()) >= 2, { what: 'both relays waiting for the lock' });
    // The first relay positions it and commits; the two that waited find nothing left to do.
    held.open();
    const [relayed] = await first;
    expect(relayed).toBeDefined();
    await eventually(async () => (await waitingRelays()) === 0, { what: 'the waiting relays done' });
    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title: 'fence' } });
    await screen.next((c) => c.event?.title === 'fence');
    await screen.close();

    expect(screen.received.filter((c) => changeIdOf(c.cursor) === Number(relayed!.id))).toHaveLength(1);
    expect(await a.deps.changes.positionOf({ id: Number(relayed!.id) })).toBe(Number(relayed!.position));
    // Positions stay gapless up to the head: nothing was given a second one.
    const [log] = await a.deps.prisma.$queryRaw<Array<{ head: bigint; positioned: bigint; low: bigint; top: bigint }>>`
      SELECT (SELECT head FROM change_log_state) AS head, count(position) AS positioned,
             min(position) AS low, max(position) AS top FROM change_log`;
    expect(Number(log!.top)).toBe(Number(log!.head));
    expect(Number(log!.positioned)).toBe(Number(log!.top) - Number(log!.low) + 1);
  });

  it('delivers a change whose instance could not publish it, or died before relaying it', async () => {
    const [a, b, redis] = [instances.a(), instances.b(), instances.redis()];
    const event = await createEvent(b, host, { isPublic: true, ...INSIDE, title: 'before the cut' });
    const screen = new MapScreen(a);
    await screen.open();
    redis.mode = 'blackhole';
    try {
      const started = Date.now();
      await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title: 'while B cannot publish' } });
      await screen.next((c) => c.event?.title === 'while B cannot publish', 5_000);
      console.info(`B's Redis cut: delivered on A ${Date.now() - started} ms after the mutation`);

      // Died at commit: the change is committed, nobody relayed or published it.
      const orphaned = Date.now();
      await b.deps.prisma.$transaction((tx) => renameInTransaction(tx, event.id, 'committed, never relayed', host.id));
      await screen.next((c) => c.event?.title === 'committed, never relayed', 5_000);
      console.info(`writer died at commit: delivered on A ${Date.now() - orphaned} ms after the commit`);
    } finally {
      redis.mode = 'up';
      await screen.close();
    }
  });
});
