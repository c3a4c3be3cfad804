-- CreateTable
CREATE TABLE "change_log" (
    "id" BIGSERIAL NOT NULL,
    "position" BIGINT,
    "topics" TEXT[],
    "payload" TEXT NOT NULL,
    "ref" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "change_log_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "change_log_state" (
    "id" BOOLEAN NOT NULL DEFAULT true,
    "head" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "change_log_state_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "change_log_position_key" ON "change_log"("position");

-- CreateIndex
CREATE INDEX "change_log_topics_idx" ON "change_log" USING GIN ("topics");

-- CreateIndex
CREATE INDEX "change_log_ref_idx" ON "change_log"("ref");

-- The relay's one row (src/changes/feed.ts): the last position given out.
INSERT INTO "change_log_state" ("id", "head") VALUES (true, 0);
