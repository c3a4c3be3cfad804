-- AlterTable
ALTER TABLE "event_invitations" ADD COLUMN     "accepted_at" TIMESTAMPTZ(3);

-- Invitees who already joined have accepted (when exactly is not known: their joining time).
UPDATE "event_invitations" i
SET "accepted_at" = a."joined_at"
FROM "event_attendees" a
WHERE a."event_id" = i."event_id" AND a."user_id" = i."user_id" AND i."declined_at" IS NULL;
