// The change log: live data that never loses a change.
//
// What eventChanged, myEventsChanged, messageAdded and notificationAdded deliver is recorded
// here in the same transaction as its cause (recordChanges), with the topics it goes to. After
// the commit a relay (feed.ts) gives each change the next position, in commit order, and
// publishes it; every instance reads the log in position order and hands each change to its
// local subscribers. A crash or a pub/sub outage between commit and publish delays a change
// (the next poll relays it) but never loses it.
//
// Positions: a sequence or timestamp taken inside the writing transaction is not in commit
// order, so a reader resuming after P could miss a smaller one that commits later. Positions
// are given after commit instead, by one relay at a time (PostgreSQL's row lock on
// change_log_state), so the positions a reader sees are always a gapless prefix. The engine is
// PostgreSQL's (PGlite's in the embedded default): same code, same guarantees.
//
// Cursors are the clients' names for positions: a change's id (EventChange.cursor), or the row
// a change is about (Message.cursor, Notification.cursor, through `ref`). Resuming after one
// replays the log from its position, then goes on live with no gap and no duplicate.
import type { Prisma } from '../generated/prisma/client.ts';
import { decodeCursor, encodeCursor } from '../lib/cursors.ts';
import { resyncRequired } from '../lib/errors.ts';
import { codec } from '../pubsub/codec.ts';
import type { Change, ChangeFeed, ChangeRecord, ChangeRef } from './types.ts';

export { createChangeFeed } from './feed.ts';
export type { ChangeFeedOptions } from './feed.ts';
export type { Change, ChangeFeed, ChangeRecord, ChangeRef } from './types.ts';

type Tx = Prisma.TransactionClient;

/** Records changes in the caller's transaction; the caller tells the feed once it committed. */
export async function recordChanges(tx: Tx, changes: readonly ChangeRecord[]): Promise<void> {
  if (!changes.length) return;
  await tx.change.createMany({
    data: changes.map((c) => ({ topics: [...c.topics], payload: codec.encode(c.payload), ref: c.ref ?? null })),
  });
}

/** A change's cursor (EventChange.cursor): its id, opaque to clients. */
export const changeCursor = (id: number) => encodeCursor('change', [id]);

/**
 * The position to resume after, for a ref a cursor decoded to: RESYNC_REQUIRED when the log no
 * longer holds the change.
 */
export async function resumePosition(feed: ChangeFeed, ref: ChangeRef): Promise<number> {
  const position = await feed.positionOf(ref);
  if (position === null) throw resyncRequired();
  return position;
}

/**
 * Where a subscription's `after` (a change cursor) resumes: undefined without one;
 * BAD_USER_INPUT on `after` for a text that is not a change cursor.
 */
export async function afterChangeCursor(
  feed: ChangeFeed,
  after: string | null | undefined,
): Promise<number | undefined> {
  if (after === null || after === undefined) return undefined;
  const [id] = decodeCursor('after', after, { list: 'change', parts: ['serial'] }) as [number];
  return resumePosition(feed, { id });
}

/** Reads for pages of replayed changes: per page, per kind of read (a selection), the rows by id. */
const pageReads = new WeakMap<object, Map<string, Promise<Map<string, unknown>>>>();

/**
 * Reads the row a replayed change is about, together with the rows of the other changes of its
 * page, in one `readMany` per page and `kind` (one query for a page of 500 instead of 500; what
 * makes a resume after many changes quick). `idOf` names each change's row, or null for one the
 * subscriber will skip. Null when `readMany` did not return the row. The rows live as long as
 * the page does. (A live change has no page: read its row alone.)
 */
export async function readAlongPage<T, R extends { id: string }>(
  page: ReadonlyArray<Change<T>>,
  id: string,
  kind: string,
  idOf: (payload: T) => string | null,
  readMany: (ids: string[]) => Promise<R[]>,
): Promise<R | null> {
  let reads = pageReads.get(page);
  if (!reads) pageReads.set(page, (reads = new Map<string, Promise<Map<string, unknown>>>()));
  let rows = reads.get(kind) as Promise<Map<string, R>> | undefined;
  if (!rows) {
    const ids = new Set(page.map((c) => idOf(c.payload)).filter((i): i is string => i !== null));
    ids.add(id);
    rows = readMany([...ids]).then((found) => new Map(found.map((r) => [r.id, r])));
    // A failed read is not kept: the next change of the page tries again.
    rows.catch(() => reads.delete(kind));
    reads.set(kind, rows);
  }
  return (await rows).get(id) ?? null;
}
