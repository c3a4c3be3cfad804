// Notifications: the feed, live delivery and push. Domains call notify() inside their
// transaction, so a notification, its change for notificationAdded (src/changes/) and its push
// jobs (the outbox, delivered by src/push/worker.ts) exist exactly when their cause committed;
// after the commit they call deliverNotifications().
// Devices: a push token belongs to one user at a time.
import { recordChanges } from '../../changes/index.ts';
import type { AppDeps } from '../../context.ts';
import { badInput } from '../../lib/errors.ts';
import type { DevicePlatform, NotificationKind, Prisma } from '../../generated/prisma/client.ts';
import { hasControlCharacters, isUuid } from '../../lib/validation.ts';

export interface NotificationInput {
  recipientId: string;
  kind: NotificationKind;
  actorId?: string | null;
  eventId?: string | null;
  text: string;
}

/** A stored notification, as notify() returns it for publishing after commit. */
export interface NotificationRef {
  id: string;
  recipientId: string;
}

/** What notificationAdded subscribers receive: they read the row themselves. */
export interface NotificationAddedMessage {
  notificationId: string;
}

type Tx = Prisma.TransactionClient;

/** Platforms with a push provider; WEB tokens are stored only. */
const PUSH_PLATFORMS: DevicePlatform[] = ['IOS', 'ANDROID'];

export const NOTIFICATION_LIMITS = {
  text: 500,
  /** Ids per markNotificationsRead call. */
  markIds: 500,
  /** Devices kept per user; registering another drops the least recently registered. */
  devicesPerUser: 20,
  token: 1024,
} as const;

export const notificationTopic = (userId: string) => `notifications:user:${userId}`;

/**
 * Stores notifications, records their changes for notificationAdded and queues a push job for
 * each of the recipients' push devices, in the caller's transaction. Nobody is notified of their
 * own action. Returns the stored rows: pass them to deliverNotifications once the transaction
 * has committed.
 */
export async function notify(tx: Tx, notifications: NotificationInput[]): Promise<NotificationRef[]> {
  const rows = notifications
    .filter((n) => n.recipientId !== n.actorId)
    .map((n) => ({ ...n, text: n.text.slice(0, NOTIFICATION_LIMITS.text) }));
  if (!rows.length) return [];
  const created = await tx.notification.createManyAndReturn({ data: rows, select: { id: true, recipientId: true } });
  const devices = await tx.device.findMany({
    where: { userId: { in: [...new Set(created.map((n) => n.recipientId))] }, platform: { in: PUSH_PLATFORMS } },
    select: { id: true, userId: true },
  });
  const jobs = created.flatMap((n) =>
    devices.filter((d) => d.userId === n.recipientId).map((d) => ({ notificationId: n.id, deviceId: d.id })),
  );
  if (jobs.length) await tx.pushJob.createMany({ data: jobs });
  await recordChanges(
    tx,
    created.map((n) => ({
      topics: [notificationTopic(n.recipientId)],
      payload: { notificationId: n.id } satisfies NotificationAddedMessage,
      ref: n.id,
    })),
  );
  return created;
}

/** Once notify()'s transaction committed: its notifications reach notificationAdded subscribers on every instance. */
export function deliverNotifications(deps: Pick<AppDeps, 'changes'>, rows: readonly NotificationRef[]): void {
  if (rows.length) deps.changes.committed();
}

/** The feed's filter: the viewer's notifications, unread ones only when asked. */
export const feedWhere = (viewerId: string, unreadOnly: boolean | null | undefined): Prisma.NotificationWhereInput => ({
  recipientId: viewerId,
  ...(unreadOnly ? { readAt: null } : {}),
});

/** Newest first; rows of one transaction share createdAt, so the id breaks ties. */
export const FEED_ORDER: Prisma.NotificationOrderByWithRelationInput[] = [{ createdAt: 'desc' }, { id: 'desc' }];

/**
 * Marks the viewer's unread notifications among ids as read, or all of them when ids is absent.
 * Other users' ids are ignored. Returns how many changed.
 */
export async function markRead(
  deps: AppDeps,
  viewerId: string,
  ids: readonly (string | number)[] | null | undefined,
): Promise<number> {
  const where: Prisma.NotificationWhereInput = { recipientId: viewerId, readAt: null };
  if (ids) {
    const unique = [...new Set(ids.map(String))];
    if (unique.length > NOTIFICATION_LIMITS.markIds)
      throw badInput('ids', `ids may hold at most ${NOTIFICATION_LIMITS.markIds} ids`);
    if (unique.some((id) => !isUuid(id))) throw badInput('ids', 'ids must be notification ids');
    if (!unique.length) return 0;
    where.id = { in: unique };
  }
  const { count } = await deps.prisma.notification.updateMany({ where, data: { readAt: new Date() } });
  return count;
}

/** True when the viewer may read this notification (their own): for subscriptions re-reading a published id. */
export async function isOwnNotification(deps: AppDeps, viewerId: string, id: string): Promise<boolean> {
  return (await deps.prisma.notification.count({ where: { id, recipientId: viewerId } })) > 0;
}

