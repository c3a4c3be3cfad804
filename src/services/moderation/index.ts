// Reports and moderation. Anyone signed in may report a user, or an event, message, comment or
// image they can see, once per subject, within reportsPerUser. Admins work the queue: a
// resolution applies to the subject, so it closes every open report of it at once, and its
// action runs in the same transaction as the reports' new status, so nothing is half-done:
//   DISMISS         the reports are closed as DISMISSED;
//   REMOVE_CONTENT  the content goes everywhere it shows (an event is deleted, with its change
//                   announced to the map and its members; a message is emptied for the chat's
//                   live subscribers; a comment or an image is deleted, the file durably);
//   SUSPEND_USER    the subject's owner is suspended until an admin lifts it (sessions end on
//                   every instance, as suspendUser).
// Who reported is seen by admins only; the reported are never told.
import type { AppDeps } from '../../context.ts';
import { badInput, conflict, isUniqueViolation, notFound } from '../../lib/errors.ts';
import type { ModerationAction, Prisma, Report, ReportReason, ReportSubject } from '../../generated/prisma/client.ts';
import { isUuid, text } from '../../lib/validation.ts';
import { endSessions, suspendInTx } from '../accounts/index.ts';
import { visibleEventWhere } from '../events/visibility.ts';
import { removeEventInTx, type ChatExit } from '../events/index.ts';
import { publishChatsLeft, publishMessageRemoved, removeMessageInTx } from '../chat/index.ts';
import { removeImagesInTx } from '../images/index.ts';
import { removeStoredObjects } from '../images/deletions.ts';

type Tx = Prisma.TransactionClient;
type Query = object;

export const REPORT_LIMITS = { details: 1000, note: 1000 } as const;

export interface ReportInput {
  subject: ReportSubject;
  subjectId: string;
  reason: ReportReason;
  details?: string | null;
}

const SUBJECT_NAMES: Record<ReportSubject, string> = {
  USER: 'User',
  EVENT: 'Event',
  MESSAGE: 'Message',
  COMMENT: 'Comment',
  IMAGE: 'Image',
};

/**
 * Whose the subject is, if the reporter can see it: a user who exists, an event the visibility
 * rule shows them, a message of a chat they are in, a comment on an event they see, any image.
 */
async function subjectOwner(db: AppDeps['prisma'], viewerId: string, subject: ReportSubject, id: string) {
  switch (subject) {
    case 'USER':
      return (await db.user.findFirst({ where: { id, deletedAt: null }, select: { id: true } }))?.id;
    case 'EVENT':
      return (await db.event.findFirst({ where: { id, ...visibleEventWhere(viewerId) }, select: { hostId: true } }))
        ?.hostId;
    case 'MESSAGE':
      return (
        await db.message.findFirst({
          where: { id, chat: { members: { some: { userId: viewerId } } } },
          select: { senderId: true },
        })
      )?.senderId;
    case 'COMMENT':
      return (
        await db.eventComment.findFirst({
          where: { id, event: visibleEventWhere(viewerId) },
          select: { authorId: true },
        })
      )?.authorId;
    case 'IMAGE':
      return (await db.image.findUnique({ where: { id }, select: { userId: true } }))?.userId;
  }
}

