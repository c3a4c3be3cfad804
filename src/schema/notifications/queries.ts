import { builder, withAuthConnection } from '../../builder.ts';
import * as notifications from '../../services/notifications/index.ts';
import { NotificationConnection } from './types.ts';

const signedIn = { signedIn: true } as const;

builder.queryFields((t) => ({
  notifications: t.withAuth(signedIn).prismaConnection(
    {
      type: 'Notification',
      cursor: 'id',
      description: "The viewer's notifications, newest first.",
      args: { unreadOnly: t.arg.boolean({ description: 'Only those not marked read.' }) },
      resolve: (query, _root, args, ctx) => {
        return ctx.prisma.notification.findMany({
          ...query,
          where: notifications.feedWhere(ctx.viewer.id, args.unreadOnly),
          orderBy: notifications.FEED_ORDER,
        });
      },
    },
    withAuthConnection(NotificationConnection),
  ),
}));
