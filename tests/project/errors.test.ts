// Domain errors reach clients with their code and the input field they are about
// (extensions.field), whichever factory made them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginDocument, SendMessageDocument } from '../generated/graphql.ts';
import { createUser, gql } from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ env: { RATE_LIMIT_LOGIN_PER_USERNAME: '2/600' } });
});
afterAll(async () => {
  await server?.close();
});

describe('error fields', () => {
  it('answers sendMessage to an unknown chat with NOT_FOUND naming chatId', async () => {
    const user = await createUser(server);
    for (const chatId of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const result = await user.gql(SendMessageDocument, { chatId, body: 'hello' });
      expect(result.status).toBe(200);
      expect(result.errors).toHaveLength(1);
      expect(result.errors?.[0]?.extensions).toEqual({ code: 'NOT_FOUND', field: 'chatId' });
    }
  });

  it('answers a rate-limited resolver with HTTP 429, RATE_LIMITED and retryAfterSeconds', async () => {
    const user = await createUser(server);
    const attempt = () => gql(server, LoginDocument, { username: user.username, password: 'wrong password' });
    for (let i = 0; i < 2; i++) expect((await attempt()).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const limited = await attempt();
    expect(limited.status).toBe(429);
    expect(limited.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(limited.errors?.[0]?.extensions?.retryAfterSeconds).toBeGreaterThan(0);
    expect(limited.errors?.[0]?.extensions).not.toHaveProperty('http');
  });
});
