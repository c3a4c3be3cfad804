import { prismaConnectionHelpers } from '@pothos/plugin-prisma';
import { viewerIdOf } from '../viewer.ts';
import { builder, PAGE_SIZE } from '../../builder.ts';
import { EVENT_LIMITS as L } from '../../services/events/index.ts';
import { visibleEventWhere } from '../../services/events/visibility.ts';
import { waitlistPosition } from '../../services/events/waitlist.ts';
import type { Cluster } from '../../services/events/clusters.ts';
import { User, UserConnection } from '../users/types.ts';

export const EventType = builder.enumType('EventType', {
  description: 'The kind of meetup.',
  values: {
    STUDY: { description: 'A study session.' },
    PARTY: { description: 'A party or social evening.' },
    BUSINESS: { description: 'A business or networking meetup.' },
    OTHER: { description: 'Anything else.' },
  } as const,
});

export const EventStatus = builder.enumType('EventStatus', {
  description: 'Where an event is in its lifecycle.',
  values: {
    DRAFT: { description: 'Visible to the host only.' },
    PUBLISHED: { description: 'Live: on the map for those who may see it, and open to join.' },
    CANCELLED: { description: 'Called off; cannot be joined or reopened.' },
  } as const,
});

export const EventRole = builder.enumType('EventRole', {
  description: "The viewer's part in an event.",
  values: {
    HOSTING: { description: 'Events the viewer hosts.' },
    ATTENDING: { description: 'Events the viewer joined.' },
    INVITED: { description: 'Events the viewer is invited to and has not declined.' },
  } as const,
});

export const EventChangeKind = builder.enumType('EventChangeKind', {
  description: 'What happened to an event.',
  values: {
    CREATED: { description: 'The event was created.' },
    UPDATED: { description: 'Details, place, time, visibility or invitations changed.' },
    CANCELLED: { description: 'The host cancelled it.' },
    DELETED: { description: 'The host deleted it, or an admin removed it (moderation).' },
    ATTENDEES_CHANGED: { description: 'Someone joined or left.' },
  } as const,
});

export const Comment = builder.prismaObject('EventComment', {
  name: 'Comment',
  description: 'A comment on an event.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The comment’s UUID.' }),
    event: t.relation('event', { description: 'The event commented on.' }),
    author: t.relation('author', { description: 'Who wrote it.' }),
    body: t.exposeString('body', { description: `1–${L.comment} characters.` }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was written.' }),
  }),
});

export const CommentConnection = builder.connectionObject(
  { type: Comment, name: 'CommentConnection', description: 'A page of comments.' },
  { name: 'CommentEdge', description: 'A comment in a page of comments.' },
);

const attendeeHelpers = prismaConnectionHelpers(builder, 'EventAttendee', {
  cursor: 'eventId_userId',
  query: { orderBy: { joinedAt: 'asc' } },
  select: (nodeSelection) => ({ user: nodeSelection({ select: { id: true } }) }),
  resolveNode: (attendance) => attendance.user,
});

