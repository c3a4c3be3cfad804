-- CreateIndex
-- What the relay has yet to position: a handful of rows however long the log (the relay and
-- the poll's pending check no longer scan every positioned row).
CREATE INDEX "change_log_unrelayed_idx" ON "change_log"("id") WHERE (position IS NULL);

-- The relay (src/changes/feed.ts) in one statement, so one round trip: gives the committed
-- changes without a position the next positions, oldest first, at most `batch` of them, and
-- returns them. The state row's lock makes relays take turns. A VOLATILE function takes a
-- fresh snapshot for each statement in READ COMMITTED, so the statement after the lock sees
-- every change committed before the previous relay did: positions follow the order in which
-- changes became visible, and no reader of "after P" can miss one that commits later. (Under
-- REPEATABLE READ or SERIALIZABLE, a relay that waited for another fails with a serialization
-- error instead, and the next one retries: still no wrong position.)
CREATE FUNCTION change_log_relay(batch integer)
RETURNS TABLE (id bigint, "position" bigint, topics text[], payload text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
  PERFORM 1 FROM change_log_state FOR UPDATE;
  RETURN QUERY
    WITH next AS (
      SELECT p.id, s.head + row_number() OVER (ORDER BY p.id) AS pos
      FROM (SELECT c.id FROM change_log c WHERE c.position IS NULL ORDER BY c.id LIMIT batch) p, change_log_state s),
    relayed AS (
      UPDATE change_log c SET position = next.pos FROM next WHERE c.id = next.id
      RETURNING c.id, c.position, c.topics, c.payload),
    bumped AS (
      UPDATE change_log_state SET head = head + (SELECT count(*) FROM relayed) WHERE (SELECT count(*) FROM relayed) > 0)
    SELECT r.id, r.position, r.topics, r.payload FROM relayed r ORDER BY r.position;
END
$$;
