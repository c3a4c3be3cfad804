// Sessions end at once, everywhere: whichever way a session ends on instance A, instance B
// refuses its access token (HTTP 401 UNAUTHENTICATED) and closes its sockets with 4403 within
// 2 s, through the session cache that pub/sub invalidates; and the role comes from the session
// now, not from the token.
import { describe, expect, it } from 'vitest';
import type { Client } from 'graphql-ws';
import {
  ChangePasswordDocument,
  DeleteAccountDocument,
  LoginDocument,
  LogoutAllSessionsDocument,
  LogoutDocument,
  MeDocument,
  RefreshSessionDocument,
  SetUserCertifiedDocument,
  SuspendUserDocument,
} from '../generated/graphql.ts';
import { codes, createAdmin, createUser, gql, gqlOk, wsClient, wsRequest } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { eventually } from '../helpers/eventually.ts';
import { testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';
import { setRole } from '../../src/services/accounts/index.ts';

const REVOCATION_DEADLINE_MS = 2_000;

/** A socket on `server` signed in with the token, open and answering; resolves `closed` with its close code. */
async function openSocket(server: TestServer, token: string): Promise<{ client: Client; closed: Promise<number> }> {
  const client = wsClient(server, { authorization: `Bearer ${token}` }, { stayConnected: true });
  const closed = new Promise<number>((resolve) =>
    client.on('closed', (event) => resolve((event as { code: number }).code)),
  );
  const me = await wsRequest(client, MeDocument);
  expect(me.errors).toBeUndefined();
  return { client, closed };
}

const within = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms).unref()),
  ]);

/** After `end` runs on A: B refuses the token over HTTP and has closed B's socket with 4403, both within 2 s. */
async function expectEndedOnB(a: TestServer, b: TestServer, user: TestUser, end: () => Promise<unknown>) {
  // B knows the session as live (its cache holds it) and holds a socket of it.
  expect((await gql(b, MeDocument, {}, { token: user.accessToken })).status).toBe(200);
  const socket = await openSocket(b, user.accessToken);
  const started = Date.now();
  await end();
  const refused = await eventually(
    async () => {
      const result = await gql(b, MeDocument, {}, { token: user.accessToken });
      return result.status === 401 && codes(result).join() === 'UNAUTHENTICATED';
    },
    { timeoutMs: REVOCATION_DEADLINE_MS, intervalMs: 10, what: 'B to refuse the access token' },
  );
  expect(refused).toBe(true);
  expect(await within(socket.closed, REVOCATION_DEADLINE_MS - (Date.now() - started), 'close')).toBe(4403);
  await socket.client.dispose();
  // A refuses it too, and a new socket with it is refused at once.
  expect((await gql(a, MeDocument, {}, { token: user.accessToken })).status).toBe(401);
  const again = wsClient(b, { authorization: `Bearer ${user.accessToken}` });
  const code = new Promise<number>((resolve) => again.on('closed', (e) => resolve((e as { code: number }).code)));
  await wsRequest(again, MeDocument).catch(() => undefined);
  expect(await code).toBe(4403);
  await again.dispose();
  return Date.now() - started;
}

