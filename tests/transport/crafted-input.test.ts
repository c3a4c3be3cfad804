// A hostile tester's corpus: dates PostgreSQL or JavaScript cannot hold, forged and foreign
// cursors on every connection, and tokens of deleted accounts. Each case names the operation,
// its variables, and the code (and extensions.field) a client must get; none may be an
// INTERNAL_SERVER_ERROR. A case with code null must succeed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventChangedDocument } from '../generated/graphql.ts';
import { createUser, postQuery, subscribe } from '../helpers/client.ts';
import type { RawResult, TestUser } from '../helpers/client.ts';
import { BERLIN, certify, createEvent } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
/** Signed in, certified, hosts `eventId`, friends with `friend`, in `chatId` with them. */
let viewer: TestUser;
let friend: TestUser;
/** A valid access token whose user row is gone. */
let ghost: TestUser;
const f = {
  eventId: '',
  chatId: '',
  /** Real cursors of each kind of list, to be sent to the wrong one. */
  boundsCursor: '',
  nearCursor: '',
  userCursor: '',
  messageCursor: '',
};

const HOUR = 3600_000;
const soon = (hours = 1) => new Date(Date.now() + hours * HOUR).toISOString();
const b64 = (text: string) => Buffer.from(text).toString('base64');
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const UUID = '00000000-0000-4000-8000-000000000000';
const BOUNDS = { south: 52, north: 53, west: 13, east: 14 };

beforeAll(async () => {
  server = await startTestServer();
  [viewer, friend, ghost] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
  await certify(server, viewer);
  f.eventId = (await createEvent(server, viewer, { isPublic: true, status: 'PUBLISHED' })).id;
  const ok = async (query: string, variables: Record<string, unknown>, token = viewer.accessToken) => {
    const { body } = await postQuery(server, query, token, variables);
    if (body.errors?.length) throw new Error(JSON.stringify(body.errors));
    return body.data as Record<string, never>;
  };
  const request = await ok('mutation($u: ID!) { sendFriendRequest(userId: $u) { id } }', { u: friend.id });
  await ok(
    'mutation($r: ID!) { acceptFriendRequest(requestId: $r) { id } }',
    { r: (request.sendFriendRequest as { id: string }).id },
    friend.accessToken,
  );
  f.chatId = (
    (await ok('mutation($u: ID!) { openDirectChat(userId: $u) { id } }', { u: friend.id })).openDirectChat as {
      id: string;
    }
  ).id;
  await ok('mutation($c: ID!) { sendMessage(chatId: $c, body: "hi") { id } }', { c: f.chatId });
  const cursorOf = (data: unknown) => JSON.stringify(data).match(/"cursor":"([^"]+)"/)![1]!;
  f.boundsCursor = cursorOf(
    await ok('query($b: BoundsInput!) { eventsInBounds(bounds: $b, first: 1) { edges { cursor } } }', { b: BOUNDS }),
  );
  f.nearCursor = cursorOf(
    await ok(
      'query($la: Float!, $lo: Float!) { eventsNear(latitude: $la, longitude: $lo, radiusKm: 10, first: 1) { edges { cursor } } }',
      {
        la: BERLIN.latitude,
        lo: BERLIN.longitude,
      },
    ),
  );
  f.userCursor = cursorOf(
    await ok('query($q: String!) { searchUsers(query: $q, first: 1) { edges { cursor } } }', { q: friend.username }),
  );
  f.messageCursor = cursorOf(
    await ok('query($c: ID!) { chat(id: $c) { messages(last: 1) { edges { cursor } } } }', { c: f.chatId }),
  );
  // Deleted behind the token's back (an admin's action, or account deletion on another instance).
  await server.deps.prisma.user.delete({ where: { id: ghost.id } });
});
afterAll(async () => {
  await server?.close();
});

interface Case {
  name: string;
  query: string;
  /** Read when the case runs, after the fixtures exist. */
  variables?: () => Record<string, unknown>;
  as?: 'viewer' | 'ghost' | 'anonymous';
  /** The expected code, or null for success. */
  code: string | null;
  field?: string;
}

const CREATE_EVENT = 'mutation($input: CreateEventInput!) { createEvent(input: $input) { id startsAt } }';
const event = (startsAt: unknown, endsAt: unknown = soon(2)) => ({
  input: { title: 'Crafted', ...BERLIN, startsAt, endsAt },
});
const badStart = (name: string, startsAt: unknown): Case => ({
  name: `createEvent startsAt ${name}`,
  query: CREATE_EVENT,
  variables: () => event(startsAt),
  code: 'BAD_USER_INPUT',
  field: 'startsAt',
});
const IN_BOUNDS =
  'query($b: BoundsInput!, $filter: EventFilter, $after: String) { eventsInBounds(bounds: $b, filter: $filter, after: $after) { edges { cursor } } }';
