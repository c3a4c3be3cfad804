// Live notifications: the viewer's own topic in the change log, recorded with each cause.
import { readAlongPage, resumePosition } from '../../changes/index.ts';
import type { Change } from '../../changes/index.ts';
import type { AppDeps } from '../../context.ts';
import type { PrismaClient } from '../../db/index.ts';
import { decodeCursor } from '../../lib/cursors.ts';
import { filterMessages } from '../../pubsub/iterator.ts';
import { isOwnNotification, notificationTopic } from './index.ts';
import type { NotificationAddedMessage } from './index.ts';

/**
 * The viewer's new notifications, as their causes commit; with `after` (a Notification.cursor),
 * those since that notification first.
 */
export async function notificationEvents(
  deps: AppDeps,
  viewerId: string,
  after?: string | null,
): Promise<AsyncIterableIterator<AddedNotification>> {
  const topics = [notificationTopic(viewerId)];
  let from: number | undefined;
  if (after !== null && after !== undefined) {
    const [id] = decodeCursor('after', after, { parts: ['uuid'] }) as [string];
    from = await resumePosition(deps.changes, { ref: id, topics });
  }
  const source = deps.changes.subscribe<NotificationAddedMessage>(topics, from);
  // Skips a notification gone before it could be read (its event was deleted at once).
  return filterMessages(source, async ({ payload, page }: Change<NotificationAddedMessage>) => {
    const { notificationId } = payload;
    const own = page
      ? (await readAlongPage(
          page,
          notificationId,
          'kept',
          (m) => m.notificationId,
          (ids) =>
            deps.prisma.notification.findMany({
              where: { id: { in: ids }, recipientId: viewerId },
              select: { id: true },
            }),
        )) !== null
      : await isOwnNotification(deps, viewerId, notificationId);
    return own ? { ...payload, page } : null;
  });
}

/** A new notification as notificationAdded delivers it; replayed ones come with their page of the log. */
export type AddedNotification = NotificationAddedMessage & Pick<Change<NotificationAddedMessage>, 'page'>;

/**
 * The notification a notificationAdded delivery is about, with the selection's `query`; the
 * notifications of a replayed page are read in one query.
 */
export async function readAddedNotification(
  prisma: PrismaClient,
  viewerId: string,
  added: AddedNotification,
  query: object,
) {
  const one = () => prisma.notification.findUniqueOrThrow({ ...query, where: { id: added.notificationId } });
  if (!added.page) return one();
  const read = await readAlongPage(
    added.page,
    added.notificationId,
    JSON.stringify(query),
    (m) => m.notificationId,
    (ids) => prisma.notification.findMany({ ...query, where: { id: { in: ids }, recipientId: viewerId } }),
  );
  return read ?? one();
}
