-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "NotificationKind" ADD VALUE 'WAITLIST_PROMOTED';
ALTER TYPE "NotificationKind" ADD VALUE 'EVENT_REMINDER';

-- CreateTable
CREATE TABLE "event_waitlist" (
    "id" BIGSERIAL NOT NULL,
    "event_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "joined_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "event_waitlist_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "event_waitlist_event_id_id_idx" ON "event_waitlist"("event_id", "id");

-- CreateIndex
CREATE INDEX "event_waitlist_user_id_idx" ON "event_waitlist"("user_id");

-- CreateIndex
CREATE UNIQUE INDEX "event_waitlist_event_id_user_id_key" ON "event_waitlist"("event_id", "user_id");

-- AddForeignKey
ALTER TABLE "event_waitlist" ADD CONSTRAINT "event_waitlist_event_id_fkey" FOREIGN KEY ("event_id") REFERENCES "events"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "event_waitlist" ADD CONSTRAINT "event_waitlist_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
