// Presence: online while any WebSocket of the user is open on any instance, told to friends,
// with lastSeenAt; a crashed instance's users go offline once their claims lapse.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderedPair } from '../../src/services/social/index.ts';
import { MeDocument, PresenceChangedDocument, PresenceDocument } from '../generated/graphql.ts';
import { createUser, gqlOk, subscribe, wsClient, wsRequest } from '../helpers/client.ts';
import { eventually } from '../helpers/eventually.ts';
import type { TestUser } from '../helpers/client.ts';
import { spawnScript } from '../helpers/process.ts';
import { startTestServer, testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const TTL = '3';

async function friends(server: TestServer): Promise<[TestUser, TestUser]> {
  const [ana, ben] = [await createUser(server), await createUser(server)];
  await server.deps.prisma.friendship.create({ data: orderedPair(ana.id, ben.id) });
  return [ana, ben];
}

/** Ana connects through `ana`'s server while Ben watches through `ben`'s. */
async function onlineOffline(anaServer: TestServer, benServer: TestServer) {
  const [ana, ben] = await friends(anaServer);
  const watcher = wsClient(benServer, { authorization: `Bearer ${ben.accessToken}` });
  const changes = await subscribe(benServer, watcher, PresenceChangedDocument, {});
  try {
    expect((await gqlOk(benServer, PresenceDocument, { id: ana.id }, { token: ben.accessToken })).user?.isOnline).toBe(
      false,
    );
    const anaClient = wsClient(anaServer, { authorization: `Bearer ${ana.accessToken}` }, { stayConnected: true });
    await wsRequest(anaClient, MeDocument, {});
    const online = await changes.next((d) => d.presenceChanged.user.id === ana.id && d.presenceChanged.isOnline);
    expect(online.presenceChanged.lastSeenAt).toBeNull();
    expect((await gqlOk(benServer, PresenceDocument, { id: ana.id }, { token: ben.accessToken })).user?.isOnline).toBe(
      true,
    );

    const closedAt = Date.now();
    await anaClient.dispose();
    const offline = await changes.next((d) => d.presenceChanged.user.id === ana.id && !d.presenceChanged.isOnline);
    expect(new Date(offline.presenceChanged.lastSeenAt!).getTime()).toBeGreaterThanOrEqual(closedAt - 1000);
    const after = (await gqlOk(benServer, PresenceDocument, { id: ana.id }, { token: ben.accessToken })).user;
    expect(after?.isOnline).toBe(false);
    expect(after?.lastSeenAt).toBe(offline.presenceChanged.lastSeenAt);
  } finally {
    changes.stop();
    await watcher.dispose();
  }
}

describe('presence on one instance', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { PRESENCE_TTL_SECONDS: TTL } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('tells friends when a user goes online and offline', async () => {
    await onlineOffline(server, server);
  });

  it('stays online while a second connection is open', async () => {
    const [ana, ben] = await friends(server);
    // What the store answered to each of Ana's disconnections (true: she went offline), so the
    // test reads her presence once the server has dealt with the socket, not some time after.
    const answers: boolean[] = [];
    const { presence } = server.deps;
    const disconnect = presence.disconnect.bind(presence);
    presence.disconnect = async (userId) => {
      const offline = await disconnect(userId);
      if (userId === ana.id) answers.push(offline);
      return offline;
    };
    try {
      const first = ana.ws({ stayConnected: true });
      const second = ana.ws({ stayConnected: true });
      await wsRequest(first, MeDocument, {});
      await wsRequest(second, MeDocument, {});
      await first.dispose();
      await eventually(() => answers.length === 1, { what: 'the first socket to be closed on the server' });
      expect(answers).toEqual([false]);
      expect((await ben.gqlOk(PresenceDocument, { id: ana.id })).user?.isOnline).toBe(true);
      await second.dispose();
      await eventually(() => answers.length === 2, { what: 'the second socket to be closed on the server' });
      expect(answers).toEqual([false, true]);
      expect((await ben.gqlOk(PresenceDocument, { id: ana.id })).user?.isOnline).toBe(false);
    } finally {
      presence.disconnect = disconnect;
    }
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('presence across instances (PostgreSQL + Redis)', () => {
  const instances = twoInstances({ PRESENCE_TTL_SECONDS: TTL });

  it('shows a user connected on A as online to a friend on B, then offline', async () => {
    const [a, b] = [instances.a(), instances.b()];
    await onlineOffline(a, b);
  });

  it('takes a crashed instance’s users offline within the expiry', async () => {
    const [a, b] = [instances.a(), instances.b()];
    const [ana, ben] = await friends(a);
    // A real instance in its own process, killed without a chance to clean up.
    const child = spawnScript('src/main.ts', [], {
      DATABASE_URL: a.config.databaseUrl!,
      REDIS_URL: testRedisUrl!,
      REDIS_PREFIX: a.config.redisPrefix,
      JWT_SECRET: a.config.jwtSecret!,
      PORT: '0',
      HOST: '127.0.0.1',
      METRICS_PORT: '0',
      DATA_DIR: a.config.dataDir,
      SEED_DEMO: 'false',
      LOG_LEVEL: 'info',
      PRESENCE_TTL_SECONDS: TTL,
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let output = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const ready = output.split('\n').find((line) => line.includes('PinIt API ready'));
          if (ready) resolve(JSON.parse(ready).url as string);
        });
        child.on('exit', (code) => reject(new Error(`instance exited ${code}: ${output}`)));
      });
      const watcher = wsClient(b, { authorization: `Bearer ${ben.accessToken}` });
      const changes = await subscribe(b, watcher, PresenceChangedDocument, {});
      try {
        const doomed = wsClient(
          { wsUrl: url.replace(/^http/, 'ws') },
          { authorization: `Bearer ${ana.accessToken}` },
          { stayConnected: true },
        );
        await wsRequest(doomed, MeDocument, {});
        await changes.next((d) => d.presenceChanged.user.id === ana.id && d.presenceChanged.isOnline);

        child.kill('SIGKILL');
        const killedAt = Date.now();
        await changes.next((d) => d.presenceChanged.user.id === ana.id && !d.presenceChanged.isOnline, 15_000);
        // Claims last TTL seconds, and sweeps run every TTL/3.
        expect(Date.now() - killedAt).toBeLessThan((Number(TTL) + 3) * 1000);
        expect((await gqlOk(b, PresenceDocument, { id: ana.id }, { token: ben.accessToken })).user?.isOnline).toBe(
          false,
        );
        await doomed.dispose();
      } finally {
        changes.stop();
        await watcher.dispose();
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
