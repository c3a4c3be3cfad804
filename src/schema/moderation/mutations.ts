import { builder } from '../../builder.ts';
import * as moderation from '../../services/moderation/index.ts';
import { ModerationAction, ReportInput } from './types.ts';

builder.mutationFields((t) => ({
  report: t.withAuth({ signedIn: true }).prismaField({
    type: 'Report',
    description:
      'Reports a user, event, message, comment or image to the admins, once per subject (again: CONFLICT), within a daily limit. The reported user is not told.',
    args: { input: t.arg({ type: ReportInput, required: true, description: 'What, and why.' }) },
    resolve: (query, _root, { input }, ctx) =>
      moderation.fileReport(ctx.deps, ctx.viewer.id, { ...input, subjectId: String(input.subjectId) }, query),
  }),
  resolveReport: t.withAuth({ admin: true }).prismaField({
    type: 'Report',
    description:
      'Admin only. Resolves the report and every other open report of its subject with one action (an already resolved one: CONFLICT).',
    args: {
      id: t.arg.id({ required: true, description: 'The report’s UUID.' }),
      action: t.arg({ type: ModerationAction, required: true, description: 'What to do.' }),
      note: t.arg.string({
        description: `Why, at most ${moderation.REPORT_LIMITS.note} characters; for SUSPEND_USER it is the suspension’s reason.`,
      }),
    },
    resolve: (query, _root, args, ctx) =>
      moderation.resolveReport(ctx.deps, ctx.viewer.id, String(args.id), args.action, args.note, query),
  }),
}));
