import { builder } from '../../builder.ts';
import { isSuspended, SUSPENDED_INDEFINITELY } from '../../services/accounts/index.ts';
import { DELETED_ACCOUNT_NAME } from '../../services/accounts/deletion.ts';
import { REMINDER_LIMITS } from '../../services/events/reminders.ts';
import { HOME_CELL_KM } from '../../services/events/geo.ts';
import type { SkillInput } from '../../services/users/index.ts';
import { seesSocialCircle, socialCircleSelect } from '../../services/social/index.ts';
import { isAdmin, viewerIdOf } from '../viewer.ts';

export const Role = builder.enumType('Role', {
  description: 'What a user may do beyond their own data.',
  values: {
    USER: { description: 'A regular member.' },
    ADMIN: { description: 'May certify users and moderate.' },
  } as const,
});

export const Skill = builder.objectRef<SkillInput>('Skill').implement({
  description: 'A skill a user lists on their profile.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'What the skill is, e.g. "Python".' }),
    level: t.exposeString('level', { description: 'How good they are at it, in their own words, e.g. "advanced".' }),
  }),
});

export const TrustLevel = builder.prismaObject('TrustLevel', {
  description: 'A reputation tier, reached with enough ratings at a high enough average.',
  fields: (t) => ({
    level: t.exposeInt('level', { description: 'Rank of the tier, 1 for newcomers.' }),
    title: t.exposeString('title', { description: 'Display name of the tier.' }),
    requiredRatings: t.exposeInt('requiredRatings', { description: 'Ratings received needed for this tier.' }),
    minAverageRating: t.exposeFloat('minAverageRating', { description: 'Average rating needed for this tier.' }),
  }),
});

export const Reputation = builder.prismaObject('Reputation', {
  description: "A user's standing: rating totals and how many events they hosted and attended.",
  fields: (t) => ({
    totalRatings: t.exposeInt('totalRatings', { description: 'Ratings received.' }),
    averageRating: t.exposeFloat('averageRating', { description: 'Mean score of the ratings received, 0 when none.' }),
    trustLevel: t.relation('trustLevel', { nullable: true, description: 'The highest tier whose thresholds are met.' }),
    eventsHosted: t.exposeInt('eventsHosted', { description: 'Events hosted and not cancelled.' }),
    eventsAttended: t.exposeInt('eventsAttended', { description: 'Events attended as a guest.' }),
  }),
});

const EMPTY_REPUTATION = {
  totalRatings: 0,
  ratingSum: 0,
  averageRating: 0,
  eventsHosted: 0,
  eventsAttended: 0,
  trustLevelId: 1,
};

export interface SettingsSource {
  autoInviteEnabled: boolean;
  preferredRadiusKm: number;
  homeLatitude: number | null;
  homeLongitude: number | null;
  reminderMinutesBefore: number | null;
}

export const UserSettings = builder.objectRef<SettingsSource>('UserSettings').implement({
  description: "A user's private preferences; only the user can read them.",
  fields: (t) => ({
    autoInviteEnabled: t.exposeBoolean('autoInviteEnabled', {
      description: 'Auto-matching may invite this user to events that share their interests.',
    }),
    preferredRadiusKm: t.exposeFloat('preferredRadiusKm', {
      description: `How far from home auto-matched events may be, measured from the centre of the home's ${HOME_CELL_KM} km grid cell.`,
    }),
    homeLatitude: t.exposeFloat('homeLatitude', {
      nullable: true,
      description:
        'Home latitude, as set. Auto-matching uses only its grid cell, and hosts never see who it matched before they join.',
    }),
    homeLongitude: t.exposeFloat('homeLongitude', {
      nullable: true,
      description: 'Home longitude, used for auto-matching.',
    }),
    reminderMinutesBefore: t.exposeInt('reminderMinutesBefore', {
      nullable: true,
      description: `Minutes before an attended or hosted event's start for an EVENT_REMINDER (${REMINDER_LIMITS.minutesBefore.min}–${REMINDER_LIMITS.minutesBefore.max}, default ${REMINDER_LIMITS.minutesBefore.default}); null: no reminders.`,
    }),
  }),
});

