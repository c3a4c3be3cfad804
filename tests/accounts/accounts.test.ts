import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenIssuer } from '../../src/auth/tokens.ts';
import {
  ChangePasswordDocument,
  LoginDocument,
  LogoutAllSessionsDocument,
  LogoutDocument,
  MeDocument,
  RefreshSessionDocument,
  RegisterDocument,
  SetUserCertifiedDocument,
  UpdateProfileDocument,
  UserByIdDocument,
} from '../generated/graphql.ts';
import {
  codes,
  createAdmin,
  createUser,
  gql,
  gqlOk,
  sessionIdOf,
  TEST_PASSWORD,
  uniqueName,
  wsClient,
  wsRequest,
} from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ env: { RATE_LIMIT_LOGIN_PER_USERNAME: '5/600' } });
});
afterAll(async () => {
  await server?.close();
});

describe('the account flow over HTTP', () => {
  it('registers, logs in, reads and edits the profile, rotates and revokes sessions', async () => {
    const username = uniqueName('Flow');
    const { register } = await gqlOk(server, RegisterDocument, {
      input: { username, password: TEST_PASSWORD, fullName: 'Flo Flow', email: `${username}@example.com` },
    });
    expect(register.user.username).toBe(username.toLowerCase());
    expect(new Date(register.accessTokenExpiresAt).getTime() - Date.now()).toBeGreaterThan(14 * 60_000);
    expect(new Date(register.accessTokenExpiresAt).getTime() - Date.now()).toBeLessThanOrEqual(15 * 60_000);

    // Usernames are case-insensitive on login too.
    const { login } = await gqlOk(server, LoginDocument, { username: username.toUpperCase(), password: TEST_PASSWORD });
    const { me } = await gqlOk(server, MeDocument, {}, { token: login.accessToken });
    expect(me).toMatchObject({ id: register.user.id, fullName: 'Flo Flow', role: 'USER', isCertified: false });
    expect(me?.reputation).toMatchObject({
      totalRatings: 0,
      averageRating: 0,
      trustLevel: { level: 1, title: 'Newcomer' },
    });
    expect(me?.settings).toEqual({
      autoInviteEnabled: true,
      preferredRadiusKm: 10,
      homeLatitude: null,
      homeLongitude: null,
      reminderMinutesBefore: 60,
    });

    const { updateProfile } = await gqlOk(
      server,
      UpdateProfileDocument,
      {
        input: {
          bio: '  Maths and coffee.  ',
          interests: [' Chess', 'chess', 'MACHINE   learning', ''],
          skills: [
            { name: 'Python', level: 'advanced' },
            { name: 'python', level: 'expert' },
            { name: 'SQL', level: 'basic' },
          ],
          homeLatitude: 52.5,
          homeLongitude: 13.4,
          preferredRadiusKm: 25,
        },
      },
      { token: login.accessToken },
    );
    expect(updateProfile).toMatchObject({
      bio: 'Maths and coffee.',
      interests: ['chess', 'machine learning'],
      skills: [
        { name: 'python', level: 'expert' },
        { name: 'SQL', level: 'basic' },
      ],
      settings: { homeLatitude: 52.5, homeLongitude: 13.4, preferredRadiusKm: 25 },
    });

    // Rotation: the new refresh token works once; the old one is dead.
    const first = await gqlOk(server, RefreshSessionDocument, { refreshToken: login.refreshToken });
    expect(first.refreshSession.refreshToken).not.toBe(login.refreshToken);
    const second = await gqlOk(server, RefreshSessionDocument, { refreshToken: first.refreshSession.refreshToken });

    // Reusing a rotated token revokes the whole family, including the newest token.
    const reuse = await gql(server, RefreshSessionDocument, { refreshToken: login.refreshToken });
    expect(codes(reuse)).toEqual(['UNAUTHENTICATED']);
    const afterReuse = await gql(server, RefreshSessionDocument, { refreshToken: second.refreshSession.refreshToken });
    expect(codes(afterReuse)).toEqual(['UNAUTHENTICATED']);

    // Other sessions (the registration one) are untouched by that revocation; logout ends it.
    expect((await gqlOk(server, LogoutDocument, { refreshToken: register.refreshToken })).logout).toBe(true);
    expect((await gqlOk(server, LogoutDocument, { refreshToken: register.refreshToken })).logout).toBe(false);
    expect(codes(await gql(server, RefreshSessionDocument, { refreshToken: register.refreshToken }))).toEqual([
      'UNAUTHENTICATED',
    ]);
  });

  it('lets exactly one of two concurrent refreshes of one token win, and then revokes the family', async () => {
    const user = await createUser(server);
    const results = await Promise.all([
      gql(server, RefreshSessionDocument, { refreshToken: user.refreshToken }),
      gql(server, RefreshSessionDocument, { refreshToken: user.refreshToken }),
    ]);
    const winners = results.filter((r) => r.data?.refreshSession);
    expect(winners).toHaveLength(1);
    expect(codes(results.find((r) => !r.data?.refreshSession)!)).toEqual(['UNAUTHENTICATED']);
    // The loser looked like a replay, so even the winner's new token is revoked.
    const next = await gql(server, RefreshSessionDocument, {
      refreshToken: winners[0]!.data!.refreshSession.refreshToken,
    });
    expect(codes(next)).toEqual(['UNAUTHENTICATED']);
  });

  it('logs out everywhere and changes passwords', async () => {
    const user = await createUser(server);
    const other = await gqlOk(server, LoginDocument, { username: user.username, password: user.password });
    expect((await user.gqlOk(LogoutAllSessionsDocument, {})).logoutAllSessions).toBe(true);
    for (const token of [user.refreshToken, other.login.refreshToken]) {
      expect(codes(await gql(server, RefreshSessionDocument, { refreshToken: token }))).toEqual(['UNAUTHENTICATED']);
    }
    // The ended sessions' access tokens stop at once (tests/accounts/sessions.test.ts: on every instance).
    expect((await user.gql(MeDocument, {})).status).toBe(401);
    const again = await gqlOk(server, LoginDocument, { username: user.username, password: user.password });
    user.accessToken = again.login.accessToken;

    const wrong = await user.gql(ChangePasswordDocument, {
      currentPassword: 'not my password',
      newPassword: 'brand new password',
    });
    expect(codes(wrong)).toEqual(['BAD_USER_INPUT']);
    expect(wrong.errors?.[0]?.extensions?.field).toBe('currentPassword');
    const weak = await user.gql(ChangePasswordDocument, { currentPassword: user.password, newPassword: 'short' });
    expect(weak.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'newPassword' });

    await user.gqlOk(ChangePasswordDocument, { currentPassword: user.password, newPassword: 'brand new password' });
    expect(codes(await gql(server, LoginDocument, { username: user.username, password: user.password }))).toEqual([
      'UNAUTHENTICATED',
    ]);
    await gqlOk(server, LoginDocument, { username: user.username, password: 'brand new password' });
  });
});

