-- AlterTable
ALTER TABLE "users" ADD COLUMN     "reminder_minutes_before" INTEGER DEFAULT 60;

-- CreateTable
CREATE TABLE "event_reminders" (
    "event_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "due_at" TIMESTAMPTZ(3),
    "sent_at" TIMESTAMPTZ(3),

    CONSTRAINT "event_reminders_pkey" PRIMARY KEY ("event_id","user_id")
);

-- CreateIndex
CREATE INDEX "event_reminders_user_id_idx" ON "event_reminders"("user_id");

-- CreateIndex
CREATE INDEX "event_reminders_due_idx" ON "event_reminders"("due_at") WHERE (sent_at IS NULL AND due_at IS NOT NULL);

-- AddForeignKey
ALTER TABLE "event_reminders" ADD CONSTRAINT "event_reminders_event_id_fkey" FOREIGN KEY ("event_id") REFERENCES "events"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "event_reminders" ADD CONSTRAINT "event_reminders_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Up to a week ahead (REMINDER_LIMITS in src/services/events/reminders.ts).
ALTER TABLE "users" ADD CONSTRAINT "users_reminder_minutes_before" CHECK ("reminder_minutes_before" BETWEEN 0 AND 10080);

-- A row per attendance (hosts included) of every event yet to start; due_at null where the user
-- wants no reminders or its time has passed already.
INSERT INTO "event_reminders" ("event_id", "user_id", "due_at")
SELECT p.event_id, p.user_id,
       CASE WHEN e.starts_at - u.reminder_minutes_before * interval '1 minute' > now()
            THEN e.starts_at - u.reminder_minutes_before * interval '1 minute' END
FROM (SELECT event_id, user_id FROM "event_attendees" UNION SELECT id, host_id FROM "events") p
JOIN "events" e ON e.id = p.event_id
JOIN "users" u ON u.id = p.user_id
WHERE e.status <> 'CANCELLED' AND e.starts_at > now();
