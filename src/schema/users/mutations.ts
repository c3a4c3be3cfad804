import { builder } from '../../builder.ts';
import * as accounts from '../../services/accounts/index.ts';
import * as profiles from '../../services/users/index.ts';
import { PROFILE_LIMITS as P } from '../../services/users/index.ts';
import { REMINDER_LIMITS } from '../../services/events/reminders.ts';

const SkillInput = builder.inputType('SkillInput', {
  description: 'A skill and a self-assessed level.',
  fields: (t) => ({
    name: t.string({ required: true, description: `1–${P.skills.name} characters.` }),
    level: t.string({ required: true, description: `1–${P.skills.level} characters, e.g. "beginner".` }),
  }),
});

const UpdateProfileInput = builder.inputType('UpdateProfileInput', {
  description: 'Profile changes; omitted fields stay as they are.',
  fields: (t) => ({
    fullName: t.string({ description: `At most ${P.fullName} characters.` }),
    university: t.string({ description: `At most ${P.university} characters.` }),
    degree: t.string({ description: `At most ${P.degree} characters.` }),
    year: t.string({ description: `At most ${P.year} characters.` }),
    bio: t.string({ description: `At most ${P.bio} characters.` }),
    interests: t.stringList({
      description: `Replaces the interests; normalized (trimmed, lower-case, unique), at most ${P.interests.maxItems} of ≤ ${P.interests.maxLength} characters.`,
    }),
    skills: t.field({
      type: [SkillInput],
      description: `Replaces the skills; at most ${P.skills.maxItems}, one per name.`,
    }),
    autoInviteEnabled: t.boolean({ description: 'Let auto-matching invite me.' }),
    preferredRadiusKm: t.float({
      description: `Auto-matching radius around home, ${P.preferredRadiusKm.min}–${P.preferredRadiusKm.max} km.`,
    }),
    homeLatitude: t.float({ description: 'Home latitude; set together with homeLongitude, null clears both.' }),
    homeLongitude: t.float({ description: 'Home longitude; set together with homeLatitude, null clears both.' }),
    reminderMinutesBefore: t.int({
      description: `Minutes before an attended event's start for a reminder, ${REMINDER_LIMITS.minutesBefore.min}–${REMINDER_LIMITS.minutesBefore.max}; null: no reminders. Reminders not sent yet follow the change.`,
    }),
  }),
});

builder.mutationFields((t) => ({
  updateProfile: t.withAuth({ signedIn: true }).prismaField({
    type: 'User',
    description: "Edits the signed-in user's profile and settings.",
    args: { input: t.arg({ type: UpdateProfileInput, required: true, description: 'The changes.' }) },
    resolve: (query, _root, { input }, ctx) => profiles.updateProfile(ctx.deps, ctx.viewer.id, input, query),
  }),
  suspendUser: t.withAuth({ admin: true }).prismaField({
    type: 'User',
    description:
      'Admin only. Ends every session of the user at once, on HTTP and WebSocket, on every instance; they cannot sign in until then (null: until unsuspended), and their events are off the map meanwhile. Suspending again replaces the end and the reason.',
    args: {
      userId: t.arg.id({ required: true, description: 'The user to suspend (not oneself).' }),
      until: t.arg({ type: 'DateTime', description: 'When it ends, in the future; null: until unsuspendUser.' }),
      reason: t.arg.string({
        required: true,
        description: `Why, 1–${accounts.SUSPENSION_LIMITS.reason} characters (kept for admins).`,
      }),
    },
    resolve: (query, _root, args, ctx) =>
      accounts.suspendUser(ctx.deps, ctx.viewer.id, String(args.userId), args.until, args.reason, query),
  }),
  unsuspendUser: t.withAuth({ admin: true }).prismaField({
    type: 'User',
    description: 'Admin only. Lifts a suspension at once; harmless when the user is not suspended.',
    args: { userId: t.arg.id({ required: true, description: 'The suspended user.' }) },
    resolve: (query, _root, args, ctx) => accounts.unsuspendUser(ctx.deps, String(args.userId), query),
  }),
  setUserCertified: t.withAuth({ admin: true }).prismaField({
    type: 'User',
    description: 'Admin only. Certified users may create public events.',
    args: {
      userId: t.arg.id({ required: true, description: 'The user to change.' }),
      certified: t.arg.boolean({ required: true, description: 'The new certification.' }),
    },
    resolve: (query, _root, args, ctx) => accounts.setCertified(ctx.deps, String(args.userId), args.certified, query),
  }),
}));
