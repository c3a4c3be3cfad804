import { builder } from '../../builder.ts';
import * as notifications from '../../services/notifications/index.ts';
import { NOTIFICATION_LIMITS } from '../../services/notifications/index.ts';
import { DevicePlatform } from './types.ts';

const signedIn = { signedIn: true } as const;

builder.mutationFields((t) => ({
  registerDevice: t.withAuth(signedIn).boolean({
    description: `Registers a push token for the viewer (again after the app gets a new one). A token belongs to one user at a time: registering one another user had moves it. A user keeps at most ${NOTIFICATION_LIMITS.devicesPerUser} devices; more drop the least recently registered.`,
    args: {
      platform: t.arg({ type: DevicePlatform, required: true, description: 'Which push service the token is for.' }),
      token: t.arg.string({
        required: true,
        description: `The token (see DevicePlatform for the formats), at most ${NOTIFICATION_LIMITS.token} characters.`,
      }),
    },
    resolve: (_root, args, ctx) => notifications.registerDevice(ctx.deps, ctx.viewer.id, args.platform, args.token),
  }),
  unregisterDevice: t.withAuth(signedIn).boolean({
    description: "Stops push to a token (call it on sign-out). False when it is not one of the viewer's tokens.",
    args: { token: t.arg.string({ required: true, description: 'The token as registered.' }) },
    resolve: (_root, args, ctx) => notifications.unregisterDevice(ctx.deps, ctx.viewer.id, args.token),
  }),
  markNotificationsRead: t.withAuth(signedIn).int({
    description:
      "Marks notifications read; returns how many were unread. Ids of other users' notifications are ignored.",
    args: {
      ids: t.arg.idList({
        description: `The notifications (at most ${NOTIFICATION_LIMITS.markIds}); omit for all of them.`,
      }),
    },
    resolve: (_root, args, ctx) => notifications.markRead(ctx.deps, ctx.viewer.id, args.ids),
  }),
}));
