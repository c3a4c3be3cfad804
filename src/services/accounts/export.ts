// Data export (GDPR articles 15 and 20): one JSON document with everything the server keeps
// about a user, reached through a signed link that expires (src/auth/links.ts) and dies with
// the session that asked for it. The document is built when the link is followed, from the
// rows as they are then, and streamed section by section in pages, so an account with years of
// messages costs the server one page of memory, not the whole history.
import type { AppDeps, Viewer } from '../../context.ts';
import { accountGone } from '../../lib/errors.ts';

/** The path exports are downloaded from (served by src/transport/exports.ts). */
export const EXPORT_PATH = '/exports/pinit-data.json';
export const EXPORT_PURPOSE = 'export';
/** The document's format, for whoever reads it back. */
export const EXPORT_FORMAT = 'pinit-export/1';
/** Rows read per statement. */
const PAGE = 500;

/** A link to the viewer's export; exportsPerUser bounds how many a user asks for. */
export async function requestExport(deps: AppDeps, viewer: Viewer): Promise<{ url: string; expiresAt: Date }> {
  await deps.rateLimiter.consume('exportsPerUser', viewer.id);
  if (!(await deps.prisma.user.count({ where: { id: viewer.id, deletedAt: null } }))) throw accountGone();
  return deps.downloads.sign(EXPORT_PATH, { userId: viewer.id, sessionId: viewer.sessionId, purpose: EXPORT_PURPOSE });
}

type Rows = AsyncIterable<unknown>;

/** Keyset pages over rows with a text id. */
async function* byId<T extends { id: string }>(fetch: (after: { id?: { gt: string } }) => Promise<T[]>): Rows {
  let after: { id?: { gt: string } } = {};
  for (;;) {
    const rows = await fetch(after);
    yield* rows;
    if (rows.length < PAGE) return;
    after = { id: { gt: rows.at(-1)!.id } };
  }
}

/** Offset pages over rows without a single id, in a stable order. */
async function* byOffset<T>(fetch: (page: { skip: number; take: number }) => Promise<T[]>): Rows {
  for (let skip = 0; ; skip += PAGE) {
    const rows = await fetch({ skip, take: PAGE });
    yield* rows;
    if (rows.length < PAGE) return;
  }
}

const person = { select: { id: true, username: true, fullName: true } } as const;
const eventSummary = { select: { id: true, title: true, startsAt: true, status: true } } as const;

/**
 * The export of a user, as chunks of one JSON document: the profile and settings, then one
 * array per kind of row. Null when the account is gone.
 */
