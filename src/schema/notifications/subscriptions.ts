import { queryFromInfo } from '@pothos/plugin-prisma';
import { builder } from '../../builder.ts';
import { AFTER_DESCRIPTION } from '../resume.ts';
import { notificationEvents, readAddedNotification } from '../../services/notifications/subscriptions.ts';
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
    resolve: (added, _args, ctx, info) => {
      withFreshCaches(null, ctx);
      return readAddedNotification(ctx.prisma, ctx.viewer.id, added, queryFromInfo({ context: ctx, info }));
    },
  }),
}));
