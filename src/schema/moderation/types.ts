import { builder } from '../../builder.ts';
import { REPORT_LIMITS } from '../../services/moderation/index.ts';
import { User } from '../users/types.ts';
import { Comment, Event } from '../events/types.ts';
import { Message } from '../chat/types.ts';
import { Image } from '../images/types.ts';
import { isAdmin } from '../viewer.ts';

export const ReportSubject = builder.enumType('ReportSubject', {
  description: 'What a report is about.',
  values: {
    USER: { description: 'A user (their profile, or their behaviour).' },
    EVENT: { description: 'An event.' },
    MESSAGE: { description: 'A chat message.' },
    COMMENT: { description: 'A comment on an event.' },
    IMAGE: { description: 'A profile image.' },
  } as const,
});

export const ReportReason = builder.enumType('ReportReason', {
  description: 'Why something is reported.',
  values: {
    SPAM: { description: 'Spam, scams or advertising.' },
    HARASSMENT: { description: 'Harassment, bullying or hate.' },
    INAPPROPRIATE: { description: 'Sexual, violent or otherwise inappropriate content.' },
    SAFETY: { description: 'A danger to someone’s safety, online or at a meetup.' },
    OTHER: { description: 'Anything else (say what in details).' },
  } as const,
});

export const ReportStatus = builder.enumType('ReportStatus', {
  description: 'Where a report is in the admins’ queue.',
  values: {
    OPEN: { description: 'Not handled yet.' },
    ACTIONED: { description: 'Handled: the content was removed or its owner suspended.' },
    DISMISSED: { description: 'Handled: no action was needed.' },
  } as const,
});

export const ModerationAction = builder.enumType('ModerationAction', {
  description:
    'What an admin does about a report. It applies to the subject, so it resolves every open report of the same subject.',
  values: {
    DISMISS: { description: 'Nothing to do: the reports become DISMISSED.' },
    REMOVE_CONTENT: {
      description:
        'The event, message, comment or image is removed everywhere it shows, live subscribers included (not for USER reports).',
    },
    SUSPEND_USER: {
      description: 'The subject’s owner (the user, for USER reports) is suspended until an admin lifts it.',
    },
  } as const,
});

type Tagged = { __typename: 'User' | 'Event' | 'Message' | 'Comment' | 'Image' };

export const ReportedContent = builder.unionType('ReportedContent', {
  description: 'The user, event, message, comment or image a report is about.',
  types: [User, Event, Message, Comment, Image],
  resolveType: (value) => (value as unknown as Tagged).__typename,
});

export const Report = builder.prismaObject('Report', {
  description:
    'A report of a user or of their content to the admins. The reported user is never told who reported them.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The report’s UUID.' }),
    subject: t.expose('subject', { type: ReportSubject, description: 'What kind of thing is reported.' }),
    subjectId: t.exposeID('subjectId', {
      description: 'The id of the reported user, event, message, comment or image.',
    }),
    reason: t.expose('reason', { type: ReportReason, description: 'Why.' }),
    details: t.exposeString('details', {
      description: `The reporter’s words, at most ${REPORT_LIMITS.details} characters (may be empty).`,
    }),
    status: t.expose('status', { type: ReportStatus, description: 'Open, or how it was resolved.' }),
    reporter: t.field({
      type: User,
      nullable: true,
      description: 'Admins only; null for everyone else.',
      select: { reporterId: true },
      resolve: (report, _args, ctx) =>
        isAdmin(ctx) ? ctx.prisma.user.findUnique({ where: { id: report.reporterId } }) : null,
    }),
    subjectOwner: t.field({
      type: User,
      nullable: true,
      description:
        'Admins only: whose the subject is (the user themself for USER), as when reported; SUSPEND_USER suspends them. Null for everyone else.',
      select: { subjectOwnerId: true },
      resolve: (report, _args, ctx) =>
        isAdmin(ctx) ? ctx.prisma.user.findUnique({ where: { id: report.subjectOwnerId } }) : null,
    }),
    content: t.field({
      type: ReportedContent,
      nullable: true,
      description:
        'Admins only: the reported thing as it is now, whoever may otherwise see it (a private event, a message of a chat the admin is not in); null once it is gone, and for everyone else.',
      select: { subject: true, subjectId: true },
      resolve: async (report, _args, ctx) => {
        if (!isAdmin(ctx)) return null;
        const id = report.subjectId;
        const tag = <T extends object>(row: T | null, __typename: Tagged['__typename']) =>
          row && Object.assign(row, { __typename });
        switch (report.subject) {
          case 'USER':
            return tag(await ctx.prisma.user.findFirst({ where: { id, deletedAt: null } }), 'User');
          case 'EVENT':
            return tag(await ctx.prisma.event.findUnique({ where: { id } }), 'Event');
          case 'MESSAGE':
            return tag(await ctx.prisma.message.findUnique({ where: { id } }), 'Message');
          case 'COMMENT':
            return tag(await ctx.prisma.eventComment.findUnique({ where: { id } }), 'Comment');
          case 'IMAGE':
            return tag(await ctx.prisma.image.findUnique({ where: { id } }), 'Image');
        }
      },
    }),
    action: t.expose('action', {
      type: ModerationAction,
      nullable: true,
      description: 'What the resolving admin did; null while open.',
    }),
    note: t.string({
      nullable: true,
      description: 'Admins only: the resolving admin’s note. Null for everyone else.',
      select: { note: true },
      resolve: (report, _args, ctx) => (isAdmin(ctx) ? report.note : null),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was filed.' }),
    resolvedAt: t.expose('resolvedAt', { type: 'DateTime', nullable: true, description: 'When it was resolved.' }),
  }),
});

export const ReportConnection = builder.connectionObject(
  { type: Report, name: 'ReportConnection', description: 'A page of reports.' },
  { name: 'ReportEdge', description: 'A report in a page of reports.' },
);

export const ReportInput = builder.inputType('ReportInput', {
  description: 'What is reported, and why.',
  fields: (t) => ({
    subject: t.field({ type: ReportSubject, required: true, description: 'What kind of thing.' }),
    subjectId: t.id({
      required: true,
      description: 'Its id: a user, or an event, message (of a chat of yours), comment or image you can see.',
    }),
    reason: t.field({ type: ReportReason, required: true, description: 'Why.' }),
    details: t.string({ description: `What happened, at most ${REPORT_LIMITS.details} characters.` }),
  }),
});
