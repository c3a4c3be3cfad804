// The visibility rule, through every path that exposes events: event(id), eventsInBounds,
// eventsNear, searchEvents, myEvents and User.hostedEvents, for every kind of viewer. Public events are
// visible to everyone; private ones to the host, invitees and attendees only (not to someone
// who declined); drafts to the host only. Mutations on an event the viewer may not see answer
// NOT_FOUND, so a private event's existence never leaks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddEventCommentDocument,
  DeclineInvitationDocument,
  EventDocument,
  EventsInBoundsDocument,
  EventsNearDocument,
  HostedEventsDocument,
  InviteToEventDocument,
  JoinEventDocument,
  LikeEventDocument,
  MyEventsDocument,
  SearchEventsDocument,
  UpdateEventDocument,
} from '../generated/graphql.ts';
import type { EventRole, EventStatus } from '../generated/graphql.ts';
import { codes, createUser, gql, gqlOk } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

type ActorName = 'host' | 'invitee' | 'lateInvitee' | 'attendee' | 'stranger' | 'anonymous' | 'decliner';
type EventName = 'public' | 'private' | 'draft';

const ACTORS: ActorName[] = ['host', 'invitee', 'lateInvitee', 'attendee', 'stranger', 'anonymous', 'decliner'];
const EVENTS: EventName[] = ['public', 'private', 'draft'];
const ALL_STATUSES: EventStatus[] = ['DRAFT', 'PUBLISHED', 'CANCELLED'];
const ROLES: EventRole[] = ['HOSTING', 'ATTENDING', 'INVITED'];

/** Each event sits alone in its own small area (≈ 7 km apart), so a viewport around it holds only it. */
const PLACES: Record<EventName, { latitude: number; longitude: number }> = {
  public: { latitude: 48.137, longitude: 11.575 },
  private: { latitude: 48.2, longitude: 11.65 },
  draft: { latitude: 48.08, longitude: 11.5 },
};

const VISIBLE: Record<EventName, ActorName[]> = {
  public: ACTORS,
  private: ['host', 'invitee', 'lateInvitee', 'attendee'],
  draft: ['host'],
};

/**
 * Which myEvents role must list an event for an actor (when the actor may see it). Roles not
 * listed here must not list it; `undefined` marks a case the rule leaves open (an attendee whose
 * invitation to the private event is still pending in the table).
 */
function listedIn(actor: ActorName, event: EventName, role: EventRole): boolean | undefined {
  if (!VISIBLE[event].includes(actor)) return false;
  switch (role) {
    case 'HOSTING':
      return actor === 'host';
    case 'ATTENDING':
      return actor === 'attendee' && event !== 'draft';
    case 'INVITED':
      if (actor === 'attendee' && event === 'private') return undefined;
      return (actor === 'invitee' && event !== 'draft') || (actor === 'lateInvitee' && event === 'private');
  }
}

let server: TestServer;
const users = {} as Record<Exclude<ActorName, 'anonymous'>, TestUser>;
const ids = {} as Record<EventName, string>;

const tokenOf = (actor: ActorName) => (actor === 'anonymous' ? undefined : users[actor].accessToken);
const as = (actor: ActorName) => ({ token: tokenOf(actor) });

beforeAll(async () => {
  server = await startTestServer();
  const [host, invitee, lateInvitee, attendee, stranger, decliner] = await Promise.all(
    Array.from({ length: 6 }, () => createUser(server)),
  );
  Object.assign(users, { host, invitee, lateInvitee, attendee, stranger, decliner });
  await certify(server, host);

  ids.public = (
    await createEvent(server, host, {
      title: 'Open chess',
      isPublic: true,
      ...PLACES.public,
      invitedUserIds: [invitee.id],
    })
  ).id;
  ids.private = (
    await createEvent(server, host, {
      title: 'Private chess',
      isPublic: false,
      ...PLACES.private,
      invitedUserIds: [invitee.id, attendee.id],
    })
  ).id;
  // Invited to the draft too: a draft stays the host's alone whoever is invited.
  ids.draft = (
    await createEvent(server, host, {
      title: 'Draft chess',
      isPublic: false,
      status: 'DRAFT',
      ...PLACES.draft,
      invitedUserIds: [invitee.id, attendee.id, lateInvitee.id, decliner.id],
    })
  ).id;

  await gqlOk(
    server,
    InviteToEventDocument,
    { eventId: ids.private, userIds: [lateInvitee.id, decliner.id] },
    as('host'),
  );
  await gqlOk(server, JoinEventDocument, { id: ids.private }, as('attendee'));
  await gqlOk(server, JoinEventDocument, { id: ids.public }, as('attendee'));
  expect(
    (await gqlOk(server, DeclineInvitationDocument, { eventId: ids.private }, as('decliner'))).declineInvitation,
  ).toBe(true);
});
afterAll(async () => {
  await server?.close();
});

