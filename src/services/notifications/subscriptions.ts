// Live notifications: the viewer's own topic, published after each cause commits.
import type { AppDeps } from '../../context.ts';
import { filterMessages } from '../../pubsub/iterator.ts';
import { isOwnNotification, notificationTopic } from './index.ts';
import type { NotificationAddedMessage } from './index.ts';

/** The viewer's new notifications, as they are published after their cause commits. */
export function notificationEvents(deps: AppDeps, viewerId: string): AsyncIterableIterator<NotificationAddedMessage> {
  const source = deps.pubsub.subscribe<NotificationAddedMessage>(notificationTopic(viewerId));
  // Skips a notification gone before it could be read (its event was deleted at once).
  return filterMessages(source, async (message) =>
    (await isOwnNotification(deps, viewerId, message.notificationId)) ? message : null,
  );
}
