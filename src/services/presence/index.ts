// Going online and offline, told to friends. The store (src/presence) decides; this records
// lastSeenAt and publishes.
import type { AppDeps } from '../../context.ts';

export interface PresenceEvent {
  userId: string;
  isOnline: boolean;
  lastSeenAt: Date | null;
}

export const presenceTopic = (viewerId: string) => `presence:to:${viewerId}`;

async function tellFriends(deps: AppDeps, event: PresenceEvent): Promise<void> {
  const rows = await deps.prisma.friendship.findMany({
    where: { OR: [{ userAId: event.userId }, { userBId: event.userId }] },
    select: { userAId: true, userBId: true },
  });
  const friends = rows.map((r) => (r.userAId === event.userId ? r.userBId : r.userAId));
  await Promise.all(friends.map((id) => deps.pubsub.publish(presenceTopic(id), event)));
}

export async function connected(deps: AppDeps, userId: string): Promise<void> {
  if (await deps.presence.connect(userId)) await tellFriends(deps, { userId, isOnline: true, lastSeenAt: null });
}

export async function disconnected(deps: AppDeps, userId: string): Promise<void> {
  if (await deps.presence.disconnect(userId)) await wentOffline(deps, userId, new Date());
}

async function wentOffline(deps: AppDeps, userId: string, lastSeenAt: Date): Promise<void> {
  await deps.prisma.user.updateMany({ where: { id: userId }, data: { lastSeenAt } });
  await tellFriends(deps, { userId, isOnline: false, lastSeenAt });
}

/** Reports users whose instance vanished without closing their connections. */
export async function sweep(deps: AppDeps): Promise<void> {
  for (const { userId, lastSeenAt } of await deps.presence.sweep()) await wentOffline(deps, userId, lastSeenAt);
}
