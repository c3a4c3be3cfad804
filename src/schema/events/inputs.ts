import { builder } from '../../builder.ts';
import { EventStatus, EventType } from './types.ts';

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
    title: t.string({ required: true, description: '1–255 characters.' }),
    description: t.string({ description: 'Up to 5000 characters.' }),
    latitude: t.float({ required: true, description: '−90 to 90.' }),
    longitude: t.float({ required: true, description: '−180 to 180.' }),
    locationName: t.string({ description: 'Up to 255 characters.' }),
    startsAt: t.field({ type: 'DateTime', required: true, description: 'Start time.' }),
    endsAt: t.field({ type: 'DateTime', required: true, description: 'End time, after startsAt.' }),
    isPublic: t.boolean({ description: 'Default false. Only certified users may have public events.' }),
    type: t.field({ type: EventType, description: 'Default OTHER.' }),
    status: t.field({ type: EventStatus, description: 'Default PUBLISHED.' }),
    maxParticipants: t.int({ description: 'Capacity, host included: 1–1000, default 10.' }),
    interestTags: t.stringList({ description: 'Up to 20 tags of ≤ 50 characters; normalized.' }),
    autoMatchingEnabled: t.boolean({ description: 'Default false. Invites matching users (see Event.matchedUsers).' }),
    invitedUserIds: t.idList({ description: 'Users to invite right away (at most 100).' }),
  }),
});

export const UpdateEventInput = builder.inputType('UpdateEventInput', {
  description: 'Changes to an event; omitted fields stay as they are.',
  fields: (t) => ({
    title: t.string({ description: '1–255 characters.' }),
    description: t.string({ description: 'Up to 5000 characters.' }),
    latitude: t.float({ description: '−90 to 90.' }),
    longitude: t.float({ description: '−180 to 180.' }),
    locationName: t.string({ description: 'Up to 255 characters.' }),
    startsAt: t.field({ type: 'DateTime', description: 'Start time.' }),
    endsAt: t.field({ type: 'DateTime', description: 'End time, after startsAt.' }),
    isPublic: t.boolean({ description: 'Making an event public needs a certified host.' }),
    type: t.field({ type: EventType, description: 'The kind of meetup.' }),
    status: t.field({ type: EventStatus, description: 'CANCELLED cancels; a cancelled event cannot be reopened.' }),
    maxParticipants: t.int({ description: '1–1000, and not below the current attendee count.' }),
    interestTags: t.stringList({ description: 'Replaces the tags.' }),
    autoMatchingEnabled: t.boolean({ description: 'Turning it on runs auto-matching now.' }),
  }),
});