const APNS_TOKEN = /^(?:[0-9a-f]{2}){32,100}$/;
const FCM_TOKEN = /^[A-Za-z0-9_:-]{32,1024}$/;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

function httpsUrl(value: unknown): URL | null {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.hostname ? url : null;
  } catch {
    return null;
  }
}

/**
 * Checks a token for its platform and returns the form it is stored in:
 * - IOS: an APNs device token, hex (64 characters today; Apple allows longer), stored lower-case;
 * - ANDROID: an FCM registration token, 32–1024 of A–Z, a–z, 0–9, `_`, `:` and `-`;
 * - WEB: a Web Push subscription, as the JSON of PushSubscription.toJSON() (stored re-serialized
 *   as `{"endpoint","keys":{"p256dh","auth"}}`, so the same subscription is one token) or its
 *   https endpoint URL alone.
 * Everything is at most 1024 characters; anything else is BAD_USER_INPUT on `token`.
 */
export function normalizeDeviceToken(platform: DevicePlatform, raw: string): string {
  const token = raw.trim();
  if (!token) throw badInput('token', 'token must not be empty');
  if (token.length > NOTIFICATION_LIMITS.token)
    throw badInput('token', `token must be at most ${NOTIFICATION_LIMITS.token} characters`);
  if (hasControlCharacters(token)) throw badInput('token', 'token contains control characters');
  switch (platform) {
    case 'IOS': {
      const hex = token.toLowerCase();
      if (!APNS_TOKEN.test(hex))
        throw badInput('token', 'An iOS token is the APNs device token in hex (64 characters)');
      return hex;
    }
    case 'ANDROID':
      if (!FCM_TOKEN.test(token))
        throw badInput('token', 'An Android token is an FCM registration token (32–1024 of A–Z, a–z, 0–9, _, : and -)');
      return token;
    case 'WEB': {
      if (!token.startsWith('{')) {
        if (!httpsUrl(token))
          throw badInput('token', 'A web token is a Web Push subscription (JSON) or its https endpoint');
        return token;
      }
      let sub: { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } };
      try {
        sub = JSON.parse(token) as typeof sub;
      } catch {
        throw badInput('token', 'A web token is a Web Push subscription (JSON) or its https endpoint');
      }
      const { p256dh, auth } = sub?.keys ?? {};
      if (
        !httpsUrl(sub?.endpoint) ||
        typeof p256dh !== 'string' ||
        typeof auth !== 'string' ||
        !BASE64URL.test(p256dh) ||
        !BASE64URL.test(auth)
      ) {
        throw badInput(
          'token',
          'A Web Push subscription needs an https endpoint and keys.p256dh and keys.auth (base64url)',
        );
      }
      const normalized = JSON.stringify({ endpoint: sub.endpoint, keys: { p256dh, auth } });
      if (normalized.length > NOTIFICATION_LIMITS.token)
        throw badInput('token', `token must be at most ${NOTIFICATION_LIMITS.token} characters`);
      return normalized;
    }
  }
}

/**
 * Registers a push token for the viewer. A token registered by someone else moves to the viewer,
 * and the pushes still queued for its previous owner are dropped.
 */
export async function registerDevice(
  deps: AppDeps,
  viewerId: string,
  platform: DevicePlatform,
  rawToken: string,
): Promise<boolean> {
  const token = normalizeDeviceToken(platform, rawToken);
  await deps.prisma.$transaction(async (tx) => {
    await tx.pushJob.deleteMany({ where: { status: 'PENDING', device: { token, userId: { not: viewerId } } } });
    // One statement (INSERT … ON CONFLICT), so two registrations of one token cannot collide.
    await tx.device.upsert({
      where: { token },
      create: { userId: viewerId, platform, token },
      update: { userId: viewerId, platform },
    });
    const stale = await tx.device.findMany({
      where: { userId: viewerId },
      orderBy: [{ updatedAt: 'desc' }, { id: 'desc' }],
      skip: NOTIFICATION_LIMITS.devicesPerUser,
      select: { id: true },
    });
    if (stale.length) await tx.device.deleteMany({ where: { id: { in: stale.map((d) => d.id) } } });
  });
  return true;
}

/** Removes one of the viewer's tokens; false when the viewer has no such token. */
export async function unregisterDevice(deps: AppDeps, viewerId: string, rawToken: string): Promise<boolean> {
  const token = rawToken.trim();
  if (!token || token.length > NOTIFICATION_LIMITS.token)
    throw badInput('token', `token must be 1–${NOTIFICATION_LIMITS.token} characters`);
  if (hasControlCharacters(token)) throw badInput('token', 'token contains control characters');
  // The stored forms: APNs tokens lower-case, subscriptions re-serialized.
  const candidates = new Set([token]);
  if (APNS_TOKEN.test(token.toLowerCase())) candidates.add(token.toLowerCase());
  if (token.startsWith('{')) {
    try {
      candidates.add(normalizeDeviceToken('WEB', token));
    } catch {
      // Not a subscription we would have stored.
    }
  }
  const { count } = await deps.prisma.device.deleteMany({
    where: { userId: viewerId, token: { in: [...candidates] } },
  });
  return count > 0;
}
