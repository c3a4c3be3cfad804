// Live notifications: the viewer's own topic in the change log, recorded with each cause.
import { resumePosition } from '../../changes/index.ts';
import type { Change } from '../../changes/index.ts';
import type { AppDeps } from '../../context.ts';
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
): Promise<AsyncIterableIterator<NotificationAddedMessage>> {
  const topics = [notificationTopic(viewerId)];
  let from: number | undefined;
  if (after !== null && after !== undefined) {
    const [id] = decodeCursor('after', after, { parts: ['uuid'] }) as [string];
    from = await resumePosition(deps.changes, { ref: id, topics });
  }
  const source = deps.changes.subscribe<NotificationAddedMessage>(topics, from);
  // Skips a notification gone before it could be read (its event was deleted at once).
  return filterMessages(source, async ({ payload }: Change<NotificationAddedMessage>) =>
    (await isOwnNotification(deps, viewerId, payload.notificationId)) ? payload : null,
  );
}
