// Issue 15, item 7: the visibility matrix through the changes that move who may see an event,
// on two instances of one deployment. Each transition changes one event on instance A (made
// private, re-drafted, cancelled, deleted, an attendee leaves, an invitee declines); then
// instance B answers every read path that reaches an event, and every subscription opened on B
// before the change must have delivered what the real-time rules say: whoever keeps sight gets
// the change and the host's later edit; whoever loses it gets the change with `event: null` and
// nothing further; nobody else hears anything. "Nothing" is read behind a fence: a later change
// to another event, published after everything else, that every subscription does receive.
// The static matrix (who sees what, without changes) is tests/events/events-visibility.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AcceptFriendRequestDocument,
  CancelEventDocument,
  DeclineInvitationDocument,
  DeleteEventDocument,
  EditMessageDocument,
  EventChangedDocument,
  EventPathsDocument,
  JoinEventDocument,
  LeaveEventDocument,
  LikeEventDocument,
  MessageAddedWithEventDocument,
  MessageUpdatedWithEventDocument,
  MyEventsChangedDocument,
  NotificationAddedDocument,
  RateUserDocument,
  SendFriendRequestDocument,
  SendMessageDocument,
  SetTypingDocument,
  ShareEventDocument,
  TypingDocument,
  UpdateEventDocument,
} from '../generated/graphql.ts';
import type {
  EventChangeKind,
  EventChangedSubscription,
  EventPathsQuery,
  EventRole,
  EventStatus,
  MessageAddedWithEventSubscription,
  MessageUpdatedWithEventSubscription,
  MyEventsChangedSubscription,
  NotificationAddedSubscription,
  NotificationKind,
  TypingSubscription,
} from '../generated/graphql.ts';
import { codes, createUser, gql, gqlOk, subscribe, wsClient } from '../helpers/client.ts';
import type { GqlResult, LiveSubscription, TestUser } from '../helpers/client.ts';
import { certify, createEvent, passTime } from '../helpers/events.ts';
import { eventually } from '../helpers/eventually.ts';
import { testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

/** Who leaves or declines: one per transition that is theirs. */
type Subject = 'leaver' | 'uninvitedLeaver' | 'decliner';
type Actor = 'host' | 'invitee' | 'attendee' | 'stranger' | 'anonymous' | Subject;
type Member = Exclude<Actor, 'anonymous'>;

interface Transition {
  name: string;
  /** Made public (and then shared with the stranger, a friend of the host) or private. */
  isPublic: boolean;
  /** The one whose leave or decline the change is, and how they stood before it. */
  subject?: { actor: Subject; invited: boolean; joined: boolean };
  /** Done on instance A before anyone subscribes, after the guests joined. */
  prepare?: (id: string) => Promise<unknown>;
  /** The change, on instance A. */
  change: (id: string) => Promise<unknown>;
  /** What the change is announced as. */
  kind: EventChangeKind;
  /** The status after the change; null when the event is gone. */
  status: EventStatus | null;
  /** Who could see the event just before the change, and who may see it after. */
  saw: Actor[];
  sees: Actor[];
  /** Members of the event's chat after the change. */
  inChat: Member[];
  /** The myEvents roles that must list the event afterwards (no other role may). */
  roles: Partial<Record<Member, EventRole[]>>;
  /** Roles the rule leaves open (an invited attendee under INVITED): they may list it only to someone who sees it. */
  openRoles?: Partial<Record<Member, EventRole[]>>;
  /** Kinds of the notifications each gets live, from the change and from the host's later edit. */
  notified: Partial<Record<Member, NotificationKind[]>>;
}

const HOUR = 3600_000;
const ROLES: EventRole[] = ['HOSTING', 'ATTENDING', 'INVITED'];
const ALL_STATUSES: EventStatus[] = ['DRAFT', 'PUBLISHED', 'CANCELLED'];
const COMMON: Actor[] = ['host', 'invitee', 'attendee', 'stranger', 'anonymous'];
const MEMBERS: Member[] = ['host', 'invitee', 'attendee', 'stranger', 'leaver', 'uninvitedLeaver', 'decliner'];
const MEMBERS_OF_PRIVATE: Actor[] = ['host', 'invitee', 'attendee'];

// Every event sits in one 1° map cell, so each map subscription listens on one topic and
// receives the changes in the order they were published (the fence last).
const bounds = { south: 53.2, west: 9.2, north: 53.8, east: 9.8 };
const center = { latitude: 53.5, longitude: 9.5 };
const placeOf = (i: number) => ({ latitude: 53.45 + i * 0.01, longitude: 9.45 + i * 0.01 });

/** New content set by a change or by the later edit: only someone who sees the event may ever read it. */
const renamed = (t: Transition) => `${t.name}: renamed`;
const edited = (t: Transition) => `${t.name}: edited later`;

let a: TestServer;
let b: TestServer;
const users = {} as Record<Member | 'fenceHost', TestUser>;
const host = () => users.host;

const TRANSITIONS: Transition[] = [
  {
    name: 'made private',
    isPublic: true,
    change: (id) =>
      host().gqlOk(UpdateEventDocument, { id, input: { isPublic: false, title: renamed(TRANSITIONS[0]!) } }),
    kind: 'UPDATED',
    status: 'PUBLISHED',
    saw: COMMON,
    sees: MEMBERS_OF_PRIVATE,
    inChat: ['host', 'attendee'],
    roles: { host: ['HOSTING'], invitee: ['INVITED'], attendee: ['ATTENDING'] },
    notified: { invitee: ['EVENT_UPDATED', 'EVENT_UPDATED'], attendee: ['EVENT_UPDATED', 'EVENT_UPDATED'] },
  },
  {
    name: 're-drafted',
    isPublic: true,
    change: (id) =>
      host().gqlOk(UpdateEventDocument, { id, input: { status: 'DRAFT', title: renamed(TRANSITIONS[1]!) } }),
    kind: 'UPDATED',
    status: 'DRAFT',
    saw: COMMON,
    sees: ['host'],
    // Still in its chat, but the event is no longer theirs to see.
    inChat: ['host', 'attendee'],
    roles: { host: ['HOSTING'] },
    // A draft is the host's alone: nobody is told of its changes.
    notified: {},
  },
  {
    name: 'cancelled',
    isPublic: false,
    change: (id) => host().gqlOk(CancelEventDocument, { id }),
    kind: 'CANCELLED',
    status: 'CANCELLED',
    saw: MEMBERS_OF_PRIVATE,
    sees: MEMBERS_OF_PRIVATE,
    inChat: ['host', 'attendee'],
    roles: { host: ['HOSTING'], invitee: ['INVITED'], attendee: ['ATTENDING'] },
    openRoles: { attendee: ['INVITED'] },
    notified: { invitee: ['EVENT_CANCELLED', 'EVENT_UPDATED'], attendee: ['EVENT_CANCELLED', 'EVENT_UPDATED'] },
  },
  {
    name: 'deleted',
    isPublic: false,
    change: (id) => host().gqlOk(DeleteEventDocument, { id }),
    kind: 'DELETED',
    status: null,
    saw: MEMBERS_OF_PRIVATE,
    sees: [],
    inChat: [],
    roles: {},
    notified: {},
  },
  {
    name: 'left',
    isPublic: false,
    subject: { actor: 'leaver', invited: true, joined: true },
    change: (id) => users.leaver.gqlOk(LeaveEventDocument, { id }),
    kind: 'ATTENDEES_CHANGED',
    status: 'PUBLISHED',
    saw: [...MEMBERS_OF_PRIVATE, 'leaver'],
    // Their invitation stands (they may join again), so they still see it, outside its chat.
    sees: [...MEMBERS_OF_PRIVATE, 'leaver'],
    inChat: ['host', 'attendee'],
    roles: { host: ['HOSTING'], invitee: ['INVITED'], attendee: ['ATTENDING'], leaver: ['INVITED'] },
    openRoles: { attendee: ['INVITED'] },
    notified: { invitee: ['EVENT_UPDATED'], attendee: ['EVENT_UPDATED'], leaver: ['EVENT_UPDATED'] },
  },
  {
    name: 'left uninvited',
    isPublic: true,
    // Joined while it was public, then it was made private: an attendee with no invitation.
    subject: { actor: 'uninvitedLeaver', invited: false, joined: true },
    prepare: (id) => host().gqlOk(UpdateEventDocument, { id, input: { isPublic: false } }),
    change: (id) => users.uninvitedLeaver.gqlOk(LeaveEventDocument, { id }),
    kind: 'ATTENDEES_CHANGED',
    status: 'PUBLISHED',
    saw: [...MEMBERS_OF_PRIVATE, 'uninvitedLeaver'],
    sees: MEMBERS_OF_PRIVATE,
    inChat: ['host', 'attendee'],
    roles: { host: ['HOSTING'], invitee: ['INVITED'], attendee: ['ATTENDING'] },
    notified: { invitee: ['EVENT_UPDATED'], attendee: ['EVENT_UPDATED'] },
  },
  {
    name: 'declined',
    isPublic: false,
    subject: { actor: 'decliner', invited: true, joined: false },
    change: (id) => users.decliner.gqlOk(DeclineInvitationDocument, { eventId: id }),
    // The host's list of invitees changed.
    kind: 'UPDATED',
    status: 'PUBLISHED',
    saw: [...MEMBERS_OF_PRIVATE, 'decliner'],
    sees: MEMBERS_OF_PRIVATE,
    inChat: ['host', 'attendee'],
    roles: { host: ['HOSTING'], invitee: ['INVITED'], attendee: ['ATTENDING'] },
    openRoles: { attendee: ['INVITED'] },
    notified: { invitee: ['EVENT_UPDATED'], attendee: ['EVENT_UPDATED'] },
  },
];

const actorsOf = (t: Transition): Actor[] => [...COMMON, ...(t.subject ? [t.subject.actor] : [])];
/** Whom the event names before the change (host, invitee, attendee, subject): myEventsChanged follows those. */
const relatedTo = (t: Transition): Actor[] => [...MEMBERS_OF_PRIVATE, ...(t.subject ? [t.subject.actor] : [])];
const chatMembersBefore = (t: Transition): Member[] => [
  'host',
  'attendee',
  ...(t.subject?.joined ? [t.subject.actor] : []),
];

interface Prepared {
  id: string;
  chatId: string;
  ratingId: string;
  /** Notifications about the event each actor holds before the change. */
  notifications: Partial<Record<Member, string[]>>;
}
const prepared = new Map<Transition, Prepared>();

interface Live {
  /** The live map over every status: sight alone decides. */
  map: LiveSubscription<EventChangedSubscription>;
  /** The live map with the default filter (published events only). */
  pins: LiveSubscription<EventChangedSubscription>;
  mine?: LiveSubscription<MyEventsChangedSubscription>;
  notes?: LiveSubscription<NotificationAddedSubscription>;
}
const live = {} as Record<Actor, Live>;
/** A chat member's streams of the event's chat, and which of them have completed. */
interface ChatLive {
  added: LiveSubscription<MessageAddedWithEventSubscription>;
  updated: LiveSubscription<MessageUpdatedWithEventSubscription>;
  typing: LiveSubscription<TypingSubscription>;
  ended: { added: boolean; updated: boolean; typing: boolean };
}
const chatLive = new Map<Transition, Partial<Record<Member, ChatLive>>>();
const sockets: Array<ReturnType<typeof wsClient>> = [];
/** The message the attendee sent to the event's chat after the change. */
const sent = new Map<Transition, string>();
/** What each actor read on instance B after every change, and what likeEvent answered them. */
const reads = new Map<Transition, Map<Actor, { paths: EventPathsQuery; like: GqlResult<unknown> }>>();
let fenceId: string;

const tokenOf = (actor: Actor) => (actor === 'anonymous' ? undefined : users[actor].accessToken);

/** Every read path to the transition's event, in one request, and a mutation that answers it, as the actor on instance B. */
async function readPaths(t: Transition, actor: Actor) {
  const { id } = prepared.get(t)!;
  const token = tokenOf(actor);
  const [paths, like] = await Promise.all([
    gqlOk(
      b,
      EventPathsDocument,
      { id, hostId: host().id, ratedId: users.attendee.id, bounds, ...center, signedIn: actor !== 'anonymous' },
      { token },
    ),
    gql(b, LikeEventDocument, { id }, { token }),
  ]);
  return { paths, like };
}

/** Makes a transition's event, its guests and what reaches it from elsewhere (a share, a rating). */
async function prepare(t: Transition, place: { latitude: number; longitude: number }): Promise<Prepared> {
  const { invitee, attendee, stranger } = users;
  const subject = t.subject && users[t.subject.actor];
  // A private event is joined by invitation; a public one without.
  const invited = [invitee, ...(t.isPublic ? [] : [attendee]), ...(t.subject?.invited ? [subject!] : [])];
  const event = await createEvent(a, host(), {
    title: t.name,
    isPublic: t.isPublic,
    ...place,
    invitedUserIds: invited.map((u) => u.id),
  });
  for (const guest of [attendee, ...(t.subject?.joined ? [subject!] : [])])
    await guest.gqlOk(JoinEventDocument, { id: event.id });
  if (t.isPublic) await host().gqlOk(ShareEventDocument, { id: event.id, withUserIds: [stranger.id] });
  // Under way, so the host can rate the attendee: Rating.event reaches it from anyone's profile view.
  await passTime(a, event.id, 2 * HOUR);
  const { rateUser } = await host().gqlOk(RateUserDocument, {
    input: { userId: attendee.id, eventId: event.id, score: 5 },
  });
  await t.prepare?.(event.id);
  const chat = await a.deps.prisma.chat.findUniqueOrThrow({ where: { eventId: event.id }, select: { id: true } });
  const rows = await a.deps.prisma.notification.findMany({
    where: { eventId: event.id },
    select: { id: true, recipientId: true },
  });
  const notifications: Prepared['notifications'] = {};
  for (const member of MEMBERS) {
    const mine = rows.filter((n) => n.recipientId === users[member].id).map((n) => n.id);
    if (mine.length) notifications[member] = mine;
  }
  return { id: event.id, chatId: chat.id, ratingId: rateUser.id, notifications };
}

/** The change, then chat activity in its event's chat, then a later edit by the host: all on instance A. */
async function run(t: Transition, p: Prepared) {
  await t.change(p.id);
  if (t.status !== null) {
    const { sendMessage } = await users.attendee.gqlOk(SendMessageDocument, {
      chatId: p.chatId,
      body: `after ${t.name}`,
    });
    sent.set(t, sendMessage.id);
    await users.attendee.gqlOk(EditMessageDocument, { id: sendMessage.id, body: `after ${t.name}, edited` });
    await host().gqlOk(SetTypingDocument, { chatId: p.chatId, isTyping: true });
    await users.attendee.gqlOk(SetTypingDocument, { chatId: p.chatId, isTyping: true });
    await host().gqlOk(UpdateEventDocument, { id: p.id, input: { title: edited(t) } });
  }
}

describe.runIf(testDatabaseUrl && testRedisUrl)('visibility through state changes, on two instances', () => {
  const instances = twoInstances();

  beforeAll(async () => {
    [a, b] = [instances.a(), instances.b()];
    const names = [...MEMBERS, 'fenceHost'] as const;
    const created = await Promise.all(names.map(() => createUser(a)));
    names.forEach((name, i) => (users[name] = created[i]!));
    await certify(a, host());
    await certify(a, users.fenceHost);
    // Friends, so the host can share public events with the stranger: a notification that reaches them.
    const { sendFriendRequest } = await host().gqlOk(SendFriendRequestDocument, { userId: users.stranger.id });
    await users.stranger.gqlOk(AcceptFriendRequestDocument, { requestId: sendFriendRequest.id });

    // The fence: a public event everyone is invited to, at the same place. Its edit, made last,
    // reaches every map, myEventsChanged and notificationAdded subscription.
    fenceId = (
      await createEvent(a, users.fenceHost, {
        title: 'fence',
        isPublic: true,
        ...placeOf(TRANSITIONS.length),
        invitedUserIds: MEMBERS.map((m) => users[m].id),
      })
    ).id;
    await Promise.all(TRANSITIONS.map(async (t, i) => prepared.set(t, await prepare(t, placeOf(i)))));

    // Every subscription on instance B, before any change.
    const socketOf = (actor: Actor) => {
      const token = tokenOf(actor);
      const socket = wsClient(b, token ? { authorization: `Bearer ${token}` } : undefined, { stayConnected: true });
      sockets.push(socket);
      return socket;
    };
    const actorSockets = new Map<Actor, ReturnType<typeof wsClient>>();
    for (const actor of [...MEMBERS, 'anonymous'] as Actor[]) actorSockets.set(actor, socketOf(actor));
    await Promise.all(
      [...actorSockets].map(async ([actor, socket]) => {
        const signedIn = actor !== 'anonymous';
        const [map, pins, mine, notes] = await Promise.all([
          subscribe(b, socket, EventChangedDocument, { bounds, filter: { statuses: ALL_STATUSES } }),
          subscribe(b, socket, EventChangedDocument, { bounds }),
          signedIn ? subscribe(b, socket, MyEventsChangedDocument) : undefined,
          signedIn ? subscribe(b, socket, NotificationAddedDocument) : undefined,
        ]);
        live[actor] = { map, pins, mine, notes };
      }),
    );
    await Promise.all(
      TRANSITIONS.map(async (t) => {
        const { chatId } = prepared.get(t)!;
        const streams: Partial<Record<Member, ChatLive>> = {};
        await Promise.all(
          chatMembersBefore(t).map(async (member) => {
            const socket = actorSockets.get(member)!;
            const [added, updated, typing] = await Promise.all([
              subscribe(b, socket, MessageAddedWithEventDocument, { chatId }),
              subscribe(b, socket, MessageUpdatedWithEventDocument, { chatId }),
              subscribe(b, socket, TypingDocument, { chatId }),
            ]);
            const ended = { added: false, updated: false, typing: false };
            void added.finished.then(() => (ended.added = true));
            void updated.finished.then(() => (ended.updated = true));
            void typing.finished.then(() => (ended.typing = true));
            streams[member] = { added, updated, typing, ended };
          }),
        );
        chatLive.set(t, streams);
      }),
    );

    // The changes, each event's in order, then the fence.
    await Promise.all(TRANSITIONS.map((t) => run(t, prepared.get(t)!)));
    const { updateEvent: fence } = await users.fenceHost.gqlOk(UpdateEventDocument, {
      id: fenceId,
      input: { title: 'fence: everything before has been published' },
    });
    const fenced = (change: { eventId: string; version: number }) =>
      change.eventId === fenceId && change.version === fence.version;
    await Promise.all(
      Object.values(live).flatMap(({ map, pins, mine, notes }) => [
        map.next((d) => fenced(d.eventChanged)),
        pins.next((d) => fenced(d.eventChanged)),
        ...(mine ? [mine.next((d) => fenced(d.myEventsChanged))] : []),
        ...(notes
          ? [
              notes.next(
                (d) => d.notificationAdded.kind === 'EVENT_UPDATED' && d.notificationAdded.event?.id === fenceId,
              ),
            ]
          : []),
      ]),
    );

    // Every read on instance B at once, now that every change has been made.
    await Promise.all(
      TRANSITIONS.map(async (t) => {
        const byActor = new Map<Actor, Awaited<ReturnType<typeof readPaths>>>();
        reads.set(t, byActor);
        await Promise.all(actorsOf(t).map(async (actor) => byActor.set(actor, await readPaths(t, actor))));
      }),
    );
  }, 120_000);

  afterAll(async () => {
    for (const socket of sockets) await socket.dispose();
  });

  describe.each(TRANSITIONS)('$name', (t) => {
    const actors = actorsOf(t);
    const sees = (actor: Actor) => t.sees.includes(actor);
    const saw = (actor: Actor) => t.saw.includes(actor);

    it('holds the fixtures the matrix assumes', () => {
      const { notifications } = prepared.get(t)!;
      // The invitee was invited, the attendee rated, the stranger shared with (public events).
      expect(notifications.invitee, 'invitee').toHaveLength(1);
      expect(notifications.attendee?.length, 'attendee').toBe(t.isPublic ? 1 : 2);
      expect(notifications.stranger?.length ?? 0, 'stranger').toBe(t.isPublic ? 1 : 0);
      if (t.subject?.invited) expect(notifications[t.subject.actor], t.subject.actor).toHaveLength(1);
    });

    it.each(actors)('reads on instance B: %s finds it exactly where they may see it', (actor) => {
      const { id, chatId, ratingId, notifications } = prepared.get(t)!;
      const visible = sees(actor);
      const signedIn = actor !== 'anonymous';
      const { paths, like } = reads.get(t)!.get(actor)!;
      const listed = (connection?: { edges: Array<{ node: { id: string } }> } | null) =>
        (connection?.edges ?? []).some((e) => e.node.id === id);

      expect(paths.event, 'event(id)').toEqual(visible ? { id, title: edited(t) } : null);
      expect(listed(paths.anyStatus), 'eventsInBounds (any status)').toBe(visible);
      expect(listed(paths.published), 'eventsInBounds (default: published)').toBe(visible && t.status === 'PUBLISHED');
      expect(listed(paths.near), 'eventsNear').toBe(visible);
      expect(listed(paths.host?.hostedEvents), 'User.hostedEvents').toBe(visible);
      const rating = paths.rated?.ratingsReceived.edges.find((e) => e.node.id === ratingId)?.node;
      expect(rating, 'the rating stays').toBeDefined();
      expect(rating?.event?.id ?? null, 'Rating.event').toBe(visible ? id : null);
      expect(codes(like), 'likeEvent (a mutation answering the event)').toEqual(
        !signedIn ? ['UNAUTHENTICATED'] : visible ? [] : ['NOT_FOUND'],
      );

      if (signedIn) {
        const member = actor;
        const byRole: Record<EventRole, EventPathsQuery['hosting']> = {
          HOSTING: paths.hosting,
          ATTENDING: paths.attending,
          INVITED: paths.invited,
        };
        for (const role of ROLES) {
          const found = listed(byRole[role]);
          if (t.openRoles?.[member]?.includes(role)) expect(found && !visible, `myEvents(${role})`).toBe(false);
          else expect(found, `myEvents(${role})`).toBe(t.roles[member]?.includes(role) ?? false);
        }

        const chat = paths.chats?.edges.find((e) => e.node.id === chatId)?.node;
        if (t.inChat.includes(member)) expect(chat?.event?.id ?? null, 'chats { event }').toBe(visible ? id : null);
        else expect(chat, 'chats: not a member').toBeUndefined();

        for (const notificationId of notifications[member] ?? []) {
          const notification = paths.notifications?.edges.find((e) => e.node.id === notificationId)?.node;
          // A deleted event's notifications go with it.
          if (t.status === null) expect(notification, 'notifications: gone with the event').toBeUndefined();
          else expect(notification?.event?.id ?? null, 'notifications { event }').toBe(visible ? id : null);
        }
      }
      if (!visible) {
        const everything = JSON.stringify(paths);
        expect(everything).not.toContain(renamed(t));
        expect(everything).not.toContain(edited(t));
      }
    });

    it.each(actors)('subscriptions on instance B: %s hears what they may see, and no more', (actor) => {
      const { id } = prepared.get(t)!;
      const { map, pins, mine, notes } = live[actor];
      const published = t.status === 'PUBLISHED';
      type Change = { kind: EventChangeKind; eventId: string; event: { id: string } | null };
      const about = (changes: Change[]) =>
        changes.filter((c) => c.eventId === id).map((c) => ({ kind: c.kind, event: c.event?.id ?? null }));
      const later = t.status !== null ? [{ kind: 'UPDATED', event: id }] : [];
      // The change reaches those who saw it or see it (with the event only for the latter); the
      // later edit only those who see it.
      const expected = (heard: boolean, shown: boolean) => [
        ...(heard ? [{ kind: t.kind, event: shown ? id : null }] : []),
        ...(shown ? later : []),
      ];

      expect(about(map.received.map((d) => d.eventChanged)), 'eventChanged (any status)').toEqual(
        expected(saw(actor) || sees(actor), sees(actor)),
      );
      // Before the change every event here was published.
      expect(about(pins.received.map((d) => d.eventChanged)), 'eventChanged (default filter)').toEqual(
        expected(saw(actor) || (sees(actor) && published), sees(actor) && published),
      );
      if (actor === 'anonymous') return;
      expect(about(mine!.received.map((d) => d.myEventsChanged)), 'myEventsChanged').toEqual(
        expected(relatedTo(t).includes(actor), sees(actor)),
      );
      const notified = notes!.received.map((d) => d.notificationAdded).filter((n) => n.event?.id === id);
      expect(
        notified.map((n) => ({ kind: n.kind, event: n.event?.id ?? null })),
        'notificationAdded',
      ).toEqual((t.notified[actor] ?? []).map((kind) => ({ kind, event: id })));
      for (const sub of [map, pins, mine!, notes!]) expect(sub.errors).toEqual([]);
      if (!sees(actor)) {
        const everything = JSON.stringify([map, pins, mine, notes].map((s) => s?.received));
        expect(everything).not.toContain(renamed(t));
        expect(everything).not.toContain(edited(t));
      }
    });

    it('chat streams on instance B: members go on hearing the chat; those whose membership ended are completed', async () => {
      const { id, chatId } = prepared.get(t)!;
      const streams = chatLive.get(t)!;
      for (const member of chatMembersBefore(t)) {
        const { added, updated, typing, ended } = streams[member]!;
        if (t.inChat.includes(member)) {
          const other = member === 'host' ? users.attendee : host();
          const chatAsSeen = { id: chatId, event: sees(member) ? { id, title: expect.any(String) } : null };
          // Matched by id: the message is read when delivered, maybe after its edit.
          const message = await added.next((d) => d.messageAdded.id === sent.get(t));
          expect(message.messageAdded.chat, `${member}: messageAdded { chat { event } }`).toEqual(chatAsSeen);
          const edit = await updated.next(
            (d) => d.messageUpdated.id === sent.get(t) && d.messageUpdated.body === `after ${t.name}, edited`,
          );
          expect(edit.messageUpdated.chat, `${member}: messageUpdated { chat { event } }`).toEqual(chatAsSeen);
          await typing.next((d) => d.typing.isTyping && d.typing.user.id === other.id);
          expect(ended, member).toEqual({ added: false, updated: false, typing: false });
        } else {
          // Ended by the change itself, before anything else was sent to the chat.
          await eventually(() => ended.added && ended.updated && ended.typing, {
            what: `${member}'s messageAdded, messageUpdated and typing to complete`,
          });
          expect([added.received, updated.received, typing.received], member).toEqual([[], [], []]);
        }
        expect([...added.errors, ...updated.errors, ...typing.errors], member).toEqual([]);
      }
    });
  });
});
