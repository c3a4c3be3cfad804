// Event fixtures through the API, as a client would make them.
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
