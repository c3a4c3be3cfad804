import { formatPrismaCursor } from '@pothos/plugin-prisma';
import { builder } from '../../builder.ts';
import { isVisibleTo, visibilitySelect } from '../../services/events/visibility.ts';
import { NOTIFICATION_LIMITS } from '../../services/notifications/index.ts';
import { Event } from '../events/types.ts';
import { viewerIdOf } from '../viewer.ts';

export const NotificationKind = builder.enumType('NotificationKind', {
  description: 'Why a notification was sent.',
  values: {
    FRIEND_REQUEST_RECEIVED: { description: '`actor` sent the viewer a friend request.' },
    FRIEND_REQUEST_ACCEPTED: { description: '`actor` accepted the viewer’s friend request.' },
    EVENT_INVITATION: {
      description: '`actor` (the host) invited the viewer to `event`, or auto-matching did on their behalf.',
    },
    EVENT_UPDATED: {
      description:
        'The title, description, time or place of `event`, which the viewer attends or is invited to, changed.',
    },
    EVENT_CANCELLED: { description: '`event`, which the viewer attends or is invited to, was cancelled.' },
    EVENT_SHARED: { description: '`actor` shared `event` with the viewer.' },
    RATING_RECEIVED: { description: '`actor` rated the viewer for `event`.' },
    WAITLIST_PROMOTED: {
      description: 'A spot freed up in `event`: the viewer moved from its waitlist to its attendees.',
    },
    EVENT_REMINDER: {
      description: '`event`, which the viewer attends or hosts, starts in `reminderMinutesBefore` minutes.',
    },
  } as const,
});

export const DevicePlatform = builder.enumType('DevicePlatform', {
  description: 'The push platform of a device token.',
  values: {
    IOS: { description: 'An APNs device token, in hex (64 characters).' },
    ANDROID: { description: 'An FCM registration token.' },
    WEB: {
      description:
        'A Web Push subscription: the JSON of PushSubscription.toJSON() or its https endpoint. Stored only: the server sends no web push yet.',
    },
  } as const,
});

export const Notification = builder.prismaObject('Notification', {
  description: 'An entry in the viewer’s notification feed.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The notification’s UUID.' }),
    kind: t.expose('kind', { type: NotificationKind, description: 'Why it was sent.' }),
    actor: t.relation('actor', { nullable: true, description: 'Who caused it; null when their account is gone.' }),
    event: t.field({
      type: Event,
      nullable: true,
      description:
        'The event it is about; null when there is none, or when the viewer may no longer see it (or it was deleted).',
      select: (_args, ctx, nestedSelection) => ({
        event: nestedSelection({ select: visibilitySelect(viewerIdOf(ctx)) }),
      }),
      // The event carries what the query selected beneath it (plus the visibility fields).
      resolve: (notification, _args, ctx) =>
        notification.event && isVisibleTo(notification.event, ctx.viewer?.id) ? (notification.event as never) : null,
    }),
    text: t.exposeString('text', {
      description: `What happened, in a sentence (up to ${NOTIFICATION_LIMITS.text} characters).`,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was sent.' }),
    readAt: t.expose('readAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the viewer marked it read; null while unread.',
    }),
    cursor: t.string({
      description:
        'This notification’s place: as `after` of notificationAdded, the notifications that came after it (and of `notifications`, its edge cursor).',
      select: { id: true },
      resolve: (notification) => formatPrismaCursor(notification, 'id'),
    }),
  }),
});

export const NotificationConnection = builder.connectionObject(
  { type: Notification, name: 'NotificationConnection', description: 'A page of notifications.' },
  { name: 'NotificationEdge', description: 'A notification in a page of notifications.' },
);
