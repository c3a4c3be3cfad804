-- AlterTable
ALTER TABLE "users" ADD COLUMN     "suspended_until" TIMESTAMPTZ(3),
ADD COLUMN     "suspension_reason" VARCHAR(500);

-- CreateIndex
CREATE INDEX "users_suspended_idx" ON "users"("suspended_until") WHERE (suspended_until IS NOT NULL);