const NEAR =
  'query($after: String, $filter: EventFilter) { eventsNear(latitude: 52.52, longitude: 13.4, radiusKm: 10, after: $after, filter: $filter) { edges { cursor } } }';
const MESSAGES =
  'query($c: ID!, $after: String, $before: String) { chat(id: $c) { messages(after: $after, before: $before) { edges { cursor } } } }';
const forged = (name: string, query: string, variables: () => Record<string, unknown>, field = 'after'): Case => ({
  name,
  query,
  variables,
  code: 'BAD_USER_INPUT',
  field,
});

const dateCases: Case[] = [
  badStart('year 0000', '0000-01-01T00:00:00Z'),
  badStart('extended year +275760', '+275760-09-13T00:00:00Z'),
  badStart('huge year', '999999-01-01T00:00:00Z'),
  badStart('before year 1000', '0999-12-31T23:59:59Z'),
  badStart('year 1000 in UTC+1 (0999 in UTC)', '1000-01-01T00:30:00+01:00'),
  badStart('leap second 23:59:60', '2026-12-31T23:59:60Z'),
  badStart('30 February', '2026-02-30T10:00:00Z'),
  badStart('without a time zone', '2026-05-01T18:00:00'),
  badStart('date only', '2026-05-01'),
  badStart('basic format', '20260501T180000Z'),
  badStart('empty', ''),
  badStart('a number', 1777658400000),
  badStart('hour 24', '2026-05-01T24:00:00Z'),
  badStart('offset +25:00', '2026-05-01T18:00:00+25:00'),
  {
    name: 'createEvent endsAt in year 10000',
    query: CREATE_EVENT,
    variables: () => event(soon(), '10000-01-01T00:00:00Z'),
    code: 'BAD_USER_INPUT',
    field: 'endsAt',
  },
  {
    name: 'createEvent with the date as a literal',
    query: `mutation { createEvent(input: { title: "Crafted", latitude: 52.5, longitude: 13.4, startsAt: "0000-01-01T00:00:00Z", endsAt: "${soon(2)}" }) { id } }`,
    code: 'BAD_USER_INPUT',
    field: 'startsAt',
  },
  {
    name: 'updateEvent endsAt on 30 February',
    query: 'mutation($id: ID!, $input: UpdateEventInput!) { updateEvent(id: $id, input: $input) { id } }',
    variables: () => ({ id: f.eventId, input: { endsAt: '2026-02-30T10:00:00Z' } }),
    code: 'BAD_USER_INPUT',
    field: 'endsAt',
  },
  {
    name: 'eventsInBounds filter.startsAfter year 0000',
    query: IN_BOUNDS,
    variables: () => ({ b: BOUNDS, filter: { startsAfter: '0000-01-01T00:00:00Z' } }),
    code: 'BAD_USER_INPUT',
    field: 'filter.startsAfter',
  },
  {
    name: 'eventsInBounds filter.startsBefore as a literal, year +275760',
    query: `query { eventsInBounds(bounds: { south: 52, north: 53, west: 13, east: 14 }, filter: { startsBefore: "+275760-09-13T00:00:00Z" }) { edges { cursor } } }`,
    code: 'BAD_USER_INPUT',
    field: 'filter.startsBefore',
  },
  {
    name: 'eventsNear filter.startsBefore with a leap second',
    query: NEAR,
    variables: () => ({ filter: { startsBefore: '2026-06-30T23:59:60Z' } }),
    code: 'BAD_USER_INPUT',
    field: 'filter.startsBefore',
  },
  {
    name: 'createEvent at the latest instant accepted (9999-12-31T23:59:59.999Z)',
    query: CREATE_EVENT,
    variables: () => event('9999-12-31T23:59:59Z', '9999-12-31T23:59:59.999Z'),
    code: null,
  },
  // Events cannot start in the past (a service rule), so the earliest instants go to a filter.
  {
    name: 'eventsInBounds filter.startsAfter at the earliest instant accepted (1000-01-01T00:00:00Z)',
    query: IN_BOUNDS,
    variables: () => ({ b: BOUNDS, filter: { startsAfter: '1000-01-01T00:00:00Z' } }),
    code: null,
  },
  {
    name: 'eventsInBounds filter.startsAfter before 1970, with an offset and nanoseconds',
    query: IN_BOUNDS,
    variables: () => ({ b: BOUNDS, filter: { startsAfter: '1969-07-20T21:17:40.123456789+01:00' } }),
    code: null,
  },
  {
    name: 'createEvent before 1970: a valid instant, but in the past',
    query: CREATE_EVENT,
    variables: () => event('1969-07-20T21:17:40.123456789+01:00', '1969-07-21T02:56:15Z'),
    code: 'BAD_USER_INPUT',
    field: 'startsAt',
  },
];

