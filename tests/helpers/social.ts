// Social fixtures written straight to the database, for suites about something else (the
// friendship flow itself is driven through the API in tests/social/).
import { orderedPair } from '../../src/services/social/index.ts';
import type { TestUser } from './client.ts';
import type { TestServer } from './server.ts';

/** Makes two users friends (one friendship row, as acceptFriendRequest leaves). */
export async function befriend(server: TestServer, a: TestUser, b: TestUser): Promise<void> {
  await server.deps.prisma.friendship.create({ data: orderedPair(a.id, b.id) });
}
