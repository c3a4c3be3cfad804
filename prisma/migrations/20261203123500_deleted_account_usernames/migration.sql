-- A deleted account keeps its row as a tombstone (src/services/accounts/deletion.ts) under a
-- username registration can never produce (a hyphen), so its old name is free for others and
-- no one can take the tombstone's.
ALTER TABLE "users" DROP CONSTRAINT "users_username_format";
ALTER TABLE "users" ADD CONSTRAINT "users_username_format" CHECK (
  "username" ~ '^[a-z0-9_.]{3,30}$'
  OR ("deleted_at" IS NOT NULL AND "username" ~ '^deleted-[0-9a-f]{16}$')
);
