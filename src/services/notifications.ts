// Notification rows. Domains call notify() inside their transaction, so a notification exists
// exactly when its cause committed. Delivery (feed, live, push) builds on these rows.
import type { NotificationKind, Prisma } from '../generated/prisma/client.ts';

export interface NotificationInput {
  recipientId: string;
  kind: NotificationKind;
  actorId?: string | null;
  eventId?: string | null;
  text: string;
}

type Tx = Prisma.TransactionClient;

/** Stores notifications; nobody is notified of their own action. */
export async function notify(tx: Tx, notifications: NotificationInput[]): Promise<void> {
  const rows = notifications.filter((n) => n.recipientId !== n.actorId).map((n) => ({ ...n, text: n.text.slice(0, 500) }));
  if (rows.length) await tx.notification.createMany({ data: rows });
}
