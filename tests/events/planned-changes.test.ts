// Planned live-map executions (src/schema/planned.ts, src/schema/events/plans.ts): each change an
// eventChanged group hears is executed from a plan, its event read with exactly the selected
// columns in one statement, instead of graphql-js walking the selection. What a subscriber
// receives must be what normal execution sends, byte for byte: every planned document is
// subscribed next to the same document plus one field the planner does not know (which makes
// graphql-js execute it), that field then taken out again. Signed in and anonymous, live and
// resumed with `after`, through changes that show, move, hide and delete the event.
import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_COLUMNS, HOST_COLUMNS } from '../../src/services/events/columns.ts';
import {
  CancelEventDocument,
  DeleteEventDocument,
  InviteToEventDocument,
  JoinEventDocument,
  LikeEventDocument,
  UpdateEventDocument,
} from '../generated/graphql.ts';
import { createUser, gqlOk, subscribe, wsClient } from '../helpers/client.ts';
import type { LiveSubscription, TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { jpeg, uploadOk } from '../helpers/images.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const BOX = { south: 52.4, west: 13.3, north: 52.6, east: 13.5 };
const INSIDE = { latitude: 52.5, longitude: 13.4 };
const OUTSIDE = { latitude: 48.14, longitude: 11.58 };

/** Every field the planner answers on an event and its host, aliases and __typename included. */
const HOST_FIELDS = [...HOST_COLUMNS.filter((c) => c !== 'avatarKey'), 'avatarUrl', 'handle: username', '__typename'];
const EVENT_FIELDS = [...EVENT_COLUMNS, 'when: startsAt', '__typename', `host { ${HOST_FIELDS.join(' ')} }`];

/** A field the planner leaves to graphql-js (arguments below the root). */
const UNPLANNED = 'attendees(first: 1) { edges { cursor } }';

/** The map subscription with every planned field, and `extra` in its event's selection. */
const mapChanges = (extra = '') => `
  subscription Map($bounds: BoundsInput!, $after: String) {
    eventChanged(bounds: $bounds, after: $after) {
      __typename kind eventId version occurredAt cursor at: occurredAt
      event { ${EVENT_FIELDS.join(' ')} ...HostAgain ${extra} }
    }
  }
  fragment HostAgain on Event { host { id fullName } }`;

interface Change {
  eventChanged: {
    kind: string;
    eventId: string;
    version: number;
    cursor: string;
    event: Record<string, unknown> | null;
  };
}

const document = (text: string) => parse(text) as TypedDocumentNode<Change, { bounds: typeof BOX; after?: string }>;

/** What a subscriber received, as JSON text (key order counts), the unplanned field taken out. */
const received = (subscription: LiveSubscription<Change>) =>
  JSON.stringify(
    subscription.received.map((payload) => {
      const copy = structuredClone(payload);
      delete copy.eventChanged.event?.attendees;
      return copy;
    }),
  );

describe('planned live-map executions', () => {
  let server: TestServer;
  let host: TestUser;
  let viewer: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [host, viewer] = await Promise.all([createUser(server, { fullName: 'Ada Host' }), createUser(server)]);
    await certify(server, host);
    await uploadOk(server, { data: await jpeg(64, 64) }, { token: host.accessToken, isPrimary: true });
  });

  afterAll(async () => {
    await server?.close();
  });

  /** Planned and executed subscriptions for the anonymous map and a signed-in viewer. */
  async function subscribers(after?: string) {
    const anonymous = wsClient(server);
    const signedIn = viewer.ws();
    const open = (client: typeof anonymous, extra: string) =>
      subscribe(server, client, document(mapChanges(extra)), { bounds: BOX, ...(after ? { after } : {}) });
    const subscriptions = {
      anonymous: { planned: await open(anonymous, ''), executed: await open(anonymous, UNPLANNED) },
      signedIn: { planned: await open(signedIn, ''), executed: await open(signedIn, UNPLANNED) },
    };
    const close = async () => {
      for (const pair of Object.values(subscriptions)) for (const s of Object.values(pair)) s.stop();
      await Promise.all([anonymous.dispose(), signedIn.dispose()]);
    };
    return { subscriptions, close };
  }

  /**
   * Shows, changes, hides, moves and deletes events: every way a change reaches the map. Returns
   * the last event's id. `settle` runs after each change, before the next one.
   */
  async function changes(settle: () => Promise<void>): Promise<string> {
    const as = { token: host.accessToken };
    const step = async <T>(change: Promise<T>): Promise<T> => {
      const result = await change;
      await settle();
      return result;
    };
    const event = await step(
      createEvent(server, host, { isPublic: true, ...INSIDE, title: 'Planned picnic', interestTags: ['go'] }),
    );
    await step(gqlOk(server, JoinEventDocument, { id: event.id }, { token: viewer.accessToken }));
    await step(gqlOk(server, LikeEventDocument, { id: event.id }, { token: viewer.accessToken }));
    await step(gqlOk(server, UpdateEventDocument, { id: event.id, input: { title: 'Planned picnic, renamed' } }, as));
    await step(gqlOk(server, UpdateEventDocument, { id: event.id, input: { ...OUTSIDE } }, as));
    await step(gqlOk(server, UpdateEventDocument, { id: event.id, input: { ...INSIDE } }, as));
    await step(gqlOk(server, UpdateEventDocument, { id: event.id, input: { isPublic: false } }, as));
    const secret = await step(createEvent(server, host, { isPublic: false, ...INSIDE, title: 'Planned dinner' }));
    await step(gqlOk(server, InviteToEventDocument, { eventId: secret.id, userIds: [viewer.id] }, as));
    await step(gqlOk(server, CancelEventDocument, { id: secret.id }, as));
    const doomed = await step(createEvent(server, host, { isPublic: true, ...INSIDE, title: 'Planned, short-lived' }));
    await gqlOk(server, DeleteEventDocument, { id: doomed.id }, as);
    return doomed.id;
  }

  /**
   * Waits until every live subscription has sent the frames of all changes made so far: each
   * subscription reads a change's event when the change arrives, so a planned and an executed
   * subscription compare equal only if no later change commits between their two reads. A public
   * beacon event is renamed and every subscription waits for that rename, which comes after
   * every earlier change in the log's order.
   */
  function settled(all: LiveSubscription<Change>[], beacon: string) {
    let round = 0;
    return async () => {
      const title = `Planned beacon ${++round}`;
      await gqlOk(server, UpdateEventDocument, { id: beacon, input: { title } }, { token: host.accessToken });
      for (const s of all)
        await s.next((d) => d.eventChanged.eventId === beacon && d.eventChanged.event?.title === title);
    };
  }

  const deleted = (id: string) => (d: Change) => d.eventChanged.eventId === id && d.eventChanged.kind === 'DELETED';

  it('sends what normal execution sends, live and resumed, signed in and anonymous', async () => {
    const beacon = await createEvent(server, host, { isPublic: true, ...INSIDE, title: 'Planned beacon' });
    const live = await subscribers();
    let first: string;
    let last: string;
    try {
      const all = Object.values(live.subscriptions).flatMap((pair) => [pair.planned, pair.executed]);
      last = await changes(settled(all, beacon.id));
      for (const pair of Object.values(live.subscriptions)) {
        await pair.planned.next(deleted(last));
        await pair.executed.next(deleted(last));
      }
      const { anonymous, signedIn } = live.subscriptions;
      expect(received(anonymous.planned)).toBe(received(anonymous.executed));
      expect(received(signedIn.planned)).toBe(received(signedIn.executed));
      // The scenario showed what it is meant to: the viewer's part, the avatar, hidden events.
      const seen = signedIn.planned.received.map((d) => d.eventChanged);
      expect(seen.some((c) => c.event?.viewerIsAttending === true && c.event.viewerHasLiked === true)).toBe(true);
      expect(seen.some((c) => c.event?.title === 'Planned dinner' && c.event.viewerIsInvited === true)).toBe(true);
      expect(seen.some((c) => String((c.event?.host as { avatarUrl?: string })?.avatarUrl).startsWith('http'))).toBe(
        true,
      );
      const anonymousSaw = anonymous.planned.received.map((d) => d.eventChanged);
      expect(anonymousSaw.some((c) => c.kind === 'UPDATED' && c.event === null)).toBe(true);
      expect(anonymousSaw.some((c) => c.event?.title === 'Planned dinner')).toBe(false);
      first = seen[0]!.cursor;
    } finally {
      await live.close();
    }

    // Resumed after the first change: the same replay (read along the log's page, the events
    // as they are now), planned or not.
    const resumed = await subscribers(first);
    try {
      for (const pair of Object.values(resumed.subscriptions)) {
        for (const subscription of Object.values(pair)) await subscription.next(deleted(last));
        expect(received(pair.planned)).toBe(received(pair.executed));
        expect(pair.planned.received.length).toBeGreaterThan(1);
      }
      // Decided for the subscriber now, not shared with those who heard it live: the picnic
      // is private now, so the anonymous replay shows none of its changes' events.
      const replayed = resumed.subscriptions.anonymous.planned.received.map((d) => d.eventChanged);
      expect(replayed.some((c) => String(c.event?.title).startsWith('Planned picnic'))).toBe(false);
      expect(replayed.filter((c) => c.event === null).length).toBeGreaterThan(2);
    } finally {
      await resumed.close();
    }
  });

  it('reads a change’s event in one statement of exactly its columns; executes what it does not plan', async () => {
    const statements: string[] = [];
    const stop = server.deps.db.onStatement((text) => statements.push(text));
    const client = viewer.ws();
    try {
      const event = await createEvent(server, host, { isPublic: true, ...INSIDE, title: 'Planned count' });
      const count = async (extra: string, version: number) => {
        const map = await subscribe(server, client, document(mapChanges(extra)), { bounds: BOX });
        statements.length = 0;
        await gqlOk(
          server,
          UpdateEventDocument,
          { id: event.id, input: { title: `v${version}` } },
          { token: host.accessToken },
        );
        await map.next((d) => d.eventChanged.version === version);
        map.stop();
        return statements.filter((s) => s.includes('"event.title"')).length;
      };
      expect(await count('', 2)).toBe(1);
      expect(await count(UNPLANNED, 3)).toBe(0);
    } finally {
      stop();
      await client.dispose();
    }
  });

  it('leaves documents with directives to normal execution, with the same payloads', async () => {
    const client = wsClient(server);
    try {
      const withDirective = mapChanges().replace('kind eventId', 'kind @include(if: true) eventId');
      const plain = await subscribe(server, client, document(mapChanges()), { bounds: BOX });
      const directed = await subscribe(server, client, document(withDirective), { bounds: BOX });
      const event = await createEvent(server, host, { isPublic: true, ...INSIDE, title: 'Planned directive' });
      const about = (d: Change) => d.eventChanged.eventId === event.id;
      await plain.next(about);
      await directed.next(about);
      expect(JSON.stringify(directed.received)).toBe(JSON.stringify(plain.received));
    } finally {
      await client.dispose();
    }
  });
});
