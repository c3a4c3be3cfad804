// Subscription fan-out over graphql-ws: subscribers with the same document, variables and
// viewer share one execution per event and receive the same payload; map screens on different
// viewports share too, since what they receive does not depend on the viewport; whatever
// differs by viewer is never shared. Executions are counted twice over: by the server's own
// counter on /metrics (its metrics listener), and independently by the SQL statements the deliveries cost.
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventChangedDocument,
  JoinEventDocument,
  MapChangesDocument,
  MyEventsChangedDocument,
  UpdateEventDocument,
} from '../generated/graphql.ts';
import type { MapChangesSubscription } from '../generated/graphql.ts';
import { codes, createUser, metric, subscribe, wsClient } from '../helpers/client.ts';
import type { LiveSubscription, TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const VIEWPORT = { south: 52.4, west: 13.3, north: 52.6, east: 13.5 };
/** The same viewport, its keys in another order: still the same variables. */
const VIEWPORT_REORDERED = { east: 13.5, north: 52.6, west: 13.3, south: 52.4 };
const WIDER = { south: 52.0, west: 13.0, north: 53.0, east: 14.0 };
const INSIDE = { latitude: 52.5, longitude: 13.4 };

interface Subscriber {
  token?: string;
  bounds: typeof VIEWPORT | typeof VIEWPORT_REORDERED;
}

describe('subscription fan-out', () => {
  let server: TestServer;
  let host: TestUser;
  /** Attends the event: their own viewerIsAttending is true, everyone else's false. */
  let guest: TestUser;
  let eventId: string;
  let title = 0;
  const clients: Client[] = [];

  beforeAll(async () => {
    // The push worker's polls would land in the statement counts at random.
    server = await startTestServer({ env: { PUSH_POLL_MS: '60000' } });
    host = await createUser(server);
    await certify(server, host);
    eventId = (await createEvent(server, host, { isPublic: true, ...INSIDE, title: 'Open-air study' })).id;
    guest = await createUser(server);
    await guest.gqlOk(JoinEventDocument, { id: eventId });
    // Keeps the guest online throughout, so connections coming and going between rounds cause
    // no presence writes that would blur the statement counts.
    clients.push(guest.ws({ stayConnected: true }));
    await eventually(async () => (await metric(server, 'pinit_ws_connections')) === 1);
  });
  afterAll(async () => {
    await Promise.all(clients.map(async (c) => c.dispose()));
    await server?.stop();
  });

  /**
   * Each subscriber on a connection of its own; the map screen's document unless told. Resolves
   * once a first change has reached every one of them, so all are surely live.
   */
  async function open(
    subscribers: Subscriber[],
    document: typeof MapChangesDocument | typeof EventChangedDocument = MapChangesDocument,
  ) {
    const subs = await Promise.all(
      subscribers.map((s) => {
        const client = wsClient(server, s.token ? { authorization: `Bearer ${s.token}` } : undefined);
        clients.push(client);
        return subscribe(server, client, document as typeof MapChangesDocument, { bounds: s.bounds });
      }),
    );
    await updateAndDeliver(subs);
    return subs;
  }

  /** One update of the event; resolves when every subscriber has its change. */
  async function updateAndDeliver(subs: Array<LiveSubscription<MapChangesSubscription>>) {
    const before = {
      statements: server.deps.db.statements.count,
      executions: await metric(server, 'pinit_subscription_executions_total'),
      deliveries: await metric(server, 'pinit_subscription_deliveries_total'),
    };
    const { updateEvent } = await host.gqlOk(UpdateEventDocument, {
      id: eventId,
      input: { title: `Open-air study ${++title}` },
    });
    const payloads = await Promise.all(subs.map((s) => s.next((d) => d.eventChanged.version === updateEvent.version)));
    return {
      payloads: payloads.map((p) => p.eventChanged),
      statements: server.deps.db.statements.count - before.statements,
      executions: (await metric(server, 'pinit_subscription_executions_total')) - before.executions,
      deliveries: (await metric(server, 'pinit_subscription_deliveries_total')) - before.deliveries,
    };
  }

  const groupsOpen = () => metric(server, 'pinit_subscription_groups');

  /** Stops the subscriptions and waits until their groups and connections are gone. */
  async function close(subs: Array<LiveSubscription<MapChangesSubscription>>, groupsLeft = 0) {
    for (const s of subs) s.stop();
    await eventually(async () => (await groupsOpen()) === groupsLeft);
    await eventually(async () => (await metric(server, 'pinit_ws_connections')) === 1 + groupsLeft);
    await eventually(async () => (await metric(server, 'pinit_ws_subscriptions')) === groupsLeft);
  }

  it('executes once per viewer and selection, and sends every member the same result', async () => {
    // Three groups: anonymous on the viewport, the guest on the viewport, anonymous on a wider
    // one. The two anonymous groups receive the same result: one execution serves both.
    const one = await open([{ bounds: VIEWPORT }, { token: guest.accessToken, bounds: VIEWPORT }, { bounds: WIDER }]);
    const single = await updateAndDeliver(one);
    expect(single).toMatchObject({ executions: 2, deliveries: 3 });
    await close(one);

    // The same three groups, 28 subscribers: 20 anonymous (half with the keys in another
    // order), the guest on three connections, 5 anonymous on the wider viewport.
    const many = await open([
      ...Array.from({ length: 20 }, (_, i) => ({ bounds: i % 2 ? VIEWPORT : VIEWPORT_REORDERED })),
      ...Array.from({ length: 3 }, () => ({ token: guest.accessToken, bounds: VIEWPORT })),
      ...Array.from({ length: 5 }, () => ({ bounds: WIDER })),
    ]);
    expect(await groupsOpen()).toBe(3);
    const fanned = await updateAndDeliver(many);
    expect(fanned).toMatchObject({ executions: 2, deliveries: 28 });
    // The deliveries cost exactly as much SQL as they did for one subscriber per group.
    expect(fanned.statements).toBe(single.statements);

    const anonymous = fanned.payloads.slice(0, 20);
    const guests = fanned.payloads.slice(20, 23);
    for (const p of anonymous) expect(p).toEqual(anonymous[0]);
    for (const p of guests) expect(p).toEqual(guests[0]);
    // Per-viewer fields are the viewer's own: never served from another viewer's group.
    expect(anonymous[0]!.event).toMatchObject({ viewerIsAttending: false, host: { id: host.id } });
    expect(guests[0]!.event).toMatchObject({ viewerIsAttending: true, host: { id: host.id } });
    await close(many);
  });

  it('keeps a group while any member remains, and stops executing once the last one leaves', async () => {
    const [a, b, c] = await open([{ bounds: VIEWPORT }, { bounds: VIEWPORT }, { bounds: VIEWPORT }]);
    a!.stop();
    b!.stop();
    const receivedBeforeLeaving = a!.received.length + b!.received.length;
    // Another document: a group of its own, never sharing results with the map screens.
    const [sentinel] = await open([{ bounds: WIDER }], EventChangedDocument);
    expect(await updateAndDeliver([c!, sentinel!])).toMatchObject({ executions: 2, deliveries: 2 });

    await close([c!], 1);
    // Only the sentinel's group executes; a group nobody is in costs nothing.
    expect(await updateAndDeliver([sentinel!])).toMatchObject({ executions: 1, deliveries: 1 });
    expect(a!.received.length + b!.received.length).toBe(receivedBeforeLeaving);
    await close([sentinel!]);
  });

  it('answers a refused subscription to everyone who asked, and keeps no group for it', async () => {
    const refused = await Promise.all(
      Array.from({ length: 5 }, () => {
        const client = wsClient(server);
        clients.push(client);
        return subscribe(server, client, MyEventsChangedDocument);
      }),
    );
    for (const s of refused) expect(codes({ errors: s.errors as never })).toEqual(['UNAUTHENTICATED']);
    expect(await groupsOpen()).toBe(0);

    // Bad arguments are refused per subscriber too (here: a viewport with south > north).
    const client = wsClient(server);
    clients.push(client);
    const bad = await subscribe(server, client, EventChangedDocument, { bounds: { ...VIEWPORT, south: 53 } });
    expect(codes({ errors: bad.errors as never })).toEqual(['BAD_USER_INPUT']);
    expect(await groupsOpen()).toBe(0);
  });
});