describe('bad input on accounts', () => {
  it('answers wrong passwords and unknown users alike, and duplicates with CONFLICT', async () => {
    const user = await createUser(server);
    const wrong = await gql(server, LoginDocument, { username: user.username, password: 'wrong password!' });
    const unknown = await gql(server, LoginDocument, { username: uniqueName('nobody'), password: 'wrong password!' });
    expect(codes(wrong)).toEqual(['UNAUTHENTICATED']);
    expect(unknown.errors?.[0]?.message).toBe(wrong.errors?.[0]?.message);

    const dup = await gql(server, RegisterDocument, {
      input: { username: user.username.toUpperCase(), password: TEST_PASSWORD },
    });
    expect(dup.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', field: 'username' });
    expect(dup.status).toBe(200);
  });

  it.each([
    ['ab', TEST_PASSWORD, 'username'],
    ['has space', TEST_PASSWORD, 'username'],
    ['x'.repeat(31), TEST_PASSWORD, 'username'],
    ['émile', TEST_PASSWORD, 'username'],
    [null, 'short', 'password'],
    [null, 'p'.repeat(129), 'password'],
  ])('rejects username %j / password of %j', async (username, password, field) => {
    const result = await gql(server, RegisterDocument, { input: { username: username ?? uniqueName(), password } });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('rejects malformed, forged and expired access tokens with 401 UNAUTHENTICATED', async () => {
    const user = await createUser(server);
    const expired = await createTokenIssuer(server.config.jwtSecret!, -60).sign(
      user.id,
      'USER',
      sessionIdOf(user.accessToken),
    );
    const forged = await createTokenIssuer('another-secret-another-secret-another-1').sign(
      user.id,
      'ADMIN',
      sessionIdOf(user.accessToken),
    );
    for (const header of ['Token abc', 'Bearer not.a.jwt', `Bearer ${expired.token}`, `Bearer ${forged.token}`]) {
      const result = await gql(server, MeDocument, {}, { headers: { authorization: header } });
      expect(result.status).toBe(401);
      expect(codes(result)).toEqual(['UNAUTHENTICATED']);
    }
  });

  it('answers oversized and malformed bodies and unknown fields without a 500', async () => {
    const big = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ me { id } }`, variables: { pad: 'x'.repeat(2 * 1024 * 1024) } }),
    });
    expect(big.status).toBe(413);
    expect((await big.json()).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');

    const malformed = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query": ',
    });
    expect(malformed.status).toBe(400);
    expect((await malformed.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');

    const unknownField = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { id passwordHash } }' }),
    });
    expect(unknownField.status).toBe(400);
    expect((await unknownField.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');

    const badVariable = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'mutation($u: String!) { login(username: $u, password: "x") { accessToken } }',
        variables: { u: 42 },
      }),
    });
    expect(badVariable.status).toBe(400);
    expect((await badVariable.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('rate-limits login attempts per username with RATE_LIMITED', async () => {
    const user = await createUser(server);
    const attempts = [];
    for (let i = 0; i < 6; i++)
      attempts.push(await gql(server, LoginDocument, { username: user.username, password: 'wrong password!' }));
    expect(attempts.slice(0, 5).map((r) => codes(r)[0])).toEqual(Array(5).fill('UNAUTHENTICATED'));
    expect(codes(attempts[5]!)).toEqual(['RATE_LIMITED']);
    // Even the right password is refused until the window passes.
    expect(codes(await gql(server, LoginDocument, { username: user.username, password: user.password }))).toEqual([
      'RATE_LIMITED',
    ]);
  });
});

describe('roles and privacy', () => {
  it('lets only admins certify users', async () => {
    const admin = await createAdmin(server);
    const user = await createUser(server);
    const anonymous = await gql(server, SetUserCertifiedDocument, { userId: user.id, certified: true });
    expect(codes(anonymous)).toEqual(['UNAUTHENTICATED']);
    const asUser = await user.gql(SetUserCertifiedDocument, { userId: user.id, certified: true });
    expect(codes(asUser)).toEqual(['FORBIDDEN']);
    const missing = await admin.gql(SetUserCertifiedDocument, {
      userId: '00000000-0000-4000-8000-000000000000',
      certified: true,
    });
    expect(codes(missing)).toEqual(['NOT_FOUND']);
    const ok = await admin.gqlOk(SetUserCertifiedDocument, { userId: user.id, certified: true });
    expect(ok.setUserCertified).toEqual({ id: user.id, isCertified: true });
  });

  it('shows settings to the user only', async () => {
    const alice = await createUser(server);
    const bob = await createUser(server);
    const asBob = await bob.gqlOk(UserByIdDocument, { id: alice.id });
    expect(asBob.user?.settings).toBeNull();
    const anonymous = await gqlOk(server, UserByIdDocument, { id: alice.id });
    expect(anonymous.user?.settings).toBeNull();
    const asAlice = await alice.gqlOk(UserByIdDocument, { id: alice.id });
    expect(asAlice.user?.settings).not.toBeNull();
  });
});

describe('graphql-ws', () => {
  it('authorizes a connection by connectionParams and answers me', async () => {
    const user = await createUser(server);
    const client = user.ws();
    try {
      const result = await wsRequest(client, MeDocument, {});
      expect(result.data?.me?.id).toBe(user.id);
      expect(result.data?.me?.settings).not.toBeNull();
    } finally {
      await client.dispose();
    }
  });

  it('serves anonymous connections, and closes ones with a bad token with 4403', async () => {
    const anonymous = wsClient(server);
    try {
      expect((await wsRequest(anonymous, MeDocument, {})).data).toEqual({ me: null });
    } finally {
      await anonymous.dispose();
    }
    const bad = wsClient(server, { authorization: 'Bearer nope' });
    const closed = await wsRequest(bad, MeDocument, {}).then(
      () => 'not closed',
      (event: { code?: number }) => event.code,
    );
    expect(closed).toBe(4403);
    await bad.dispose();
  });
});
