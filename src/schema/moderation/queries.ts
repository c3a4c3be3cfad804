import { builder, withAuthConnection } from '../../builder.ts';
import { reportsWhere } from '../../services/moderation/index.ts';
import { ReportConnection, ReportStatus } from './types.ts';

builder.queryFields((t) => ({
  reports: t.withAuth({ admin: true }).prismaConnection(
    {
      type: 'Report',
      cursor: 'id',
      description: 'Admin only. Reports with the status (all when omitted), oldest first: the moderation queue.',
      args: { status: t.arg({ type: ReportStatus, description: 'Only reports with this status; omitted: all.' }) },
      resolve: (query, _root, args, ctx) =>
        ctx.prisma.report.findMany({ ...query, where: reportsWhere(args.status), orderBy: { id: 'asc' } }),
    },
    withAuthConnection(ReportConnection),
  ),
}));
