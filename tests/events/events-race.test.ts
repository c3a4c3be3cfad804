// Capacity under concurrency: the conditional update in one transaction must hold.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventDocument, JoinEventDocument } from '../generated/graphql.ts';
import { codes, createUser } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
let host: TestUser;
let joiners: TestUser[];

beforeAll(async () => {
  server = await startTestServer();
  host = await createUser(server);
  await certify(server, host);
  joiners = await Promise.all(Array.from({ length: 50 }, () => createUser(server)));
});
afterAll(async () => {
  await server?.close();
});

describe('joinEvent under concurrency', () => {
  it('seats exactly 10 of 50 simultaneous joiners on an event for 10 (host included); the rest get CONFLICT', async () => {
    const event = await createEvent(server, host, { isPublic: true, maxParticipants: 10 });
    const results = await Promise.all(joiners.map((user) => user.gql(JoinEventDocument, { id: event.id })));

    const seated = results.filter((r) => r.data?.joinEvent);
    const refused = results.filter((r) => !r.data?.joinEvent);
    expect(seated).toHaveLength(9);
    expect(refused.map((r) => codes(r)[0])).toEqual(Array(41).fill('CONFLICT'));

    const { event: after } = await host.gqlOk(EventDocument, { id: event.id });
    expect(after?.attendeeCount).toBe(10);
    expect(after?.spotsLeft).toBe(0);
    expect(after?.attendees.edges).toHaveLength(9);
    expect(await server.deps.prisma.eventAttendee.count({ where: { eventId: event.id } })).toBe(9);
    // One version step per seat taken.
    expect(after?.version).toBe(10);
  });
});
