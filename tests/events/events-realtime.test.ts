// Live event changes over graphql-ws: the map subscription's bounds, filter and visibility,
// myEventsChanged, and delivery across two API instances sharing PostgreSQL and Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelEventDocument,
  DeleteEventDocument,
  EventChangedDocument,
  InviteToEventDocument,
  JoinEventDocument,
  MyEventsChangedDocument,
  UpdateEventDocument,
} from '../generated/graphql.ts';
import type { EventChangedSubscription } from '../generated/graphql.ts';
import { createUser, gqlOk, subscribe, wsClient } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { startTestServer, testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const BOX = { south: 52.4, west: 13.3, north: 52.6, east: 13.5 };
const INSIDE = { latitude: 52.5, longitude: 13.4 };
const OUTSIDE = { latitude: 48.14, longitude: 11.58 };

const change = (d: EventChangedSubscription) => d.eventChanged;

/**
 * The map scenario: `writer` makes changes (possibly on another instance than `reader`, the one
 * the subscriber is connected to).
 */
async function mapScenario(writer: TestServer, reader: TestServer) {
  const host = await createUser(writer);
  await certify(writer, host);
  const client = wsClient(reader);
  const map = await subscribe(reader, client, EventChangedDocument, { bounds: BOX });
  const about = (id: string) => (d: EventChangedSubscription) => change(d).eventId === id;
  try {
    const outside = await createEvent(writer, host, { isPublic: true, ...OUTSIDE, title: 'Far away' });
    const hidden = await createEvent(writer, host, { isPublic: false, ...INSIDE, title: 'Private' });

    const event = await createEvent(writer, host, { isPublic: true, ...INSIDE, title: 'Picnic' });
    const created = change(await map.next(about(event.id)));
    expect(created).toMatchObject({ kind: 'CREATED', version: 1, event: { id: event.id, title: 'Picnic' } });

    await gqlOk(writer, UpdateEventDocument, { id: event.id, input: { ...OUTSIDE } }, { token: host.accessToken });
    const movedOut = change(await map.next((d) => about(event.id)(d) && change(d).version === 2));
    expect(movedOut).toMatchObject({ kind: 'UPDATED', event: { latitude: OUTSIDE.latitude } });

    await gqlOk(
      writer,
      UpdateEventDocument,
      { id: event.id, input: { ...INSIDE, title: 'Picnic, back' } },
      { token: host.accessToken },
    );
    const movedIn = change(await map.next((d) => about(event.id)(d) && change(d).version === 3));
    expect(movedIn).toMatchObject({ kind: 'UPDATED', event: { title: 'Picnic, back', latitude: INSIDE.latitude } });

    // Made private: the anonymous map can no longer see it, and is told so.
    await gqlOk(writer, UpdateEventDocument, { id: event.id, input: { isPublic: false } }, { token: host.accessToken });
    const hiddenNow = change(await map.next((d) => about(event.id)(d) && change(d).version === 4));
    expect(hiddenNow).toMatchObject({ kind: 'UPDATED', event: null });

    const cancelled = await createEvent(writer, host, { isPublic: true, ...INSIDE, title: 'Rained off' });
    await gqlOk(writer, CancelEventDocument, { id: cancelled.id }, { token: host.accessToken });
    const cancel = change(await map.next((d) => about(cancelled.id)(d) && change(d).kind === 'CANCELLED'));
    expect(cancel).toMatchObject({ version: 2, event: null });

    const doomed = await createEvent(writer, host, { isPublic: true, ...INSIDE, title: 'Short-lived' });
    await gqlOk(writer, DeleteEventDocument, { id: doomed.id }, { token: host.accessToken });
    const deleted = change(await map.next((d) => about(doomed.id)(d) && change(d).kind === 'DELETED'));
    expect(deleted.event).toBeNull();

    // Nothing about events outside the viewport or invisible to this subscriber, and after
    // the private change nothing more about the now-private event.
    const ids = map.received.map((d) => change(d).eventId);
    expect(ids).not.toContain(outside.id);
    expect(ids).not.toContain(hidden.id);
    expect(map.errors).toEqual([]);
    return { host, event };
  } finally {
    map.stop();
    await client.dispose();
  }
}

describe('eventChanged on one instance', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('follows creation, moves in and out of bounds, going private, cancellation and deletion', async () => {
    await mapScenario(server, server);
  });

  it('shows private events to members and crosses the antimeridian', async () => {
    const host = await createUser(server);
    const member = await createUser(server);
    const client = member.ws();
    const map = await subscribe(server, client, EventChangedDocument, {
      bounds: { south: -10, west: 170, north: 10, east: -170 },
    });
    try {
      const privateEvent = await createEvent(server, host, {
        latitude: 0,
        longitude: -175,
        invitedUserIds: [member.id],
        title: 'Dateline',
      });
      const seen = change(await map.next((d) => change(d).eventId === privateEvent.id));
      expect(seen).toMatchObject({ kind: 'CREATED', event: { id: privateEvent.id, isPublic: false } });
    } finally {
      map.stop();
      await client.dispose();
    }
  });

  it('applies the filter before delivering', async () => {
    const host = await createUser(server);
    await certify(server, host);
    const client = wsClient(server);
    const map = await subscribe(server, client, EventChangedDocument, {
      bounds: BOX,
      filter: { types: ['PARTY'], interestTags: [' Jazz'] },
    });
    try {
      const study = await createEvent(server, host, {
        isPublic: true,
        ...INSIDE,
        type: 'STUDY',
        interestTags: ['jazz'],
      });
      const party = await createEvent(server, host, {
        isPublic: true,
        ...INSIDE,
        type: 'PARTY',
        interestTags: ['jazz'],
      });
      await map.next((d) => change(d).eventId === party.id);
      expect(map.received.map((d) => change(d).eventId)).not.toContain(study.id);
    } finally {
      map.stop();
      await client.dispose();
    }
  });

  it('refuses myEventsChanged without a signed-in connection, and reports member changes with one', async () => {
    const anonymous = wsClient(server);
    // subscribe() returns once the server established or refused the subscription.
    const refused = (await subscribe(server, anonymous, MyEventsChangedDocument, {})).errors;
    expect(JSON.stringify(refused)).toContain('UNAUTHENTICATED');
    await anonymous.dispose();

    const host = await createUser(server);
    const guest = await createUser(server);
    const client = guest.ws();
    const mine = await subscribe(server, client, MyEventsChangedDocument, {});
    try {
      const event = await createEvent(server, host, { title: 'Members only' });
      await host.gqlOk(InviteToEventDocument, { eventId: event.id, userIds: [guest.id] });
      const invited = (await mine.next((d) => d.myEventsChanged.eventId === event.id)).myEventsChanged;
      expect(invited).toMatchObject({ kind: 'UPDATED', version: 2, event: { title: 'Members only' } });
      await guest.gqlOk(JoinEventDocument, { id: event.id });
      await mine.next((d) => d.myEventsChanged.kind === 'ATTENDEES_CHANGED' && d.myEventsChanged.eventId === event.id);
      expect(mine.errors).toEqual([]);
    } finally {
      mine.stop();
      await client.dispose();
    }
  });

  it('resolves every subscriber’s change from fresh data, never rows cached by an earlier change', async () => {
    const host = await createUser(server);
    await certify(server, host);
    const client = wsClient(server);
    const map = await subscribe(server, client, EventChangedDocument, { bounds: BOX });
    try {
      const event = await createEvent(server, host, { isPublic: true, ...INSIDE, title: 'v1' });
      for (const title of ['v2', 'v3', 'v4']) {
        await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title } });
      }
      const last = change(await map.next((d) => change(d).eventId === event.id && change(d).version === 4));
      expect(last.event).toMatchObject({ title: 'v4', version: 4 });
      const titles = map.received.filter((d) => change(d).eventId === event.id).map((d) => change(d).event?.title);
      expect(titles).toEqual(['v1', 'v2', 'v3', 'v4']);
    } finally {
      map.stop();
      await client.dispose();
    }
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('eventChanged across two instances (PostgreSQL + Redis)', () => {
  const instances = twoInstances();

  it('delivers changes made on instance A to a map subscriber on instance B', async () => {
    const [a, b] = [instances.a(), instances.b()];
    await mapScenario(a, b);
  });

  it('delivers member changes made on A to myEventsChanged on B', async () => {
    const [a, b] = [instances.a(), instances.b()];
    const host: TestUser = await createUser(a);
    const guest: TestUser = await createUser(a);
    const client = wsClient(b, { authorization: `Bearer ${guest.accessToken}` });
    const mine = await subscribe(b, client, MyEventsChangedDocument, {});
    try {
      const event = await createEvent(a, host, { invitedUserIds: [guest.id], title: 'Across instances' });
      const created = (await mine.next((d) => d.myEventsChanged.eventId === event.id)).myEventsChanged;
      expect(created).toMatchObject({ kind: 'CREATED', event: { title: 'Across instances' } });
    } finally {
      mine.stop();
      await client.dispose();
    }
  });
});