export const Event = builder.prismaObject('Event', {
  description: 'A meetup pinned on the map.',
  // Only the columns a query's fields need are read; a field reading more declares `select`.
  select: { id: true },
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The event’s UUID.' }),
    title: t.exposeString('title', { description: `1–${L.title} characters.` }),
    description: t.exposeString('description', { description: `Up to ${L.description} characters; may be empty.` }),
    host: t.relation('host', { description: 'Who organizes it.' }),
    latitude: t.exposeFloat('latitude', { description: 'Where it happens: latitude in degrees.' }),
    longitude: t.exposeFloat('longitude', { description: 'Where it happens: longitude in degrees.' }),
    locationName: t.exposeString('locationName', { description: 'A human name for the place; may be empty.' }),
    startsAt: t.expose('startsAt', { type: 'DateTime', description: 'Start time.' }),
    endsAt: t.expose('endsAt', { type: 'DateTime', description: 'End time, after startsAt.' }),
    isPublic: t.exposeBoolean('isPublic', {
      description: 'Public events are visible to everyone; private ones to the host, invitees and attendees only.',
    }),
    type: t.expose('type', { type: EventType, description: 'The kind of meetup.' }),
    status: t.expose('status', { type: EventStatus, description: 'Draft, published or cancelled.' }),
    maxParticipants: t.exposeInt('maxParticipants', {
      description: `Capacity, host included (${L.maxParticipants.min}–${L.maxParticipants.max}).`,
    }),
    interestTags: t.exposeStringList('interestTags', {
      description: 'Normalized tags (trimmed, lower-case, unique); used by auto-matching.',
    }),
    autoMatchingEnabled: t.exposeBoolean('autoMatchingEnabled', {
      description: 'Invite users whose interests and home radius match, on create and on update.',
    }),
    version: t.exposeInt('version', {
      description: 'Increases by one on every change; clients drop updates older than what they hold.',
    }),
    attendeeCount: t.exposeInt('attendeeCount', { description: 'People attending, host included.' }),
    spotsLeft: t.int({
      description: 'Places still free.',
      select: { maxParticipants: true, attendeeCount: true },
      resolve: (e) => Math.max(0, e.maxParticipants - e.attendeeCount),
    }),
    attendees: t.connection(
      {
        type: User,
        description: 'Guests who joined, in joining order (the host is `host`, not listed here).',
        paging: { ...PAGE_SIZE, cursor: 'eventId_userId' },
        select: (args, ctx, nestedSelection) => ({ attendees: attendeeHelpers.getQuery(args, ctx, nestedSelection) }),
        resolve: (event, args, ctx) => {
          // The nodes carry the fields the query selected, not the whole User row the type
          // names; Pothos loads anything else a nested field needs.
          return attendeeHelpers.resolve(event.attendees, args, ctx) as never;
        },
      },
      UserConnection,
    ),
    invitedUsers: t.field({
      type: [User],
      description:
        "Invitees who haven't declined: everyone a person invited, and those auto-matching invited once they join. Visible to the host and to attendees; empty for others.",
      select: (_args, ctx, nestedSelection) => ({
        hostId: true,
        attendees: { where: { userId: viewerIdOf(ctx) }, select: { userId: true } },
        invitations: {
          where: { declinedAt: null, OR: [{ isAutoMatched: false }, { acceptedAt: { not: null } }] },
          orderBy: { createdAt: 'asc' },
          select: { user: nestedSelection() },
        },
      }),
      resolve: (e, _args, ctx) =>
        e.hostId === ctx.viewer?.id || e.attendees.length > 0 ? e.invitations.map((i) => i.user) : [],
    }),
    matchedUsers: t.field({
      type: [User],
      description:
        'Users auto-matching invited who then joined. Until they join, such an invitation is theirs alone, so a host cannot learn who lives near a place. Visible to the host and attendees; empty for others.',
      select: (_args, ctx, nestedSelection) => ({
        hostId: true,
        attendees: { where: { userId: viewerIdOf(ctx) }, select: { userId: true } },
        invitations: {
          where: { declinedAt: null, isAutoMatched: true, acceptedAt: { not: null } },
          orderBy: { createdAt: 'asc' },
          select: { user: nestedSelection() },
        },
      }),
      resolve: (e, _args, ctx) =>
        e.hostId === ctx.viewer?.id || e.attendees.length > 0 ? e.invitations.map((i) => i.user) : [],
    }),
    viewerIsHost: t.boolean({
      description: 'The viewer hosts this event.',
      select: { hostId: true },
      resolve: (e, _args, ctx) => e.hostId === ctx.viewer?.id,
    }),
    viewerIsAttending: t.boolean({
      description: 'The viewer joined this event.',
      select: (_args, ctx) => ({ attendees: { where: { userId: viewerIdOf(ctx) }, select: { userId: true } } }),
      resolve: (e) => e.attendees.length > 0,
    }),
    viewerIsInvited: t.boolean({
      description: 'The viewer is invited and has not declined.',
      select: (_args, ctx) => ({
        invitations: { where: { userId: viewerIdOf(ctx), declinedAt: null }, select: { userId: true } },
      }),
      resolve: (e) => e.invitations.length > 0,
    }),
    waitlistCount: t.relationCount('waitlist', { description: 'People waiting for a spot.' }),
    viewerWaitlistPosition: t.int({
      nullable: true,
      description: "The viewer's place in the waitlist (1 = next), or null when they are not on it.",
      select: (_args, ctx) => ({
        id: true,
        waitlist: { where: { userId: viewerIdOf(ctx) }, select: { id: true } },
      }),
      resolve: (e, _args, ctx) => {
        const entry = e.waitlist[0];
        return entry ? waitlistPosition(ctx.deps, e.id, entry.id) : null;
      },
    }),
    likeCount: t.relationCount('likes', { description: 'Likes.' }),
    viewerHasLiked: t.boolean({
      description: 'The viewer likes this event.',
      select: (_args, ctx) => ({ likes: { where: { userId: viewerIdOf(ctx) }, select: { userId: true } } }),
      resolve: (e) => e.likes.length > 0,
    }),
    shareCount: t.relationCount('shares', { description: 'Times it was shared with someone.' }),
    commentCount: t.relationCount('comments', { description: 'Comments.' }),
    comments: t.relatedConnection(
      'comments',
      {
        description: 'Comments, oldest first.',
        cursor: 'id',
        query: { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] },
      },
      CommentConnection,
    ),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it last changed.' }),
  }),
});