async function inBoundsIds(actor: ActorName, event: EventName, statuses?: EventStatus[]) {
  const { latitude, longitude } = PLACES[event];
  const bounds = { south: latitude - 0.01, north: latitude + 0.01, west: longitude - 0.01, east: longitude + 0.01 };
  const { eventsInBounds } = await gqlOk(
    server,
    EventsInBoundsDocument,
    { bounds, filter: statuses ? { statuses } : null },
    as(actor),
  );
  return eventsInBounds.edges.map((e) => e.node.id);
}

async function searchIds(actor: ActorName, event: EventName) {
  const { latitude, longitude } = PLACES[event];
  const bounds = { south: latitude - 0.01, north: latitude + 0.01, west: longitude - 0.01, east: longitude + 0.01 };
  const { searchEvents } = await gqlOk(
    server,
    SearchEventsDocument,
    { query: 'chess', bounds, filter: { statuses: ALL_STATUSES } },
    as(actor),
  );
  return searchEvents.edges.map((e) => e.node.id);
}

async function nearIds(actor: ActorName, event: EventName) {
  const { eventsNear } = await gqlOk(
    server,
    EventsNearDocument,
    { ...PLACES[event], radiusKm: 1, filter: { statuses: ALL_STATUSES } },
    as(actor),
  );
  return eventsNear.edges.map((e) => e.node.id);
}

describe('fixtures', () => {
  it('hold what the matrix assumes', async () => {
    const { event: priv } = await gqlOk(server, EventDocument, { id: ids.private }, as('host'));
    expect(priv).toMatchObject({ isPublic: false, status: 'PUBLISHED', attendeeCount: 2 });
    expect(priv?.attendees.edges.map((e) => e.node.id)).toEqual([users.attendee.id]);
    const { event: draft } = await gqlOk(server, EventDocument, { id: ids.draft }, as('host'));
    expect(draft).toMatchObject({ isPublic: false, status: 'DRAFT' });
    const { event: pub } = await gqlOk(server, EventDocument, { id: ids.public }, as('host'));
    expect(pub).toMatchObject({ isPublic: true, status: 'PUBLISHED', attendeeCount: 2 });
  });
});

describe.each(EVENTS)('the %s event', (event) => {
  it.each(ACTORS)('is seen by %s exactly when the rule says, through every path', async (actor) => {
    const visible = VISIBLE[event].includes(actor);
    const id = ids[event];
    const expected = visible ? [id] : [];

    const byId = await gqlOk(server, EventDocument, { id }, as(actor));
    expect(byId.event?.id ?? null, 'event(id)').toBe(visible ? id : null);

    expect(await inBoundsIds(actor, event, ALL_STATUSES), 'eventsInBounds (any status)').toEqual(expected);
    // By default the map shows published events only, even to the host of a draft.
    expect(await inBoundsIds(actor, event), 'eventsInBounds (default statuses)').toEqual(
      event === 'draft' ? [] : expected,
    );
    expect(await nearIds(actor, event), 'eventsNear').toEqual(expected);
    expect(await searchIds(actor, event), 'searchEvents').toEqual(expected);

    const hosted = await gqlOk(server, HostedEventsDocument, { userId: users.host.id }, as(actor));
    expect(hosted.user?.hostedEvents.edges.map((e) => e.node.id).includes(id), 'User.hostedEvents').toBe(visible);

    if (actor === 'anonymous') {
      expect(codes(await gql(server, MyEventsDocument, { role: 'HOSTING' })), 'myEvents anonymous').toEqual([
        'UNAUTHENTICATED',
      ]);
      return;
    }
    for (const role of ROLES) {
      const want = listedIn(actor, event, role);
      const { myEvents } = await gqlOk(server, MyEventsDocument, { role, first: 100 }, as(actor));
      const listed = myEvents.edges.map((e) => e.node.id).includes(id);
      if (want !== undefined) expect(listed, `myEvents(role: ${role})`).toBe(want);
      else expect(listed && !visible, `myEvents(role: ${role}) lists an invisible event`).toBe(false);
    }
  });
});

