-- DropIndex
DROP INDEX "event_shares_event_id_idx";

-- Repeated shares of one event by one sender to one recipient: keep the first.
DELETE FROM "event_shares" s
USING "event_shares" k
WHERE s."event_id" = k."event_id"
  AND s."shared_by_id" = k."shared_by_id"
  AND s."shared_with_id" = k."shared_with_id"
  AND (k."created_at", k."id") < (s."created_at", s."id");

-- CreateIndex
CREATE UNIQUE INDEX "event_shares_event_id_shared_by_id_shared_with_id_key" ON "event_shares"("event_id", "shared_by_id", "shared_with_id");
