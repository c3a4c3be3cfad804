// Accounts and sessions: registration, login, refresh-token rotation with reuse detection,
// logout, password changes and role changes. Every way a session ends goes through endSessions,
// which tells every instance (deps.sessions) so that its access tokens and sockets stop at once.
// No GraphQL here.
import type { AppDeps } from '../../context.ts';
import {
  accountGone,
  badInput,
  conflict,
  forbidden,
  isUniqueViolation,
  notFound,
  unauthenticated,
} from '../../lib/errors.ts';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../../auth/passwords.ts';
import { hashRefreshToken, newRefreshToken, REFRESH_TOKEN_TTL_SECONDS } from '../../auth/tokens.ts';
import type { Role } from '../../auth/tokens.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import type { User } from '../../generated/prisma/client.ts';
import { hasControlCharacters, INSTANT_RANGE, isUuid, text } from '../../lib/validation.ts';
import { isDatabaseUnavailable } from '../../db/faults.ts';

/** How long an access token lives (a session that ends stops its tokens at once, on every instance). */
export { ACCESS_TOKEN_TTL_SECONDS } from '../../auth/tokens.ts';

export const USERNAME_LENGTH = { min: 3, max: 30 } as const;
export const USERNAME_PATTERN = new RegExp(`^[a-z0-9_.]{${USERNAME_LENGTH.min},${USERNAME_LENGTH.max}}$`);
export const PASSWORD_LENGTH = { min: 8, max: 128 } as const;
/** The display name given at registration (the profile's fullName, see PROFILE_LIMITS). */
export const FULL_NAME_MAX = 150;

export interface Session {
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  user: User;
}

/** Usernames are case-insensitive: stored and compared lower-case. */
export function normalizeUsername(raw: string, field = 'username'): string {
  const username = raw.trim().toLowerCase();
  if (!USERNAME_PATTERN.test(username)) {
    throw badInput(
      field,
      `username must be ${USERNAME_LENGTH.min}–${USERNAME_LENGTH.max} characters of a-z, 0-9, "_" and "."`,
    );
  }
  return username;
}

function checkPassword(password: string, field: string): string {
  const length = [...password].length;
  if (length < PASSWORD_LENGTH.min || length > PASSWORD_LENGTH.max) {
    throw badInput(field, `password must be ${PASSWORD_LENGTH.min}–${PASSWORD_LENGTH.max} characters`);
  }
  return password;
}

function normalizeEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || hasControlCharacters(email) || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
    throw badInput('email', 'email is not a valid address');
  }
  return email;
}

export interface RegisterInput {
  username: string;
  password: string;
  email?: string | null;
  fullName?: string | null;
}