/** Files a report. NOT_FOUND (subjectId) for what the reporter cannot see; CONFLICT for a repeat. */
export async function fileReport(deps: AppDeps, viewerId: string, input: ReportInput, query: Query = {}) {
  const details = text('details', input.details ?? '', { max: REPORT_LIMITS.details });
  const missing = () => notFound(SUBJECT_NAMES[input.subject], { field: 'subjectId' });
  if (!isUuid(input.subjectId)) throw missing();
  const ownerId = await subjectOwner(deps.prisma, viewerId, input.subject, input.subjectId);
  if (!ownerId) throw missing();
  if (ownerId === viewerId) {
    throw badInput('subjectId', input.subject === 'USER' ? 'You cannot report yourself' : 'This is your own');
  }
  await deps.rateLimiter.consume('reportsPerUser', viewerId);
  try {
    return await deps.prisma.report.create({
      ...query,
      data: {
        reporterId: viewerId,
        subject: input.subject,
        subjectId: input.subjectId,
        subjectOwnerId: ownerId,
        reason: input.reason,
        details,
      },
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict('You have reported this already', { field: 'subjectId' });
    throw error;
  }
}

/** What a resolution did, to tell after the commit. */
interface Consequences {
  exits: ChatExit[];
  message: { id: string; chatId: string } | null;
  storedKeys: string[];
  sessions: string[];
  eventChanged: boolean;
}

async function removeContent(tx: Tx, report: Report, effects: Consequences): Promise<void> {
  switch (report.subject) {
    case 'USER':
      throw badInput('action', 'A user is not content: SUSPEND_USER suspends them');
    case 'EVENT':
      // Deleted meanwhile (by its host): it is gone already.
      if (await tx.event.count({ where: { id: report.subjectId } })) {
        effects.exits = await removeEventInTx(tx, report.subjectId);
        effects.eventChanged = true;
      }
      return;
    case 'MESSAGE':
      effects.message = await removeMessageInTx(tx, report.subjectId);
      return;
    case 'COMMENT':
      await tx.eventComment.deleteMany({ where: { id: report.subjectId } });
      return;
    case 'IMAGE':
      effects.storedKeys = await removeImagesInTx(tx, { id: report.subjectId });
      return;
  }
}

/**
 * Admin only. Resolves a report, and every other open report of its subject, with one action.
 * NOT_FOUND (id) for no such report; CONFLICT when it was resolved already (two admins at once:
 * the second is told, under the row locks of the subject's reports).
 */
export async function resolveReport(
  deps: AppDeps,
  adminId: string,
  id: string,
  action: ModerationAction,
  rawNote: string | null | undefined,
  query: Query = {},
) {
  const note = rawNote == null ? null : text('note', rawNote, { max: REPORT_LIMITS.note });
  if (!isUuid(id)) throw notFound('Report', { field: 'id' });
  const effects: Consequences = { exits: [], message: null, storedKeys: [], sessions: [], eventChanged: false };
  await deps.prisma.$transaction(async (tx) => {
    const named = await tx.report.findUnique({ where: { id }, select: { subject: true, subjectId: true } });
    if (!named) throw notFound('Report', { field: 'id' });
    // Every report of the subject, in id order: two admins resolving two reports of one subject
    // queue on the same first row instead of each holding one and waiting for the other's.
    await tx.$queryRaw`SELECT id FROM reports
      WHERE subject = ${named.subject}::"ReportSubject" AND subject_id = ${named.subjectId}::uuid
      ORDER BY id FOR UPDATE`;
    const report = await tx.report.findUniqueOrThrow({ where: { id } });
    if (report.status !== 'OPEN') throw conflict('This report was resolved already', { field: 'id' });
    if (action === 'REMOVE_CONTENT') await removeContent(tx, report, effects);
    if (action === 'SUSPEND_USER') {
      if (report.subjectOwnerId === adminId) throw badInput('action', 'You cannot suspend yourself');
      effects.sessions = await suspendInTx(
        tx,
        report.subjectOwnerId,
        null,
        note || `Suspended after a report (${report.reason.toLowerCase()})`,
      );
    }
    await tx.report.updateMany({
      where: { subject: report.subject, subjectId: report.subjectId, status: 'OPEN' },
      data: {
        status: action === 'DISMISS' ? 'DISMISSED' : 'ACTIONED',
        action,
        note,
        resolvedById: adminId,
        resolvedAt: new Date(),
      },
    });
  });
  if (effects.eventChanged) deps.changes.committed();
  await Promise.all([
    publishChatsLeft(deps, effects.exits),
    effects.message && publishMessageRemoved(deps, effects.message),
    removeStoredObjects(deps, effects.storedKeys),
    endSessions(deps, effects.sessions),
  ]);
  deps.logger.info({ adminId, reportId: id, action }, 'report resolved');
  return deps.prisma.report.findUniqueOrThrow({ ...query, where: { id } });
}

/** The admins' queue: reports with the status (all when null), oldest first. */
export const reportsWhere = (status: Report['status'] | null | undefined): Prisma.ReportWhereInput =>
  status ? { status } : {};
