// Domain errors reach clients with their code and the input field they are about
// (extensions.field), whichever factory made them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendMessageDocument } from '../generated/graphql.ts';
import { createUser, gql } from '../helpers/client.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe('error fields', () => {
  it('answers sendMessage to an unknown chat with NOT_FOUND naming chatId', async () => {
    const user = await createUser(server);
    for (const chatId of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const result = await gql(server, SendMessageDocument, { chatId, body: 'hello' }, { token: user.accessToken });
      expect(result.status).toBe(200);
      expect(result.errors).toHaveLength(1);
      expect(result.errors?.[0]?.extensions).toEqual({ code: 'NOT_FOUND', field: 'chatId' });
    }
  });
});