describe.runIf(testDatabaseUrl && testRedisUrl)('sessions end at once on every instance', () => {
  const { a, b } = twoInstances();

  it('logout on A: B refuses the token (401) and closes its socket (4403) within 2 s', async () => {
    const ana = await createUser(a());
    // Another session of the same user is not touched by logging out of this one.
    const other = (await gqlOk(a(), LoginDocument, { username: ana.username, password: ana.password })).login;
    await expectEndedOnB(a(), b(), ana, () => gqlOk(a(), LogoutDocument, { refreshToken: ana.refreshToken }));
    expect((await gql(b(), MeDocument, {}, { token: other.accessToken })).status).toBe(200);
  });

  it('logoutAllSessions on A ends every session of the user on B', async () => {
    const ana = await createUser(a());
    const other = (await gqlOk(a(), LoginDocument, { username: ana.username, password: ana.password })).login;
    await expectEndedOnB(a(), b(), ana, () => gqlOk(a(), LogoutAllSessionsDocument, {}, { token: other.accessToken }));
    expect((await gql(b(), MeDocument, {}, { token: other.accessToken })).status).toBe(401);
  });

  it('changePassword on A ends the sessions on B', async () => {
    const ana = await createUser(a());
    await expectEndedOnB(a(), b(), ana, () =>
      ana.gqlOk(ChangePasswordDocument, { currentPassword: ana.password, newPassword: 'a brand new password' }),
    );
  });

  it('refresh-token reuse on A ends the session, including the access token of the newest pair, on B', async () => {
    const ana = await createUser(a());
    const rotated = (await gqlOk(a(), RefreshSessionDocument, { refreshToken: ana.refreshToken })).refreshSession;
    const newest = { ...ana, accessToken: rotated.accessToken };
    await expectEndedOnB(a(), b(), newest, async () => {
      const reuse = await gql(a(), RefreshSessionDocument, { refreshToken: ana.refreshToken });
      expect(codes(reuse)).toEqual(['UNAUTHENTICATED']);
    });
  });

  it('a demoted admin can no longer run an admin mutation on B', async () => {
    const admin = await createAdmin(a());
    const target = await createUser(a());
    const certify = (token: string) =>
      gql(b(), SetUserCertifiedDocument, { userId: target.id, certified: true }, { token });
    expect((await certify(admin.accessToken)).data?.setUserCertified.isCertified).toBe(true);
    const elapsed = await expectEndedOnB(a(), b(), admin, () => setRole(a().deps, admin.username, 'USER'));
    expect(elapsed).toBeLessThan(REVOCATION_DEADLINE_MS);
    // Signed in again: a session of a USER.
    const login = (await gqlOk(b(), LoginDocument, { username: admin.username, password: admin.password })).login;
    expect(codes(await certify(login.accessToken))).toEqual(['FORBIDDEN']);
  });

  it('suspendUser on A ends every session of the user on B, and B refuses their sign-in', async () => {
    const admin = await createAdmin(a());
    const user = await createUser(a());
    const elapsed = await expectEndedOnB(a(), b(), user, () =>
      gqlOk(a(), SuspendUserDocument, { userId: user.id, reason: 'spam' }, { token: admin.accessToken }),
    );
    expect(elapsed).toBeLessThan(REVOCATION_DEADLINE_MS);
    expect(codes(await gql(b(), LoginDocument, { username: user.username, password: user.password }))).toEqual([
      'FORBIDDEN',
    ]);
    expect(codes(await gql(b(), RefreshSessionDocument, { refreshToken: user.refreshToken }))).toEqual([
      'UNAUTHENTICATED',
    ]);
  });

  it('deleteAccount on A ends every session of the user on B, and the name no longer signs in there', async () => {
    const user = await createUser(a());
    const elapsed = await expectEndedOnB(a(), b(), user, () =>
      gqlOk(a(), DeleteAccountDocument, { password: user.password }, { token: user.accessToken }),
    );
    expect(elapsed).toBeLessThan(REVOCATION_DEADLINE_MS);
    expect(codes(await gql(b(), LoginDocument, { username: user.username, password: user.password }))).toEqual([
      'UNAUTHENTICATED',
    ]);
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('the role comes from the session, not the token', () => {
  // A short trust so that a change made in the database without any message is seen soon.
  const { a, b } = twoInstances({ SESSION_CACHE_TTL_MS: '300' });

  it('a role changed in the database alone is the role within SESSION_CACHE_TTL_MS, though the token says ADMIN', async () => {
    const admin = await createAdmin(a());
    const target = await createUser(a());
    const certify = () =>
      gql(b(), SetUserCertifiedDocument, { userId: target.id, certified: true }, { token: admin.accessToken });
    expect((await certify()).data?.setUserCertified.isCertified).toBe(true);
    // No service, no message: only the cache's expiry can find this out.
    await a().deps.prisma.user.update({ where: { id: admin.id }, data: { role: 'USER' } });
    await eventually(async () => codes(await certify()).join() === 'FORBIDDEN', {
      timeoutMs: 2_000,
      what: 'the admin mutation to be FORBIDDEN',
    });
    // The session itself lives on: the token still signs the user in.
    expect((await gql(b(), MeDocument, {}, { token: admin.accessToken })).status).toBe(200);
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('the session cache fails closed when pub/sub cannot vouch', () => {
  // B hears pub/sub through a proxy that can turn into a black hole: the connection stays open
  // and looks ready, but nothing arrives, so the logout's message never reaches B.
  const instances = twoInstances({}, { redisProxyForB: true });

  it('A refuses the token within 2 s when the instance that ended the session (B) could not publish', async () => {
    const [a, b, redis] = [instances.a(), instances.b(), instances.redis()];
    const ana = await createUser(a);
    await eventually(() => a.deps.pubsub.listeningSince() !== null, { what: "A's subscriber listening" });
    // A trusts the session for a minute (pub/sub vouches for it there) and holds a socket of it.
    expect((await gql(a, MeDocument, {}, { token: ana.accessToken })).status).toBe(200);
    const socket = await openSocket(a, ana.accessToken);
    redis.mode = 'blackhole';
    try {
      const started = Date.now();
      const closed = socket.closed.then((code) => ({ code, after: Date.now() - started }));
      // The logout commits on B; its message goes nowhere (B's own answer waits out its Redis
      // deadlines). A hears nothing, but polls revocations.
      await gqlOk(b, LogoutDocument, { refreshToken: ana.refreshToken });
      const { code, after } = await within(closed, REVOCATION_DEADLINE_MS, 'close');
      expect(code).toBe(4403);
      expect(after).toBeLessThan(REVOCATION_DEADLINE_MS);
      expect((await gql(a, MeDocument, {}, { token: ana.accessToken })).status).toBe(401);
    } finally {
      redis.mode = 'up';
      await socket.client.dispose();
    }
    await eventually(() => b.deps.pubsub.listeningSince() !== null, { timeoutMs: 15_000, what: 'B listening again' });
  });

  it('B refuses the token and closes its idle socket though the logout message is lost', async () => {
    const [a, b, redis] = [instances.a(), instances.b(), instances.redis()];
    const ana = await createUser(a);
    await eventually(() => b.deps.pubsub.listeningSince() !== null, { what: "B's subscriber listening" });
    // B trusts the session (read while listening, so for SESSION_CACHE_TTL_MS, a minute) and
    // holds an idle socket of it.
    expect((await gql(b, MeDocument, {}, { token: ana.accessToken })).status).toBe(200);
    const socket = await openSocket(b, ana.accessToken);
    redis.mode = 'blackhole';
    try {
      const started = Date.now();
      await gqlOk(a, LogoutDocument, { refreshToken: ana.refreshToken });
      // B notices the silence (heartbeat, 1.5 s), stops trusting its entry beyond
      // SESSION_CACHE_UNSURE_TTL_MS (1 s), and asks the database: first for the idle socket,
      // which asks nothing itself (the sweep of open sockets' sessions), then for the token.
      const deadline = 3_000;
      expect(await within(socket.closed, deadline, 'close')).toBe(4403);
      expect((await gql(b, MeDocument, {}, { token: ana.accessToken })).status).toBe(401);
      expect(Date.now() - started).toBeLessThan(deadline);
      console.info(`session cache, pub/sub silent: token refused and socket closed in ${Date.now() - started} ms`);
    } finally {
      redis.mode = 'up';
      await socket.client.dispose();
    }
  });
});