const cursorCases: Case[] = [
  forged('eventsInBounds cursor whose key is not a date', IN_BOUNDS, () => ({
    b: BOUNDS,
    after: b64url(['soon', UUID]),
  })),
  forged('eventsInBounds cursor whose key is year 0000', IN_BOUNDS, () => ({
    b: BOUNDS,
    after: b64url(['0000-01-01T00:00:00.000Z', UUID]),
  })),
  forged('eventsInBounds cursor whose id is not a UUID', IN_BOUNDS, () => ({
    b: BOUNDS,
    after: b64url(['2026-05-01T18:00:00.000Z', 'x']),
  })),
  forged('eventsInBounds cursor with three parts', IN_BOUNDS, () => ({
    b: BOUNDS,
    after: b64url(['2026-05-01T18:00:00.000Z', UUID, 1]),
  })),
  forged('eventsInBounds cursor that is not base64 JSON', IN_BOUNDS, () => ({ b: BOUNDS, after: '!!!' })),
  forged('eventsInBounds with an eventsNear cursor', IN_BOUNDS, () => ({ b: BOUNDS, after: f.nearCursor })),
  forged('eventsInBounds with a searchUsers cursor', IN_BOUNDS, () => ({ b: BOUNDS, after: f.userCursor })),
  forged('eventsNear cursor whose distance overflows to Infinity', NEAR, () => ({
    after: Buffer.from(`[1e400,"${UUID}"]`).toString('base64url'),
  })),
  forged('eventsNear cursor whose distance is a string', NEAR, () => ({ after: b64url(['1', UUID]) })),
  forged('eventsNear with an eventsInBounds cursor', NEAR, () => ({ after: f.boundsCursor })),
  forged('chat messages cursor N:9999999999', MESSAGES, () => ({
    c: f.chatId,
    after: b64(`GPC:T:["S:${f.chatId}","N:9999999999"]`),
  })),
  forged('chat messages cursor N:2147483648 (past int4)', MESSAGES, () => ({
    c: f.chatId,
    after: b64(`GPC:T:["S:${f.chatId}","N:2147483648"]`),
  })),
  forged(
    'chat messages cursor with one part',
    MESSAGES,
    () => ({ c: f.chatId, before: b64(`GPC:T:["S:${f.chatId}"]`) }),
    'before',
  ),
  forged(
    'chat messages cursor with three parts',
    MESSAGES,
    () => ({ c: f.chatId, before: b64(`GPC:T:["S:${f.chatId}","N:1","N:2"]`) }),
    'before',
  ),
  forged('chat messages cursor with its parts swapped', MESSAGES, () => ({
    c: f.chatId,
    after: b64(`GPC:T:["N:1","S:${f.chatId}"]`),
  })),
  forged('chat messages with a searchUsers cursor', MESSAGES, () => ({ c: f.chatId, after: f.userCursor })),
  forged('chat messages with an eventsInBounds cursor', MESSAGES, () => ({ c: f.chatId, after: f.boundsCursor })),
  forged(
    'notifications with a chat messages cursor',
    'query($after: String) { notifications(after: $after) { edges { cursor } } }',
    () => ({ after: f.messageCursor }),
  ),
  forged(
    'chats with an eventsNear cursor',
    'query($after: String) { chats(after: $after) { edges { cursor } } }',
    () => ({
      after: f.nearCursor,
    }),
  ),
  forged(
    'myEvents with a Pothos JSON cursor',
    'query($after: String) { myEvents(role: HOSTING, after: $after) { edges { cursor } } }',
    () => ({ after: b64('GPC:J:{}') }),
  ),
  forged(
    'searchUsers with a chat messages cursor',
    'query($after: String) { searchUsers(query: "a", after: $after) { edges { cursor } } }',
    () => ({ after: f.messageCursor }),
  ),
  forged(
    'event comments with a non-UUID cursor',
    'query($id: ID!, $after: String) { event(id: $id) { comments(after: $after) { edges { cursor } } } }',
    () => ({ id: f.eventId, after: b64('GPC:S:not-a-uuid') }),
  ),
  forged(
    'event attendees with a single-part cursor',
    'query($id: ID!, $after: String) { event(id: $id) { attendees(after: $after) { edges { cursor } } } }',
    () => ({ id: f.eventId, after: f.userCursor }),
  ),
  forged(
    'user friends with a chat messages cursor',
    'query($id: ID!, $after: String) { user(id: $id) { friends(after: $after) { edges { cursor } } } }',
    () => ({ id: friend.id, after: f.messageCursor }),
  ),
  forged(
    'user hostedEvents with a garbage cursor',
    'query($id: ID!, $before: String) { user(id: $id) { hostedEvents(before: $before) { edges { cursor } } } }',
    () => ({ id: viewer.id, before: 'x' }),
    'before',
  ),
  forged(
    'user ratingsReceived with an eventsNear cursor',
    'query($id: ID!, $after: String) { user(id: $id) { ratingsReceived(after: $after) { edges { cursor } } } }',
    () => ({ id: friend.id, after: f.nearCursor }),
  ),
];