export async function register(deps: AppDeps, input: RegisterInput, clientIp: string): Promise<Session> {
  const username = normalizeUsername(input.username);
  const password = checkPassword(input.password, 'password');
  const email = input.email ? normalizeEmail(input.email) : null;
  const fullName = input.fullName ? text('fullName', input.fullName, { max: FULL_NAME_MAX }) : '';
  await deps.rateLimiter.consume('registerPerIp', clientIp);

  const passwordHash = await hashPassword(password);
  let user: User;
  try {
    user = await deps.prisma.user.create({
      data: { username, email, fullName, passwordHash, reputation: { create: { trustLevelId: 1 } } },
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      const target = JSON.stringify((error as { meta?: unknown }).meta ?? '');
      if (target.includes('email')) throw conflict('That email is already registered', { field: 'email' });
      throw conflict('That username is taken', { field: 'username' });
    }
    throw error;
  }
  return startSession(deps, user);
}

export async function login(deps: AppDeps, rawUsername: string, password: string, clientIp: string): Promise<Session> {
  const username = rawUsername.trim().toLowerCase().slice(0, 64);
  await deps.rateLimiter.consume('loginPerIp', clientIp);
  await deps.rateLimiter.consume('loginPerUsername', username);

  // A name that cannot exist is not looked up, and over-long passwords are not hashed; both
  // answer after the same delay as a wrong password.
  const user = USERNAME_PATTERN.test(username) ? await deps.prisma.user.findUnique({ where: { username } }) : null;
  const plausible = password.length <= PASSWORD_LENGTH.max * 4;
  if (!user || !plausible) {
    await burnPasswordCheck(plausible ? password : '');
    throw unauthenticated('Invalid username or password');
  }
  if (!(await verifyPassword(user.passwordHash, password))) throw unauthenticated('Invalid username or password');
  // Only the right password learns of a suspension.
  refuseSuspended(user);
  await deps.rateLimiter.reset('loginPerUsername', username);
  return startSession(deps, user);
}

/** Opens a new session family and issues its first token pair. */
async function startSession(deps: AppDeps, user: User): Promise<Session> {
  const refreshToken = newRefreshToken();
  const family = await deps.prisma.sessionFamily.create({
    data: {
      userId: user.id,
      tokens: { create: { tokenHash: hashRefreshToken(refreshToken), expiresAt: refreshExpiry() } },
    },
    select: { id: true },
  });
  return issue(deps, user, family.id, refreshToken);
}

async function issue(deps: AppDeps, user: User, sessionId: string, refreshToken: string): Promise<Session> {
  const { token, expiresAt } = await deps.tokens.sign(user.id, user.role, sessionId);
  return { accessToken: token, accessTokenExpiresAt: expiresAt, refreshToken, user };
}

const refreshExpiry = () => new Date(Date.now() + REFRESH_TOKEN_TTL_SECONDS * 1000);

/**
 * Exchanges a refresh token for a new pair. Each token works once: a second use means it
 * leaked, so the whole family is revoked and every device of that login must sign in again.
 */
export async function refreshSession(deps: AppDeps, refreshToken: string): Promise<Session> {
  const invalid = () => unauthenticated('Invalid or expired refresh token');
  if (refreshToken.length > 200) throw invalid();
  const stored = await deps.prisma.refreshToken.findUnique({
    where: { tokenHash: hashRefreshToken(refreshToken) },
    include: { family: { include: { user: true } } },
  });
  if (!stored || stored.family.revokedAt) throw invalid();
  if (stored.expiresAt <= new Date()) throw invalid();
  refuseSuspended(stored.family.user);

  const next = newRefreshToken();
  const rotated = await deps.prisma.$transaction(async (tx) => {
    // Conditional update: of two concurrent uses of one token, exactly one wins.
    const claimed = await tx.refreshToken.updateMany({
      where: { id: stored.id, usedAt: null },
      data: { usedAt: new Date() },
    });
    if (claimed.count === 0) return false;
    await tx.refreshToken.create({
      data: { familyId: stored.familyId, tokenHash: hashRefreshToken(next), expiresAt: refreshExpiry() },
    });
    return true;
  });
  if (!rotated) {
    await endSessions(deps, await revokeFamilies(deps.prisma, { id: stored.familyId }));
    deps.logger.warn(
      { userId: stored.family.userId, familyId: stored.familyId },
      'refresh token reuse: session family revoked',
    );
    throw unauthenticated('Refresh token was already used; all sessions of this login were signed out');
  }
  return issue(deps, stored.family.user, stored.familyId, next);
}

type Db = Pick<AppDeps['prisma'], 'sessionFamily'>;

/** Revokes the live session families that match; their ids, for endSessions once committed. */
export async function revokeFamilies(db: Db, where: { id?: string; userId?: string }): Promise<string[]> {
  const revoked = await db.sessionFamily.updateManyAndReturn({
    where: { ...where, revokedAt: null },
    data: { revokedAt: new Date() },
    select: { id: true },
  });
  return revoked.map((family) => family.id);
}

/** After the revocation committed: every instance refuses the sessions' access tokens and closes their sockets. */
export async function endSessions(deps: Pick<AppDeps, 'sessions'>, sessionIds: readonly string[]): Promise<number> {
  await deps.sessions.end(sessionIds);
  return sessionIds.length;
}

/** Ends the session the refresh token belongs to. False when it names no live session. */
export async function logout(deps: AppDeps, refreshToken: string): Promise<boolean> {
  if (refreshToken.length > 200) return false;
  const stored = await deps.prisma.refreshToken.findUnique({
    where: { tokenHash: hashRefreshToken(refreshToken) },
    select: { familyId: true },
  });
  if (!stored) return false;
  return (await endSessions(deps, await revokeFamilies(deps.prisma, { id: stored.familyId }))) > 0;
}

export async function logoutAllSessions(deps: AppDeps, userId: string): Promise<boolean> {
  await endSessions(deps, await revokeFamilies(deps.prisma, { userId }));
  return true;
}

/** Changes the password and signs out every session, as a stolen session should not survive it. */
export async function changePassword(
  deps: AppDeps,
  userId: string,
  currentPassword: string,
  newPassword: string,
): Promise<boolean> {
  checkPassword(newPassword, 'newPassword');
  // A stolen access token must not become an unthrottled password oracle.
  await deps.rateLimiter.consume('changePasswordPerUser', userId);
  const user = await deps.prisma.user.findUnique({ where: { id: userId } });
  if (!user) throw unauthenticated();
  if (currentPassword.length > PASSWORD_LENGTH.max * 4 || !(await verifyPassword(user.passwordHash, currentPassword))) {
    throw badInput('currentPassword', 'Current password is wrong');
  }
  const passwordHash = await hashPassword(newPassword);
  const ended = await deps.prisma.$transaction(async (tx) => {
    await tx.user.update({ where: { id: userId }, data: { passwordHash } });
    return revokeFamilies(tx, { userId });
  });
  await endSessions(deps, ended);
  return true;
}

export const SUSPENSION_LIMITS = { reason: 500 } as const;
/** suspendedUntil of a suspension without an end (until an admin lifts it). */
export const SUSPENDED_INDEFINITELY = INSTANT_RANGE.max;

/** Whether the user is suspended now. */
export const isSuspended = (user: Pick<User, 'suspendedUntil'>) =>
  user.suspendedUntil !== null && user.suspendedUntil > new Date();

function refuseSuspended(user: Pick<User, 'suspendedUntil'>): void {
  if (!isSuspended(user)) return;
  const until =
    user.suspendedUntil!.getTime() === SUSPENDED_INDEFINITELY.getTime()
      ? 'until an admin lifts it'
      : `until ${user.suspendedUntil!.toISOString()}`;
  throw forbidden(`This account is suspended ${until}`);
}

/**
 * Admin only. Suspends a user until `until` (null: until unsuspended): every session of theirs
 * ends at once on every instance, they cannot sign in meanwhile, and their events leave the map
 * (src/services/events/search.ts). Suspending again replaces the end and the reason.
 */
export async function suspendUser(
  deps: AppDeps,
  adminId: string,
  userId: string,
  until: Date | null | undefined,
  rawReason: string,
  query: object = {},
) {
  if (userId === adminId) throw badInput('userId', 'You cannot suspend yourself');
  if (until && until <= new Date()) throw badInput('until', 'until must be in the future');
  const reason = text('reason', rawReason, { min: 1, max: SUSPENSION_LIMITS.reason });
  if (!isUuid(userId)) throw notFound('User', { field: 'userId' });
  const ended = await deps.prisma.$transaction((tx) => suspendInTx(tx, userId, until, reason));
  await endSessions(deps, ended);
  deps.logger.info({ adminId, userId, until, sessionsEnded: ended.length }, 'user suspended');
  return deps.prisma.user.findUniqueOrThrow({ ...query, where: { id: userId } });
}

/**
 * Suspends in the caller's transaction (suspendUser, moderation's SUSPEND_USER): the sessions
 * it revoked, for endSessions after the commit. NOT_FOUND (userId) for no such user.
 */
export async function suspendInTx(
  tx: Prisma.TransactionClient,
  userId: string,
  until: Date | null | undefined,
  reason: string,
): Promise<string[]> {
  const { count } = await tx.user.updateMany({
    where: { id: userId },
    data: {
      suspendedUntil: until ?? SUSPENDED_INDEFINITELY,
      suspensionReason: reason.slice(0, SUSPENSION_LIMITS.reason),
    },
  });
  if (count === 0) throw notFound('User', { field: 'userId' });
  return revokeFamilies(tx, { userId });
}

/** Admin only. Lifts a suspension (none: harmless). */
export async function unsuspendUser(deps: AppDeps, userId: string, query: object = {}) {
  if (!isUuid(userId)) throw notFound('User', { field: 'userId' });
  const { count } = await deps.prisma.user.updateMany({
    where: { id: userId },
    data: { suspendedUntil: null, suspensionReason: null },
  });
  if (count === 0) throw notFound('User', { field: 'userId' });
  return deps.prisma.user.findUniqueOrThrow({ ...query, where: { id: userId } });
}

export async function setCertified(deps: AppDeps, userId: string, certified: boolean, query: object = {}) {
  if (!isUuid(userId)) throw notFound('User');
  const { count } = await deps.prisma.user.updateMany({ where: { id: userId }, data: { isCertified: certified } });
  if (count === 0) throw notFound('User');
  return deps.prisma.user.findUniqueOrThrow({ ...query, where: { id: userId } });
}

/**
 * Gives a user a role (the `user:admin` script grants ADMIN). A change ends every session of the
 * user, on every instance: a demoted admin's tokens and sockets stop at once, and whoever holds
 * the new role signs in again to a session that has it. Setting the role the user has is a no-op.
 */
export async function setRole(
  deps: Pick<AppDeps, 'prisma' | 'sessions'>,
  rawUsername: string,
  role: Role,
): Promise<{ user: User; sessionsEnded: number }> {
  const username = normalizeUsername(rawUsername);
  const ended = await deps.prisma.$transaction(async (tx) => {
    const { count } = await tx.user.updateMany({ where: { username, role: { not: role } }, data: { role } });
    if (count === 0) {
      if (!(await tx.user.count({ where: { username } }))) throw notFound(`User "${username}"`);
      return [];
    }
    const user = await tx.user.findUniqueOrThrow({ where: { username }, select: { id: true } });
    return revokeFamilies(tx, { userId: user.id });
  });
  const sessionsEnded = await endSessions(deps, ended);
  return { user: await deps.prisma.user.findUniqueOrThrow({ where: { username } }), sessionsEnded };
}

/**
 * In a transaction that makes rows of the user's (an event they host, an attendance, an image):
 * the user's row lock, FOR KEY SHARE (or `noKeyUpdate` when the caller also orders its own
 * writers), which waits for an account deletion in progress; then a deleted account is refused
 * (UNAUTHENTICATED), so nothing is made for a tombstone by a request that was already running.
 */
export async function lockLiveAccount(tx: Prisma.TransactionClient, userId: string, noKeyUpdate = false) {
  const lock = Prisma.raw(noKeyUpdate ? 'FOR NO KEY UPDATE' : 'FOR KEY SHARE');
  const [row] = await tx.$queryRaw<Array<{ live: boolean }>>`
    SELECT deleted_at IS NULL AS live FROM users WHERE id = ${userId}::uuid ${lock}`;
  if (!row?.live) throw accountGone();
}

/**
 * Whether the account behind a valid access token still exists. Tokens are not checked against
 * the database on each request, so an account deleted meanwhile is found out when an operation
 * by it fails; the schema then asks this once and answers UNAUTHENTICATED (accountGone).
 */
export async function accountExists(deps: Pick<AppDeps, 'prisma'>, userId: string): Promise<boolean> {
  return (await deps.prisma.user.count({ where: { id: userId, deletedAt: null } })) > 0;
}

/**
 * Whether an operation of this user failed because their account is gone (a token outlives its
 * account). Not asked when the database cannot answer now: the check would only wait out its
 * deadline too.
 */
export async function failedForGoneAccount(
  deps: Pick<AppDeps, 'prisma'>,
  userId: string,
  error: unknown,
): Promise<boolean> {
  return !isDatabaseUnavailable(error) && !(await accountExists(deps, userId));
}