export const EventConnection = builder.connectionObject(
  { type: Event, name: 'EventConnection', description: 'A page of events.' },
  { name: 'EventEdge', description: 'An event in a page of events.' },
);

builder.prismaObjectField('User', 'hostedEvents', (t) =>
  t.relatedConnection(
    'hostedEvents',
    {
      description: 'Events this user hosts that the viewer may see, by start time.',
      cursor: 'id',
      query: (_args, ctx) => ({
        where: visibleEventWhere(ctx.viewer?.id),
        orderBy: [{ startsAt: 'asc' }, { id: 'asc' }],
      }),
    },
    EventConnection,
  ),
);

export const Bounds = builder
  .objectRef<{ south: number; west: number; north: number; east: number }>('Bounds')
  .implement({
    description: 'A box on the map.',
    fields: (t) => ({
      south: t.exposeFloat('south', { description: 'Southern edge in degrees.' }),
      west: t.exposeFloat('west', { description: 'Western edge in degrees.' }),
      north: t.exposeFloat('north', { description: 'Northern edge in degrees.' }),
      east: t.exposeFloat('east', { description: 'Eastern edge in degrees.' }),
    }),
  });

export const EventCluster = builder
  .objectRef<Omit<Cluster, 'eventId'> & { event: object | null }>('EventCluster')
  .implement({
    description: 'Events grouped for a zoomed-out map: those of one cell of the zoom’s grid.',
    fields: (t) => ({
      latitude: t.exposeFloat('latitude', { description: 'Mean latitude of the cluster’s events.' }),
      longitude: t.exposeFloat('longitude', { description: 'Mean longitude of the cluster’s events.' }),
      count: t.exposeInt('count', { description: 'How many events the viewer may see in the cluster.' }),
      bounds: t.field({
        type: Bounds,
        description: 'The box holding all of the cluster’s events: zoom to it to split the cluster.',
        resolve: (c) => c.bounds,
      }),
      event: t.field({
        type: Event,
        nullable: true,
        description: 'The event itself when count is 1; null otherwise.',
        resolve: (c) => c.event as never,
      }),
    }),
  });

