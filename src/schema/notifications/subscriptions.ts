import { queryFromInfo } from '@pothos/plugin-prisma';
import { builder } from '../../builder.ts';
import { AFTER_DESCRIPTION } from '../resume.ts';
import { notificationEvents } from '../../services/notifications/subscriptions.ts';
import { withFreshCaches } from '../viewer.ts';
import { Notification } from './types.ts';

const signedIn = { signedIn: true } as const;

builder.subscriptionFields((t) => ({
  notificationAdded: t.withAuth(signedIn).field({
    type: Notification,
    description:
      "The viewer's new notifications, as they happen (from any instance); with `after`, those since that notification first.",
    args: { after: t.arg.string({ description: AFTER_DESCRIPTION }) },
    subscribe: (_root, args, ctx) => notificationEvents(ctx.deps, ctx.viewer.id, args.after),
    resolve: (message, _args, ctx, info) => {
      withFreshCaches(message, ctx);
      return ctx.prisma.notification.findUniqueOrThrow({
        ...queryFromInfo({ context: ctx, info }),
        where: { id: message.notificationId },
      });
    },
  }),
}));
