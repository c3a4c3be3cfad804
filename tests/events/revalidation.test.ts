// Authorization re-checked where it can change (issue 15, item 6), on two instances of one
// deployment: nested paths to an event read it through the one visibility rule, chat streams
// follow membership per event and per subscriber (fan-out groups included), and the deletion of
// a private event reaches its attendees' live map.
import { describe, expect, it } from 'vitest';
import {
  ChatEventsDocument,
  DeleteEventDocument,
  EventChangedDocument,
  EventDocument,
  JoinEventDocument,
  LeaveEventDocument,
  MessageAddedDocument,
  NotificationsDocument,
  SendMessageDocument,
  SetTypingDocument,
  TypingDocument,
  UpdateEventDocument,
} from '../generated/graphql.ts';
import { createUser, subscribe, wsClient } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { BERLIN, certify, createEvent } from '../helpers/events.ts';
import { testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const bounds = { south: 52, west: 13, north: 53, east: 14 };

describe.runIf(testDatabaseUrl && testRedisUrl)('authorization re-checked where it can change', () => {
  const instances = twoInstances();

  /** A private event of `host` that each guest was invited to and joined (so is in its chat). */
  async function privateEventWith(a: TestServer, host: TestUser, guests: TestUser[]) {
    const event = await createEvent(a, host, { invitedUserIds: guests.map((g) => g.id), description: 'Park' });
    for (const guest of guests) await guest.gqlOk(JoinEventDocument, { id: event.id });
    const chat = await a.deps.prisma.chat.findUniqueOrThrow({ where: { eventId: event.id } });
    return { event, chatId: chat.id };
  }

  const socketOn = (b: TestServer, user: TestUser) =>
    wsClient(b, { authorization: `Bearer ${user.accessToken}` }, { stayConnected: true });

  it('reads a re-drafted event as null through chats and notifications, as event(id) does', async () => {
    const a = instances.a();
    const [host, ana] = [await createUser(a), await createUser(a)];
    const { event, chatId } = await privateEventWith(a, host, [ana]);
    const chatEvent = async (user: TestUser) =>
      (await user.gqlOk(ChatEventsDocument)).chats.edges.find((e) => e.node.id === chatId)?.node.event;
    expect(await chatEvent(ana)).toMatchObject({ id: event.id, description: 'Park' });

    await host.gqlOk(UpdateEventDocument, {
      id: event.id,
      input: { status: 'DRAFT', title: 'Secret plans', description: 'Not for the old guests' },
    });
    expect((await ana.gqlOk(EventDocument, { id: event.id })).event).toBeNull();
    // Still in the chat, but the event is no longer theirs to see.
    expect(await chatEvent(ana)).toBeNull();
    const invitation = (await ana.gqlOk(NotificationsDocument, {})).notifications.edges.find(
      (e) => e.node.kind === 'EVENT_INVITATION',
    );
    expect(invitation?.node.event).toBeNull();
    expect(await chatEvent(host)).toMatchObject({ title: 'Secret plans', status: 'DRAFT' });
  });

  it('ends typing and message streams of a member who leaves, at once, on another instance', async () => {
    const [a, b] = [instances.a(), instances.b()];
    const [host, ana, ben] = [await createUser(a), await createUser(a), await createUser(a)];
    const { event, chatId } = await privateEventWith(a, host, [ana, ben]);
    const benSocket = socketOn(b, ben);
    const anaSocket = socketOn(b, ana);
    try {
      const benTyping = await subscribe(b, benSocket, TypingDocument, { chatId });
      const benMessages = await subscribe(b, benSocket, MessageAddedDocument, { chatId });
      const anaTyping = await subscribe(b, anaSocket, TypingDocument, { chatId });
      await host.gqlOk(SetTypingDocument, { chatId, isTyping: true });
      await benTyping.next((d) => d.typing.isTyping && d.typing.user.id === host.id);

      await ben.gqlOk(LeaveEventDocument, { id: event.id });
      // The leave ends both streams (graphql-ws `complete`), before anything else happens.
      await Promise.all([benTyping.finished, benMessages.finished]);
      expect(benTyping.errors).toEqual([]);
      const seen = { typing: benTyping.received.length, messages: benMessages.received.length };

      await host.gqlOk(SetTypingDocument, { chatId, isTyping: false });
      await host.gqlOk(SendMessageDocument, { chatId, body: 'Where is everyone?' });
      // Ana, still a member, hears it: what Ben would have heard has been sent by now.
      await anaTyping.next((d) => !d.typing.isTyping && d.typing.user.id === host.id);
      expect({ typing: benTyping.received.length, messages: benMessages.received.length }).toEqual(seen);

      // Subscribing again after leaving is refused.
      const again = await subscribe(b, benSocket, TypingDocument, { chatId });
      expect(JSON.stringify(again.errors)).toContain('NOT_FOUND');
    } finally {
      await benSocket.dispose();
      await anaSocket.dispose();
    }
  });

  it('refuses a new subscriber whose membership ended, although an identical fan-out group runs', async () => {
    const [a, b] = [instances.a(), instances.b()];
    const [host, ana, ben] = [await createUser(a), await createUser(a), await createUser(a)];
    const { chatId } = await privateEventWith(a, host, [ana, ben]);
    const first = socketOn(b, ben);
    const second = socketOn(b, ben);
    const anaSocket = socketOn(b, ana);
    try {
      // Ben's first screen starts the group for (Typing, chatId, Ben).
      const running = await subscribe(b, first, TypingDocument, { chatId });
      const anaTyping = await subscribe(b, anaSocket, TypingDocument, { chatId });
      // Membership ends by a path that announces nothing (a row removed by an operator): only
      // the checks at subscribe time and at publish time stand in the way.
      await a.deps.prisma.chatMember.delete({ where: { chatId_userId: { chatId, userId: ben.id } } });

      const joiner = await subscribe(b, second, TypingDocument, { chatId });
      expect(JSON.stringify(joiner.errors)).toContain('NOT_FOUND');

      // The running group, subscribed while Ben was a member, hears nothing more either.
      await host.gqlOk(SetTypingDocument, { chatId, isTyping: true });
      await anaTyping.next((d) => d.typing.isTyping && d.typing.user.id === host.id);
      expect(running.received).toEqual([]);
      running.stop();
    } finally {
      await first.dispose();
      await second.dispose();
      await anaSocket.dispose();
    }
  });

  it("tells a re-drafted private event's guests, once, that they no longer see it", async () => {
    const [a, b] = [instances.a(), instances.b()];
    const [host, ana] = [await createUser(a), await createUser(a)];
    const { event } = await privateEventWith(a, host, [ana]);
    const anaSocket = socketOn(b, ana);
    try {
      const anaMap = await subscribe(b, anaSocket, EventChangedDocument, { bounds });
      await host.gqlOk(UpdateEventDocument, { id: event.id, input: { status: 'DRAFT' } });
      const redrafted = await anaMap.next((d) => d.eventChanged.eventId === event.id);
      expect(redrafted.eventChanged).toMatchObject({ kind: 'UPDATED', event: null });
    } finally {
      await anaSocket.dispose();
    }
  });

  it("reaches a private event's attendees on the live map as DELETED with event null, and nobody else", async () => {
    const [a, b] = [instances.a(), instances.b()];
    const [host, ana, stranger] = [await createUser(a), await createUser(a), await createUser(a)];
    await certify(a, host);
    const { event } = await privateEventWith(a, host, [ana]);
    const anaSocket = socketOn(b, ana);
    const strangerSocket = socketOn(b, stranger);
    try {
      const anaMap = await subscribe(b, anaSocket, EventChangedDocument, { bounds });
      const strangerMap = await subscribe(b, strangerSocket, EventChangedDocument, { bounds });
      await host.gqlOk(DeleteEventDocument, { id: event.id });
      // Ana, an attendee, may first hear her own joining (committed just before she subscribed).
      const deleted = await anaMap.next(
        (d) => d.eventChanged.eventId === event.id && d.eventChanged.kind === 'DELETED',
      );
      expect(deleted.eventChanged).toMatchObject({ kind: 'DELETED', event: null });
      expect(anaMap.received.at(-1)).toBe(deleted);

      // A public change after it: once the stranger hears that, the deletion would have come first.
      const later = await createEvent(a, host, { isPublic: true, ...BERLIN });
      await strangerMap.next((d) => d.eventChanged.eventId === later.id);
      expect(strangerMap.received.map((d) => d.eventChanged.eventId)).toEqual([later.id]);
      expect(anaMap.errors).toEqual([]);
    } finally {
      await anaSocket.dispose();
      await strangerSocket.dispose();
    }
  });
});
