// createApp's `sessions` seam, which the bench's session-check A/B (case 1, bench/cases/map.ts)
// relies on: an instance given claims-trusting session states no longer checks sessions, so the
// access token of a session that has ended still works there.
// (That an ended session's token is refused by a normal instance: accounts.test.ts, sessions.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogoutDocument, MeDocument } from '../generated/graphql.ts';
import { createUser } from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';
import { claimsTrustingSessions } from '../../bench/lib/app.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ seams: { sessions: claimsTrustingSessions() } });
});
afterAll(() => server?.close());

describe('the sessions seam', () => {
  it('replaces the session check: an ended session’s token still signs in', async () => {
    const user = await createUser(server);
    expect((await user.gqlOk(LogoutDocument, { refreshToken: user.refreshToken })).logout).toBe(true);
    // The session row is revoked all the same; only the check that would refuse the token is gone.
    const family = await server.deps.prisma.sessionFamily.findMany({ where: { userId: user.id } });
    expect(family.map((f) => f.revokedAt !== null)).toEqual([true]);
    const me = await user.gqlOk(MeDocument, {});
    expect(me.me).toMatchObject({ id: user.id, username: user.username });
  });
});
