// Prisma CLI configuration. The URL is only read by CLI commands that need a database
// (`prisma migrate deploy`, `prisma studio`); the app builds its own adapter in src/db.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations', seed: 'tsx scripts/seed.ts' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/pinit' },
});
