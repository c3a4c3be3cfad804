// Event fixtures through the API, as a client would make them.
import { Prisma } from '../../src/generated/prisma/client.ts';
import { CreateEventDocument } from '../generated/graphql.ts';
import type { CreateEventInput } from '../generated/graphql.ts';
import { gqlOk } from './client.ts';
import type { TestUser } from './client.ts';
import type { TestServer } from './server.ts';

export const BERLIN = { latitude: 52.52, longitude: 13.405 };

const HOUR = 3600_000;

/** A valid event input an hour from now, at Berlin unless overridden. */
export function eventInput(overrides: Partial<CreateEventInput> = {}): CreateEventInput {
  const startsAt = new Date(Date.now() + HOUR);
  return {
    title: 'Study group',
    ...BERLIN,
    startsAt: startsAt.toISOString(),
    endsAt: new Date(startsAt.getTime() + 2 * HOUR).toISOString(),
    ...overrides,
  };
}

/** Lets the user create public events (the admin path is covered by the accounts tests). */
export async function certify(server: TestServer, user: TestUser): Promise<void> {
  await server.deps.prisma.user.update({ where: { id: user.id }, data: { isCertified: true } });
}

export async function createEvent(server: TestServer, host: TestUser, overrides: Partial<CreateEventInput> = {}) {
  const { createEvent } = await gqlOk(
    server,
    CreateEventDocument,
    { input: eventInput(overrides) },
    { token: host.accessToken },
  );
  return createEvent;
}

/**
 * Moves an event, the moments its guests joined and its reminders' due times `ms` into the past, as if that much time
 * had gone by: the API refuses starts in the past, so "an event under way" is made like this.
 */
export async function passTime(server: TestServer, eventId: string, ms: number): Promise<void> {
  const { prisma } = server.deps;
  await prisma.$executeRaw`UPDATE events SET starts_at = starts_at - ${ms} * interval '1 millisecond',
    ends_at = ends_at - ${ms} * interval '1 millisecond' WHERE id = ${eventId}::uuid`;
  await prisma.$executeRaw`UPDATE event_attendees SET joined_at = joined_at - ${ms} * interval '1 millisecond'
    WHERE event_id = ${eventId}::uuid`;
  await prisma.$executeRaw`UPDATE event_reminders SET due_at = due_at - ${ms} * interval '1 millisecond'
    WHERE event_id = ${eventId}::uuid`;
}

/**
 * `count` events of `hostId` in one INSERT … SELECT, spread over the globe (row i at
 * latitude (i·7919 mod 160000)/1000 − 80, longitude (i·104729 mod 360000)/1000 − 180, starting
 * i minutes from now), then ANALYZE. `title`, `description` and `isPublic` are SQL over `i`. Run
 * it on a server started with a long DATABASE_QUERY_TIMEOUT_MS: the insert outlasts a request's.
 */
export async function insertBulkEvents(
  server: TestServer,
  hostId: string,
  count: number,
  sql: { title?: string; description?: string; isPublic?: string } = {},
): Promise<void> {
  const { title = `'Bulk ' || i`, description = `''`, isPublic = 'i % 2 = 0' } = sql;
  const inserted = await server.deps.prisma.$executeRawUnsafe(
    `INSERT INTO events (id, host_id, title, description, latitude, longitude, starts_at, ends_at, is_public, updated_at)
     SELECT gen_random_uuid(), $1::uuid, ${title}, ${description},
            ((i * 7919) % 160000)::float8 / 1000 - 80, ((i * 104729) % 360000)::float8 / 1000 - 180,
            now() + i * interval '1 minute', now() + i * interval '1 minute' + interval '2 hours', ${isPublic}, now()
     FROM generate_series(1::bigint, ${count}::bigint) AS i`,
    hostId,
  );
  if (inserted !== count) throw new Error(`inserted ${inserted} events, not ${count}`);
  await server.deps.prisma.$executeRawUnsafe('ANALYZE events');
}

/** EXPLAIN of a statement on the server's database, as text. */
export async function explainPlan(server: TestServer, sql: Prisma.Sql): Promise<string> {
  const rows = await server.deps.prisma.$queryRaw<Array<{ 'QUERY PLAN': string }>>(Prisma.sql`EXPLAIN ${sql}`);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}
