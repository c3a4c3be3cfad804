// Blocking: a user keeps another away, both ways. Between them there is no friendship (ended
// by the block, with any pending request) and no new one, no direct chat message, invitation,
// share or rating, and auto-matching never invites one to the other's events. Presence and
// the friends list follow friendship, so they are hidden too. Group and event chats they both
// belong to stay usable, and neither's messages are hidden there: leaving such a chat is the
// way out of it. These are the checks other domains use; blockUser and unblockUser are in
// ./index.ts with the friendships they end.
import type { AppDeps } from '../../context.ts';
import { forbidden } from '../../lib/errors.ts';
import { Prisma } from '../../generated/prisma/client.ts';

type Tx = Prisma.TransactionClient;
type Db = Tx | AppDeps['prisma'];

/** A block between two users' SQL expressions, either way. */
export const blockedBetweenSql = (a: Prisma.Sql, b: Prisma.Sql) => Prisma.sql`EXISTS (SELECT 1 FROM user_blocks ub
  WHERE (ub.blocker_id = ${a} AND ub.blocked_id = ${b}) OR (ub.blocker_id = ${b} AND ub.blocked_id = ${a}))`;

/** Those of ids with a block between them and userId, either way, in one statement. */
export async function blockedAmong(db: Db, userId: string, ids: readonly string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const rows = await db.userBlock.findMany({
    where: {
      OR: [
        { blockerId: userId, blockedId: { in: [...ids] } },
        { blockedId: userId, blockerId: { in: [...ids] } },
      ],
    },
    select: { blockerId: true, blockedId: true },
  });
  return new Set(rows.map((r) => (r.blockerId === userId ? r.blockedId : r.blockerId)));
}

/** FORBIDDEN naming the field when any of ids and the viewer have a block between them. */
export async function refuseBlocked(db: Db, viewerId: string, ids: readonly string[], field: string): Promise<void> {
  if ((await blockedAmong(db, viewerId, ids)).size > 0)
    throw forbidden('That is not possible between you and this user', { field });
}

/** The users the viewer has blocked. */
export const blockedByWhere = (viewerId: string): Prisma.UserWhereInput => ({
  blockedBy: { some: { blockerId: viewerId } },
});
