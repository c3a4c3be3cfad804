// The chat's planned live deliveries (../planned.ts): a messageAdded frame for a message that
// has just been sent is written from the change that announced it, which carries the message as
// sent and its sender's public name and avatar then (src/services/chat/index.ts, storeMessage),
// so the receiving instance reads nothing from the database for it. A selection with anything
// else (its status, readBy, the chat, more of the sender) is executed by graphql-js, and so is a
// replayed message (`after`): that one is read as it is now, edits and deletion included.
import { formatPrismaCursor } from '@pothos/plugin-prisma';
import { OperationTypeNode } from 'graphql';
import type { Context } from '../../context.ts';
import type { SentMessage } from '../../services/chat/index.ts';
import type { AddedMessage } from '../../services/chat/subscriptions.ts';
import { leavesFrom, namedObject, PlanFallback, writers } from '../planned.ts';
import type { RootPlanner } from '../planned.ts';

/**
 * How long after it was sent a message is still written as sent: a live frame leaves within
 * milliseconds; one later than this is read, so what it shows is never older than this.
 */
const FRESH_MS = 1_000;

/** What a planned frame is written from: the change, and the message as sent. */
interface Sent {
  added: AddedMessage;
  sent: SentMessage;
}

/** Message fields as a message just sent has them (./types.ts resolves them from its row). */
const MESSAGE: Record<string, (s: Sent) => unknown> = {
  id: (s) => s.added.messageId,
  body: (s) => s.sent.body,
  clientMessageId: (s) => s.sent.clientMessageId,
  createdAt: (s) => s.sent.createdAt,
  editedAt: () => null,
  deleted: () => false,
  cursor: (s) => formatPrismaCursor({ chatId: s.added.chatId, seq: s.added.seq }, ['chatId', 'seq']),
};
/** Fields whose value is in the DateTime scalar's wire form already. */
const AS_SENT = new Set(['createdAt']);

/** The sender's fields the change carries. */
const SENDER: Record<string, (s: Sent, ctx: Context) => unknown> = {
  id: (s) => s.added.senderId,
  username: (s) => s.sent.sender.username,
  fullName: (s) => s.sent.sender.fullName,
  avatarUrl: (s, ctx) =>
    s.sent.sender.avatarKey === null ? null : ctx.deps.storage.publicUrl(s.sent.sender.avatarKey),
};

const messageAddedPlanner: RootPlanner<Context> = {
  operation: OperationTypeNode.SUBSCRIPTION,
  field: 'messageAdded',
  compile(selection, type) {
    const messageField = leavesFrom<Sent, Context>(type, MESSAGE, AS_SENT);
    const write = writers<Sent, Context>(selection, type, (field) => {
      if (field.name !== 'sender') return messageField(field);
      const user = namedObject(type.getFields().sender!.type)!;
      return writers<Sent, Context>(field.fields, user, leavesFrom(user, SENDER));
    });
    if (!write) return null;
    return async (_args, ctx, source) => {
      const added = source as AddedMessage;
      // Replayed, or late (a gap read, a slow reader's queue): read as it is now, edits and
      // deletion included. No `sent`: logged by a version that did not record it, or taken out
      // since (an edit, a removal, the sender's account deleted).
      if (added.page || !added.sent || Date.now() - Date.parse(added.sent.createdAt) > FRESH_MS)
        throw new PlanFallback('not a message just sent');
      try {
        return write({ added, sent: added.sent }, ctx);
      } catch (error) {
        throw new PlanFallback(error);
      }
    };
  },
};

/** The chat's planners, for ../planned.ts. */
export const chatPlanners: readonly RootPlanner<Context>[] = [messageAddedPlanner];
