-- CreateIndex
CREATE INDEX "session_families_revoked_at_idx" ON "session_families"("revoked_at");