// Inputs
export const BoundsInput = builder.inputType('BoundsInput', {
  description: 'A map viewport. west > east means it crosses the antimeridian.',
  fields: (t) => ({
    south: t.float({ required: true, description: 'Southern edge, −90 to 90.' }),
    west: t.float({ required: true, description: 'Western edge, −180 to 180.' }),
    north: t.float({ required: true, description: 'Northern edge, −90 to 90, not south of `south`.' }),
    east: t.float({ required: true, description: 'Eastern edge, −180 to 180.' }),
  }),
});

export const EventFilter = builder.inputType('EventFilter', {
  description: 'Narrows map queries and map subscriptions. All given conditions must hold.',
  fields: (t) => ({
    types: t.field({ type: [EventType], description: 'Any of these kinds.' }),
    startsAfter: t.field({ type: 'DateTime', description: 'Starting at or after this time.' }),
    startsBefore: t.field({ type: 'DateTime', description: 'Starting before this time.' }),
    interestTags: t.stringList({ description: 'Events carrying at least one of these tags.' }),
    statuses: t.field({ type: [EventStatus], description: 'Any of these statuses; default PUBLISHED only.' }),
    hostId: t.id({ description: 'Hosted by this user.' }),
    friendsOnly: t.boolean({ description: "Only events hosted by the viewer's friends (needs a signed-in viewer)." }),
  }),
});

export const CreateEventInput = builder.inputType('CreateEventInput', {
  description: 'A new event.',
  fields: (t) => ({
    title: t.string({ required: true, description: `1–${L.title} characters.` }),
    description: t.string({ description: `Up to ${L.description} characters.` }),
    latitude: t.float({ required: true, description: '−90 to 90.' }),
    longitude: t.float({ required: true, description: '−180 to 180.' }),
    locationName: t.string({ description: `Up to ${L.locationName} characters.` }),
    startsAt: t.field({ type: 'DateTime', required: true, description: 'Start time.' }),
    endsAt: t.field({ type: 'DateTime', required: true, description: 'End time, after startsAt.' }),
    isPublic: t.boolean({ description: 'Default false. Only certified users may have public events.' }),
    type: t.field({ type: EventType, description: 'Default OTHER.' }),
    status: t.field({ type: EventStatus, description: 'Default PUBLISHED.' }),
    maxParticipants: t.int({
      description: `Capacity, host included: ${L.maxParticipants.min}–${L.maxParticipants.max}, default ${L.maxParticipants.default}.`,
    }),
    interestTags: t.stringList({
      description: `Up to ${L.tags.maxItems} tags of ≤ ${L.tags.maxLength} characters; normalized.`,
    }),
    autoMatchingEnabled: t.boolean({ description: 'Default false. Invites matching users (see Event.matchedUsers).' }),
    invitedUserIds: t.idList({ description: `Users to invite right away (at most ${L.recipients}).` }),
  }),
});

export const UpdateEventInput = builder.inputType('UpdateEventInput', {
  description: 'Changes to an event; omitted fields stay as they are.',
  fields: (t) => ({
    title: t.string({ description: `1–${L.title} characters.` }),
    description: t.string({ description: `Up to ${L.description} characters.` }),
    latitude: t.float({ description: '−90 to 90.' }),
    longitude: t.float({ description: '−180 to 180.' }),
    locationName: t.string({ description: `Up to ${L.locationName} characters.` }),
    startsAt: t.field({ type: 'DateTime', description: 'Start time.' }),
    endsAt: t.field({ type: 'DateTime', description: 'End time, after startsAt.' }),
    isPublic: t.boolean({ description: 'Making an event public needs a certified host.' }),
    type: t.field({ type: EventType, description: 'The kind of meetup.' }),
    status: t.field({ type: EventStatus, description: 'CANCELLED cancels; a cancelled event cannot be reopened.' }),
    maxParticipants: t.int({
      description: `${L.maxParticipants.min}–${L.maxParticipants.max}, and not below the current attendee count.`,
    }),
    interestTags: t.stringList({ description: 'Replaces the tags.' }),
    autoMatchingEnabled: t.boolean({ description: 'Turning it on runs auto-matching now.' }),
  }),
});
