// Automatic persisted queries: a client sends the hash of a known document instead of the
// document; with Redis the registry is shared by every instance.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createUser } from '../helpers/client.ts';
import { startTestServer, testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const QUERY = 'query PersistedMe { me { id username } }';
const HASH = createHash('sha256').update(QUERY).digest('hex');
const persisted = { persistedQuery: { version: 1, sha256Hash: HASH } };

async function send(server: TestServer, body: Record<string, unknown>, token: string) {
  const res = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return (await res.json()) as { data?: { me?: { id: string } }; errors?: Array<{ extensions?: { code?: string } }> };
}

describe('automatic persisted queries', () => {
  it('asks for an unknown hash, registers it with the document, then answers the hash alone', async () => {
    const server = await startTestServer();
    try {
      const user = await createUser(server);
      expect((await send(server, { extensions: persisted }, user.accessToken)).errors?.[0]?.extensions?.code).toBe(
        'PERSISTED_QUERY_NOT_FOUND',
      );
      expect((await send(server, { query: QUERY, extensions: persisted }, user.accessToken)).data?.me?.id).toBe(
        user.id,
      );
      expect((await send(server, { extensions: persisted }, user.accessToken)).data?.me?.id).toBe(user.id);
      const wrongHash = {
        persistedQuery: { version: 1, sha256Hash: HASH.replace(/^./, (c) => (c === '0' ? '1' : '0')) },
      };
      expect(
        (await send(server, { query: QUERY, extensions: wrongHash }, user.accessToken)).errors?.[0]?.extensions?.code,
      ).toBe('BAD_USER_INPUT');
    } finally {
      await server.close();
    }
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('persisted queries across instances (Redis)', () => {
  const instances = twoInstances();

  it('answers on instance B a hash registered through instance A', async () => {
    const [a, b] = [instances.a(), instances.b()];
    const user = await createUser(a);
    expect((await send(a, { query: QUERY, extensions: persisted }, user.accessToken)).data?.me?.id).toBe(user.id);
    expect((await send(b, { extensions: persisted }, user.accessToken)).data?.me?.id).toBe(user.id);
  });
});