const ghostly = (name: string, query: string, variables?: () => Record<string, unknown>): Case => ({
  name: `deleted user: ${name}`,
  query,
  variables,
  as: 'ghost',
  code: 'UNAUTHENTICATED',
});

const deletedUserCases: Case[] = [
  ghostly('me', '{ me { id } }'),
  ghostly('createEvent', CREATE_EVENT, () => event(soon())),
  ghostly('updateProfile', 'mutation { updateProfile(input: { bio: "still here?" }) { id } }'),
  ghostly('sendFriendRequest', 'mutation($u: ID!) { sendFriendRequest(userId: $u) { id } }', () => ({ u: friend.id })),
  ghostly(
    'registerDevice',
    'mutation { registerDevice(platform: ANDROID, token: "crafted-fcm-registration-token-0123456789") }',
  ),
  ghostly('addEventComment', 'mutation($e: ID!) { addEventComment(eventId: $e, body: "boo") { id } }', () => ({
    e: f.eventId,
  })),
  ghostly('joinEvent', 'mutation($e: ID!) { joinEvent(id: $e) { id } }', () => ({ e: f.eventId })),
  ghostly('likeEvent', 'mutation($e: ID!) { likeEvent(id: $e) { id } }', () => ({ e: f.eventId })),
  ghostly('shareEvent', 'mutation($e: ID!, $u: ID!) { shareEvent(id: $e, withUserIds: [$u]) { id } }', () => ({
    e: f.eventId,
    u: friend.id,
  })),
  ghostly(
    'changePassword',
    'mutation { changePassword(currentPassword: "correct horse battery", newPassword: "another horse battery") }',
  ),
];

const cases = [...dateCases, ...cursorCases, ...deletedUserCases];
const seen = new Map<string, RawResult>();

const tokenFor = (c: Case) =>
  c.as === 'anonymous' ? undefined : c.as === 'ghost' ? ghost.accessToken : viewer.accessToken;

describe('crafted input over HTTP', () => {
  it.each(cases)('$name → $code $field', async (c) => {
    const { body } = await postQuery(server, c.query, tokenFor(c), c.variables?.());
    seen.set(c.name, body);
    if (c.code === null) {
      expect(body.errors).toBeUndefined();
      return;
    }
    expect(body.errors?.[0]?.extensions, JSON.stringify(body.errors)).toMatchObject({
      code: c.code,
      ...(c.field !== undefined && { field: c.field }),
    });
  });

  it('answers no case with INTERNAL_SERVER_ERROR', () => {
    expect(seen.size).toBe(cases.length);
    const internal = [...seen].filter(([, body]) => JSON.stringify(body).includes('INTERNAL_SERVER_ERROR'));
    expect(internal.map(([name]) => name)).toEqual([]);
  });
});

describe('crafted input over graphql-ws', () => {
  it('refuses a live-map subscription whose filter date is out of range, naming the field', async () => {
    const client = viewer.ws();
    try {
      const live = await subscribe(server, client, EventChangedDocument, {
        bounds: BOUNDS,
        filter: { startsAfter: '0000-01-01T00:00:00Z' },
      });
      live.stop();
      expect(JSON.stringify(live.errors)).not.toContain('INTERNAL_SERVER_ERROR');
      // A refusal arrives as an `error` message (an array) or as a result with errors.
      const first = [live.errors].flat(2)[0] as NonNullable<RawResult['errors']>[number] | undefined;
      expect(first?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'filter.startsAfter',
      });
    } finally {
      await client.dispose();
    }
  });
});
