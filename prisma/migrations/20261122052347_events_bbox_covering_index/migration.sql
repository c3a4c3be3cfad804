-- DropIndex
DROP INDEX "events_latitude_longitude_idx";

-- CreateIndex
CREATE INDEX "events_bbox_idx" ON "events"("latitude", "longitude", "starts_at", "id", "status", "is_public", "host_id");
