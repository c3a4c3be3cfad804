// Account deletion (deleteAccount), with the password. One transaction takes away everything
// that is only the user's, and leaves what others hold coherent:
//   - events they host that have not ended are cancelled, their attendees notified; they leave
//     the events they attend (the first in line takes each spot) and every waitlist;
//   - their images' rows go, and the files are queued for removal (../images/deletions.ts), so
//     a storage outage delays the removal but orphans nothing;
//   - sessions, devices, friendships, requests, blocks, invitations, likes, shares, comments,
//     reminders, notifications (theirs, and those of others that name them), the ratings they
//     received and their reputation go;
//   - they leave group and event chats; their messages stay in the conversations others hold,
//     as do the ratings they gave and the events they hosted;
//   - the users row stays as an anonymous tombstone ("Deleted account", a username no one can
//     register, nothing personal), so that those messages, events and ratings still load.
// Rows a request that was already running would add for them once the deletion commits are
// refused: lockLiveAccount in the services that make events, attendances and images, and the
// users_alive triggers (migration *_deleted_account_writers) on the other tables they write.
// After the commit every instance ends their sessions (HTTP 401, sockets 4403), their chat
// streams end and the files are removed.
import { randomBytes } from 'node:crypto';
import type { AppDeps } from '../../context.ts';
import { accountGone, badInput } from '../../lib/errors.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import { verifyPassword } from '../../auth/passwords.ts';
import { endSessions, PASSWORD_LENGTH, revokeFamilies } from './index.ts';
import { withdrawFromEventsInTx, type ChatExit } from '../events/index.ts';
import { forgetSentInTx, publishChatsLeft } from '../chat/index.ts';
import { removeImagesInTx } from '../images/index.ts';
import { removeStoredObjects } from '../images/deletions.ts';

type Tx = Prisma.TransactionClient;

/** The display name of a deleted account. */
export const DELETED_ACCOUNT_NAME = 'Deleted account';

/** A tombstone's username: a hyphen, which registration never allows, so it is no one's. */
const tombstoneUsername = () => `deleted-${randomBytes(8).toString('hex')}`;

/**
 * Deletes the viewer's account. BAD_USER_INPUT (password) for a wrong password, nothing
 * changed; UNAUTHENTICATED when the account is gone already.
 */
export async function deleteAccount(deps: AppDeps, userId: string, password: string): Promise<boolean> {
  // A stolen access token must not become an unthrottled password oracle.
  await deps.rateLimiter.consume('deleteAccountPerUser', userId);
  const user = await deps.prisma.user.findFirst({ where: { id: userId, deletedAt: null } });
  if (!user) throw accountGone();
  if (password.length > PASSWORD_LENGTH.max * 4 || !(await verifyPassword(user.passwordHash, password))) {
    throw badInput('password', 'The password is wrong');
  }
  const done = await deps.prisma.$transaction(async (tx) => {
    // The row lock orders a deletion against a concurrent one (the second finds the tombstone).
    const [locked] = await tx.$queryRaw<Array<{ deleted: boolean }>>`
      SELECT deleted_at IS NOT NULL AS deleted FROM users WHERE id = ${userId}::uuid FOR UPDATE`;
    if (!locked || locked.deleted) throw accountGone();
    // Notifications they caused name them ("alice sent you a friend request"): they go, before
    // the cancellations below notify their guests (those name the event, not the host).
    await tx.notification.deleteMany({ where: { actorId: userId } });
    const exits = await withdrawFromEventsInTx(tx, userId);
    exits.push(...(await leaveChats(tx, userId)));
    const storedKeys = await removeImagesInTx(tx, { userId });
    const sessions = await revokeFamilies(tx, { userId });
    await removeOwnRows(tx, userId);
    await tx.user.update({
      where: { id: userId },
      data: {
        username: tombstoneUsername(),
        email: null,
        // Not a hash: no password ever matches it.
        passwordHash: '!',
        fullName: DELETED_ACCOUNT_NAME,
        university: '',
        degree: '',
        year: '',
        bio: '',
        interests: [],
        skills: [],
        role: 'USER',
        isCertified: false,
        autoInviteEnabled: false,
        homeLatitude: null,
        homeLongitude: null,
        reminderMinutesBefore: null,
        suspendedUntil: null,
        suspensionReason: null,
        lastSeenAt: null,
        deletedAt: new Date(),
      },
    });
    return { exits, storedKeys, sessions };
  });
  deps.changes.committed();
  await endSessions(deps, done.sessions);
  await publishChatsLeft(deps, done.exits);
  // Not awaited: the keys are queued durably, and a slow storage must not hold the answer (over
  // graphql-ws the socket closes with 4403 a second after the sessions end).
  void removeStoredObjects(deps, done.storedKeys);
  deps.logger.info({ userId, sessionsEnded: done.sessions.length, files: done.storedKeys.length }, 'account deleted');
  return true;
}

/** Group and event chats: the user leaves (direct chats keep both members, so the other still has it). */
async function leaveChats(tx: Tx, userId: string): Promise<ChatExit[]> {
  // Their messages stay; their name and avatar as they sent them leave the change log.
  await forgetSentInTx(tx, Prisma.sql`ref IN (SELECT id FROM messages WHERE sender_id = ${userId}::uuid)`);
  const left = await tx.chatMember.findMany({
    where: { userId, chat: { kind: { not: 'DIRECT' } } },
    select: { chatId: true },
  });
  await tx.chatMember.deleteMany({ where: { userId, chatId: { in: left.map((m) => m.chatId) } } });
  return left.map((m) => ({ userId, chatId: m.chatId }));
}

async function removeOwnRows(tx: Tx, userId: string): Promise<void> {
  await tx.device.deleteMany({ where: { userId } });
  await tx.friendship.deleteMany({ where: { OR: [{ userAId: userId }, { userBId: userId }] } });
  await tx.friendRequest.deleteMany({ where: { OR: [{ fromId: userId }, { toId: userId }] } });
  await tx.userBlock.deleteMany({ where: { OR: [{ blockerId: userId }, { blockedId: userId }] } });
  await tx.eventInvitation.deleteMany({ where: { userId } });
  await tx.eventLike.deleteMany({ where: { userId } });
  await tx.eventShare.deleteMany({ where: { OR: [{ sharedById: userId }, { sharedWithId: userId }] } });
  await tx.eventComment.deleteMany({ where: { authorId: userId } });
  await tx.eventReminder.deleteMany({ where: { userId } });
  await tx.notification.deleteMany({ where: { recipientId: userId } });
  await tx.rating.deleteMany({ where: { ratedId: userId } });
  await tx.reputation.deleteMany({ where: { userId } });
}