describe('mutations on an event the viewer may not see', () => {
  const unknownId = '00000000-0000-4000-8000-000000000000';
  const probes = [
    ['joinEvent', (id: string, actor: ActorName) => gql(server, JoinEventDocument, { id }, as(actor))],
    [
      'updateEvent',
      (id: string, actor: ActorName) =>
        gql(server, UpdateEventDocument, { id, input: { title: 'Mine now' } }, as(actor)),
    ],
    [
      'addEventComment',
      (id: string, actor: ActorName) =>
        gql(server, AddEventCommentDocument, { eventId: id, body: 'hello?' }, as(actor)),
    ],
    ['likeEvent', (id: string, actor: ActorName) => gql(server, LikeEventDocument, { id }, as(actor))],
  ] as const;

  it.each([
    ['stranger', 'private'],
    ['decliner', 'private'],
    ['stranger', 'draft'],
    ['invitee', 'draft'],
    ['attendee', 'draft'],
  ] as const)(
    'answer NOT_FOUND (as for an unknown id) to the %s probing the %s event, and change nothing',
    async (actor, event) => {
      const id = ids[event];
      const before = (await gqlOk(server, EventDocument, { id }, as('host'))).event;
      for (const [name, probe] of probes) {
        const result = await probe(id, actor);
        expect(codes(result), name).toEqual(['NOT_FOUND']);
        const unknown = await probe(unknownId, actor);
        expect(codes(unknown), `${name} on an unknown id`).toEqual(['NOT_FOUND']);
        // The same answer as for an event that does not exist: nothing tells them apart.
        expect(result.errors?.[0]?.message, `${name} message`).toBe(unknown.errors?.[0]?.message);
      }
      const after = (await gqlOk(server, EventDocument, { id }, as('host'))).event;
      expect(after).toEqual(before);
    },
  );

  it('answers UNAUTHENTICATED to anonymous probes', async () => {
    for (const [name, probe] of probes)
      expect(codes(await probe(ids.private, 'anonymous')), name).toEqual(['UNAUTHENTICATED']);
  });

  it.each([
    ['invitee', 'private'],
    ['lateInvitee', 'private'],
    ['attendee', 'private'],
    ['stranger', 'public'],
    ['attendee', 'public'],
  ] as const)('answers FORBIDDEN when the %s, who can see the %s event, tries to update it', async (actor, event) => {
    const id = ids[event];
    const before = (await gqlOk(server, EventDocument, { id }, as('host'))).event;
    expect(codes(await gql(server, UpdateEventDocument, { id, input: { title: 'Mine now' } }, as(actor)))).toEqual([
      'FORBIDDEN',
    ]);
    expect((await gqlOk(server, EventDocument, { id }, as('host'))).event).toEqual(before);
  });
});

describe('invitedUsers', () => {
  const invited = async (actor: ActorName, event: EventName) => {
    const { event: found } = await gqlOk(server, EventDocument, { id: ids[event] }, as(actor));
    expect(found, `${actor} sees the ${event} event`).not.toBeNull();
    return found!.invitedUsers.map((u) => u.id);
  };

  it('lists pending invitees of a private event to the host and to attendees, never someone who declined', async () => {
    for (const actor of ['host', 'attendee'] as const) {
      const list = await invited(actor, 'private');
      expect(list, actor).toEqual(expect.arrayContaining([users.invitee.id, users.lateInvitee.id]));
      expect(list, actor).not.toContain(users.decliner.id);
      expect(list, actor).not.toContain(users.stranger.id);
    }
  });

  it('is empty for invitees who have not joined', async () => {
    expect(await invited('invitee', 'private')).toEqual([]);
    expect(await invited('lateInvitee', 'private')).toEqual([]);
    expect(await invited('invitee', 'public')).toEqual([]);
  });

  it('on a public event, lists invitees to the host and attendees and is empty for strangers and anonymous viewers', async () => {
    expect(await invited('host', 'public')).toEqual([users.invitee.id]);
    expect(await invited('attendee', 'public')).toEqual([users.invitee.id]);
    expect(await invited('stranger', 'public')).toEqual([]);
    expect(await invited('anonymous', 'public')).toEqual([]);
    expect(await invited('decliner', 'public')).toEqual([]);
  });
});
