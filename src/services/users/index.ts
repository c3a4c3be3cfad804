// Profiles: the editable parts of a user, and finding users.
import type { AppDeps } from '../../context.ts';
import { badInput } from '../../lib/errors.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import { escapeLike, isUuid, latitude, longitude, normalizeTags, text } from '../../lib/validation.ts';
import { FULL_NAME_MAX, normalizeUsername } from '../accounts/index.ts';
import { REMINDER_LIMITS, rescheduleUserReminders } from '../events/reminders.ts';

export interface SkillInput {
  name: string;
  level: string;
}

/** Fields absent from the input are left alone; homeLatitude/homeLongitude null clears the home, reminderMinutesBefore null turns reminders off. */
export interface UpdateProfileInput {
  fullName?: string | null;
  university?: string | null;
  degree?: string | null;
  year?: string | null;
  bio?: string | null;
  interests?: readonly string[] | null;
  skills?: readonly SkillInput[] | null;
  autoInviteEnabled?: boolean | null;
  preferredRadiusKm?: number | null;
  homeLatitude?: number | null;
  homeLongitude?: number | null;
  /** Null turns reminders off; absent leaves the setting as it is. */
  reminderMinutesBefore?: number | null;
}

export const PROFILE_LIMITS = {
  fullName: FULL_NAME_MAX,
  university: 150,
  degree: 150,
  year: 30,
  bio: 2000,
  interests: { maxItems: 30, maxLength: 50 },
  skills: { maxItems: 30, name: 50, level: 30 },
  preferredRadiusKm: { min: 0.1, max: 500 },
} as const;

function normalizeSkills(skills: readonly SkillInput[]): SkillInput[] {
  if (skills.length > PROFILE_LIMITS.skills.maxItems) {
    throw badInput('skills', `skills may hold at most ${PROFILE_LIMITS.skills.maxItems} items`);
  }
  const byName = new Map<string, SkillInput>();
  for (const skill of skills) {
    const name = text('skills.name', skill.name, { min: 1, max: PROFILE_LIMITS.skills.name });
    const level = text('skills.level', skill.level, { min: 1, max: PROFILE_LIMITS.skills.level });
    // One entry per skill name; a later duplicate wins, as it is the newer statement.
    byName.set(name.toLowerCase(), { name, level });
  }
  return [...byName.values()];
}

export function profileUpdateData(input: UpdateProfileInput): Prisma.UserUpdateInput {
  const data: Prisma.UserUpdateInput = {};
  for (const field of ['fullName', 'university', 'degree', 'year', 'bio'] as const) {
    const value = input[field];
    if (value !== undefined && value !== null) data[field] = text(field, value, { max: PROFILE_LIMITS[field] });
  }
  if (input.interests) data.interests = normalizeTags('interests', input.interests, PROFILE_LIMITS.interests);
  if (input.skills) data.skills = normalizeSkills(input.skills) as unknown as Prisma.InputJsonValue;
  if (input.autoInviteEnabled !== undefined && input.autoInviteEnabled !== null)
    data.autoInviteEnabled = input.autoInviteEnabled;
  if (input.preferredRadiusKm !== undefined && input.preferredRadiusKm !== null) {
    const { min, max } = PROFILE_LIMITS.preferredRadiusKm;
    const r = input.preferredRadiusKm;
    if (!Number.isFinite(r) || r < min || r > max)
      throw badInput('preferredRadiusKm', `preferredRadiusKm must be between ${min} and ${max}`);
    data.preferredRadiusKm = r;
  }
  const latGiven = input.homeLatitude !== undefined;
  const lngGiven = input.homeLongitude !== undefined;
  if (latGiven || lngGiven) {
    const lat = input.homeLatitude ?? null;
    const lng = input.homeLongitude ?? null;
    if (!latGiven || !lngGiven || (lat === null) !== (lng === null)) {
      throw badInput(
        latGiven ? 'homeLongitude' : 'homeLatitude',
        'homeLatitude and homeLongitude are set (or cleared) together',
      );
    }
    data.homeLatitude = lat === null ? null : latitude('homeLatitude', lat);
    data.homeLongitude = lng === null ? null : longitude('homeLongitude', lng);
  }
  if (input.reminderMinutesBefore !== undefined) {
    const { min, max } = REMINDER_LIMITS.minutesBefore;
    const m = input.reminderMinutesBefore;
    if (m !== null && (!Number.isInteger(m) || m < min || m > max))
      throw badInput('reminderMinutesBefore', `reminderMinutesBefore must be between ${min} and ${max}, or null`);
    data.reminderMinutesBefore = m;
  }
  return data;
}

export async function updateProfile(deps: AppDeps, userId: string, input: UpdateProfileInput, query: object = {}) {
  const data = profileUpdateData(input);
  if (input.reminderMinutesBefore === undefined)
    return deps.prisma.user.update({ ...query, where: { id: userId }, data });
  return deps.prisma.$transaction(async (tx) => {
    const user = await tx.user.update({ ...query, where: { id: userId }, data });
    await rescheduleUserReminders(tx, userId);
    return user;
  });
}

/** Finds one user by id or username: exactly one of the two. Unknown → null. */
export function userLookup(args: { id?: string | null; username?: string | null }): Prisma.UserWhereUniqueInput | null {
  if ((args.id ? 1 : 0) + (args.username ? 1 : 0) !== 1)
    throw badInput(args.id ? 'username' : 'id', 'Give exactly one of id and username');
  if (args.id) return isUuid(args.id) ? { id: args.id } : null;
  try {
    return { username: normalizeUsername(args.username!) };
  } catch {
    return null;
  }
}

export const SEARCH_QUERY_MAX = 100;

/** Users whose username or full name contains the query, case-insensitively. */
export function searchUsersWhere(rawQuery: string): Prisma.UserWhereInput {
  const query = escapeLike(text('query', rawQuery, { min: 1, max: SEARCH_QUERY_MAX }));
  return {
    deletedAt: null,
    OR: [{ username: { contains: query.toLowerCase() } }, { fullName: { contains: query, mode: 'insensitive' } }],
  };
}
