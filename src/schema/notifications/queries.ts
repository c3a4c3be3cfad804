import { builder, PAGE_SIZE } from '../../builder.ts';
import * as notifications from '../../services/notifications/index.ts';
import { checkPageArgs } from '../../lib/validation.ts';
import { NotificationConnection } from './types.ts';

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