export async function exportDocument(
  deps: Pick<AppDeps, 'prisma' | 'storage'>,
  userId: string,
): Promise<AsyncIterable<string> | null> {
  const db = deps.prisma;
  const user = await db.user.findFirst({ where: { id: userId, deletedAt: null }, include: { reputation: true } });
  if (!user) return null;
  const take = PAGE;
  const sections: Record<string, () => Rows> = {
    images: () =>
      byId((after) =>
        db.image
          .findMany({ where: { userId, ...after }, orderBy: { id: 'asc' }, take })
          .then((rows) => rows.map(({ key, ...image }) => ({ ...image, url: deps.storage.publicUrl(key) }))),
      ),
    eventsHosted: () =>
      byId((after) => db.event.findMany({ where: { hostId: userId, ...after }, orderBy: { id: 'asc' }, take })),
    eventsAttended: () =>
      byOffset((page) =>
        db.eventAttendee.findMany({
          where: { userId },
          orderBy: { eventId: 'asc' },
          select: { joinedAt: true, event: eventSummary },
          ...page,
        }),
      ),
    waitlists: () =>
      byOffset((page) =>
        db.eventWaitlistEntry.findMany({
          where: { userId },
          orderBy: { id: 'asc' },
          select: { joinedAt: true, event: eventSummary },
          ...page,
        }),
      ),
    invitationsReceived: () =>
      byOffset((page) =>
        db.eventInvitation.findMany({
          where: { userId },
          orderBy: { eventId: 'asc' },
          select: {
            event: eventSummary,
            invitedBy: person,
            isAutoMatched: true,
            createdAt: true,
            acceptedAt: true,
            declinedAt: true,
          },
          ...page,
        }),
      ),
    invitationsSent: () =>
      byOffset((page) =>
        db.eventInvitation.findMany({
          where: { invitedById: userId },
          orderBy: [{ eventId: 'asc' }, { userId: 'asc' }],
          select: { event: eventSummary, user: person, createdAt: true, acceptedAt: true, declinedAt: true },
          ...page,
        }),
      ),
    ratingsGiven: () =>
      byId((after) =>
        db.rating.findMany({
          where: { raterId: userId, ...after },
          orderBy: { id: 'asc' },
          take,
          include: { rated: person },
        }),
      ),
    ratingsReceived: () =>
      byId((after) =>
        db.rating.findMany({
          where: { ratedId: userId, ...after },
          orderBy: { id: 'asc' },
          take,
          include: { rater: person },
        }),
      ),
    friends: () =>
      byOffset((page) =>
        db.friendship
          .findMany({
            where: { OR: [{ userAId: userId }, { userBId: userId }] },
            orderBy: [{ userAId: 'asc' }, { userBId: 'asc' }],
            select: { createdAt: true, userA: person, userB: person },
            ...page,
          })
          .then((rows) => rows.map((f) => ({ since: f.createdAt, friend: f.userA.id === userId ? f.userB : f.userA }))),
      ),
    friendRequests: () =>
      byId((after) =>
        db.friendRequest.findMany({
          where: { OR: [{ fromId: userId }, { toId: userId }], ...after },
          orderBy: { id: 'asc' },
          take,
          select: { id: true, createdAt: true, from: person, to: person },
        }),
      ),
    blockedUsers: () =>
      byOffset((page) =>
        db.userBlock.findMany({
          where: { blockerId: userId },
          orderBy: { blockedId: 'asc' },
          select: { createdAt: true, blocked: person },
          ...page,
        }),
      ),
    chats: () =>
      byOffset((page) =>
        db.chatMember.findMany({
          where: { userId },
          orderBy: { chatId: 'asc' },
          select: { joinedAt: true, chat: { select: { id: true, kind: true, title: true, eventId: true } } },
          ...page,
        }),
      ),
    messagesSent: () =>
      byId((after) =>
        db.message.findMany({
          where: { senderId: userId, ...after },
          orderBy: { id: 'asc' },
          take,
          select: { id: true, chatId: true, body: true, createdAt: true, editedAt: true, deletedAt: true },
        }),
      ),
    comments: () =>
      byId((after) =>
        db.eventComment.findMany({
          where: { authorId: userId, ...after },
          orderBy: { id: 'asc' },
          take,
          select: { id: true, eventId: true, body: true, createdAt: true },
        }),
      ),
    likes: () =>
      byOffset((page) =>
        db.eventLike.findMany({
          where: { userId },
          orderBy: { eventId: 'asc' },
          select: { createdAt: true, event: eventSummary },
          ...page,
        }),
      ),
    shares: () =>
      byId((after) =>
        db.eventShare.findMany({
          where: { OR: [{ sharedById: userId }, { sharedWithId: userId }], ...after },
          orderBy: { id: 'asc' },
          take,
          select: { id: true, createdAt: true, event: eventSummary, sharedBy: person, sharedWith: person },
        }),
      ),
    notifications: () =>
      byId((after) =>
        db.notification.findMany({
          where: { recipientId: userId, ...after },
          orderBy: { id: 'asc' },
          take,
          select: { id: true, kind: true, text: true, eventId: true, actorId: true, createdAt: true, readAt: true },
        }),
      ),
    devices: () =>
      byId((after) =>
        db.device.findMany({
          where: { userId, ...after },
          orderBy: { id: 'asc' },
          take,
          select: { id: true, platform: true, token: true, createdAt: true, updatedAt: true },
        }),
      ),
    sessions: () =>
      byId((after) =>
        db.sessionFamily.findMany({
          where: { userId, ...after },
          orderBy: { id: 'asc' },
          take,
          select: { id: true, createdAt: true, revokedAt: true },
        }),
      ),
    reportsFiled: () =>
      byId((after) =>
        db.report.findMany({
          where: { reporterId: userId, ...after },
          orderBy: { id: 'asc' },
          take,
          select: {
            id: true,
            subject: true,
            subjectId: true,
            reason: true,
            details: true,
            status: true,
            createdAt: true,
            resolvedAt: true,
          },
        }),
      ),
  };
  const head = {
    format: EXPORT_FORMAT,
    exportedAt: new Date(),
    profile: {
      id: user.id,
      username: user.username,
      email: user.email,
      fullName: user.fullName,
      university: user.university,
      degree: user.degree,
      year: user.year,
      bio: user.bio,
      interests: user.interests,
      skills: user.skills,
      role: user.role,
      isCertified: user.isCertified,
      suspendedUntil: user.suspendedUntil,
      lastSeenAt: user.lastSeenAt,
      createdAt: user.createdAt,
    },
    settings: {
      autoInviteEnabled: user.autoInviteEnabled,
      preferredRadiusKm: user.preferredRadiusKm,
      homeLatitude: user.homeLatitude,
      homeLongitude: user.homeLongitude,
      reminderMinutesBefore: user.reminderMinutesBefore,
    },
    reputation: user.reputation && { ...user.reputation, userId: undefined },
  };
  return (async function* () {
    // The head without its closing brace, then each section as `,"name":[…]`.
    yield JSON.stringify(head).slice(0, -1);
    for (const [name, rows] of Object.entries(sections)) {
      yield `,${JSON.stringify(name)}:[`;
      let first = true;
      for await (const row of rows()) {
        yield (first ? '' : ',') + JSON.stringify(row);
        first = false;
      }
      yield ']';
    }
    yield '}\n';
  })();
}