export const User = builder.prismaObject('User', {
  description: 'A PinIt member and their public profile.',
  // Only the columns a query's fields need are read (never the password hash of a map's
  // hosts); a field reading more declares it in its `select`.
  select: { id: true },
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The user’s UUID.' }),
    username: t.exposeString('username', { description: 'Unique handle, lower-case.' }),
    fullName: t.exposeString('fullName', { description: 'Display name; may be empty.' }),
    university: t.exposeString('university', { description: 'University or school; may be empty.' }),
    degree: t.exposeString('degree', { description: 'Degree or programme; may be empty.' }),
    year: t.exposeString('year', { description: 'Year of study, free text; may be empty.' }),
    bio: t.exposeString('bio', { description: 'About the user; may be empty.' }),
    interests: t.exposeStringList('interests', { description: 'Interest tags: trimmed, lower-case, unique.' }),
    skills: t.field({
      type: [Skill],
      description: 'Skills with self-assessed levels.',
      select: { skills: true },
      resolve: (user) => (Array.isArray(user.skills) ? (user.skills as unknown as SkillInput[]) : []),
    }),
    isCertified: t.exposeBoolean('isCertified', { description: 'May create public events.' }),
    isDeleted: t.boolean({
      description: `The account was deleted: what is left is a tombstone named "${DELETED_ACCOUNT_NAME}" that the chats, events and ratings of others still show, with nothing of the person.`,
      select: { deletedAt: true },
      resolve: (user) => user.deletedAt !== null,
    }),
    role: t.expose('role', { type: Role, description: 'USER or ADMIN.' }),
    reputation: t.field({
      type: Reputation,
      description: 'Rating totals and event counts.',
      select: (_args, _ctx, nestedSelection) => ({ reputation: nestedSelection() }),
      // Every account gets a reputation row at registration; a user inserted by other tools
      // reads as a newcomer rather than failing (and a read never writes).
      resolve: (user) => user.reputation ?? { ...EMPTY_REPUTATION, userId: user.id },
    }),
    lastSeenAt: t.field({
      type: 'DateTime',
      nullable: true,
      description:
        'When the user was last connected; null if never. Only the user and their friends see it; null for anyone else (anonymous viewers included).',
      select: (_args, ctx) => ({ lastSeenAt: true, ...socialCircleSelect(viewerIdOf(ctx)) }),
      resolve: (user, _args, ctx) => (seesSocialCircle(user, ctx.viewer?.id) ? user.lastSeenAt : null),
    }),
    suspendedUntil: t.field({
      type: 'DateTime',
      nullable: true,
      description: `Until when the account is suspended (${SUSPENDED_INDEFINITELY.toISOString()}: until an admin lifts it); null when not suspended, or not visible to the viewer. Visible to admins and the user.`,
      select: { suspendedUntil: true },
      resolve: (user, _args, ctx) => {
        const sees = ctx.viewer?.id === user.id || isAdmin(ctx);
        return sees && isSuspended(user) ? user.suspendedUntil : null;
      },
    }),
    settings: t.field({
      type: UserSettings,
      nullable: true,
      description: 'Only for the user themself; null for everyone else.',
      select: {
        autoInviteEnabled: true,
        preferredRadiusKm: true,
        homeLatitude: true,
        homeLongitude: true,
        reminderMinutesBefore: true,
      },
      resolve: (user, _args, ctx) => (ctx.viewer?.id === user.id ? user : null),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the account was created.' }),
  }),
});

export const UserConnection = builder.connectionObject(
  { type: User, name: 'UserConnection', description: 'A page of users.' },
  { name: 'UserEdge', description: 'A user in a page of users.' },
);
