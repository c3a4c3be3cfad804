import { queryFromInfo } from '@pothos/plugin-prisma';
import { builder, PAGE_SIZE } from '../../builder.ts';
import type { Context } from '../../context.ts';
import * as notifications from '../../services/notifications/index.ts';
import type { NotificationAddedMessage } from '../../services/notifications/index.ts';
import { filterMessages } from '../../pubsub/iterator.ts';
import { checkPageArgs } from '../../lib/validation.ts';
import { DevicePlatform, Notification, NotificationConnection } from './types.ts';
import { withFreshCaches } from '../viewer.ts';

const signedIn = { signedIn: true } as const;

builder.queryFields((t) => ({
  notifications: t.prismaConnection(
    {
      type: 'Notification',
      cursor: 'id',
      defaultSize: PAGE_SIZE.default,
      maxSize: PAGE_SIZE.max,
      authScopes: signedIn,
      description: "The viewer's notifications, newest first.",
      args: { unreadOnly: t.arg.boolean({ description: 'Only those not marked read.' }) },
      resolve: (query, _root, args, ctx) => {
        checkPageArgs(args, PAGE_SIZE.max);
        return ctx.prisma.notification.findMany({
          ...query,
          where: notifications.feedWhere(ctx.viewer!.id, args.unreadOnly),
          orderBy: notifications.FEED_ORDER,
        });
      },
    },
    NotificationConnection,
  ),
}));

builder.mutationFields((t) => ({
  registerDevice: t.boolean({
    authScopes: signedIn,
    description:
      'Registers a push token for the viewer (again after the app gets a new one). A token belongs to one user at a time: registering one another user had moves it. A user keeps at most 20 devices; more drop the least recently registered.',
    args: {
      platform: t.arg({ type: DevicePlatform, required: true, description: 'Which push service the token is for.' }),
      token: t.arg.string({ required: true, description: 'The token (see DevicePlatform for the formats), at most 1024 characters.' }),
    },
    resolve: (_root, args, ctx) => notifications.registerDevice(ctx.deps, ctx.viewer!.id, args.platform, args.token),
  }),
  unregisterDevice: t.boolean({
    authScopes: signedIn,
    description: "Stops push to a token (call it on sign-out). False when it is not one of the viewer's tokens.",
    args: { token: t.arg.string({ required: true, description: 'The token as registered.' }) },
    resolve: (_root, args, ctx) => notifications.unregisterDevice(ctx.deps, ctx.viewer!.id, args.token),
  }),
  markNotificationsRead: t.int({
    authScopes: signedIn,
    description: "Marks notifications read; returns how many were unread. Ids of other users' notifications are ignored.",
    args: { ids: t.arg.idList({ description: 'The notifications (at most 500); omit for all of them.' }) },
    resolve: (_root, args, ctx) => notifications.markRead(ctx.deps, ctx.viewer!.id, args.ids),
  }),
}));

/** The viewer's new notifications, as they are published after their cause commits. */
function added(ctx: Context): AsyncIterableIterator<NotificationAddedMessage> {
  const viewerId = ctx.viewer!.id;
  const source = ctx.deps.pubsub.subscribe<NotificationAddedMessage>(notifications.notificationTopic(viewerId));
  // Skips a notification gone before it could be read (its event was deleted at once).
  return filterMessages(source, async (message) =>
    (await notifications.isOwnNotification(ctx.deps, viewerId, message.notificationId)) ? message : null,
  );
}

builder.subscriptionFields((t) => ({
  notificationAdded: t.field({
    type: Notification,
    authScopes: signedIn,
    description: "The viewer's new notifications, as they happen (from any instance).",
    subscribe: (_root, _args, ctx) => added(ctx),
    resolve: (message, _args, ctx, info) => {
      withFreshCaches(message, ctx);
      return ctx.prisma.notification.findUniqueOrThrow({ ...queryFromInfo({ context: ctx, info }), where: { id: message.notificationId } });
    },
  }),
}));
