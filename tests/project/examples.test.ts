// The client examples in examples/ run as an app developer would run them (node --import tsx,
// a clean environment) against a live test server, while the test plays the other side.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenIssuer } from '../../src/auth/tokens.ts';
import {
  ChatHistoryDocument,
  LogoutAllSessionsDocument,
  MarkChatReadDocument,
  MessageAddedDocument,
  MyImagesDocument,
  SendFriendRequestDocument,
  SendMessageDocument,
} from '../generated/graphql.ts';
import { createUser, sessionIdOf, subscribe } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { spawnScript } from '../helpers/process.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

interface RunningExample {
  /** Everything printed so far. */
  output(): string;
  /** Resolves once the output matches (or fails with the output so far). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves when the process exits by itself (or is killed after `timeoutMs`). */
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function runExample(script: string, args: string[], timeoutMs = 90_000): RunningExample {
  const child = spawnScript(script, args, {});
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    wake();
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  let finished = false;
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      finished = true;
      wake();
      resolve({ code, stdout, stderr });
    });
  });
  return {
    output: () => stdout,
    exited,
    waitFor: (pattern, ms = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(stdout)) done(resolve);
          else if (finished)
            done(() => reject(new Error(`${script} exited before printing ${pattern}:\n${stdout}\n${stderr}`)));
        };
        const timer = setTimeout(
          () =>
            done(() => reject(new Error(`${script} did not print ${pattern} within ${ms} ms:\n${stdout}\n${stderr}`))),
          ms,
        );
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      }),
  };
}

const credentials = (server: TestServer, user: TestUser) => [
  '--url',
  server.graphqlUrl,
  '--username',
  user.username,
  '--password',
  user.password,
];

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

describe('examples/live-map.ts', () => {
  /** A token of the viewer's session that expires in `seconds`: the server then closes the socket with 4403. */
  const shortLivedToken = async (viewer: TestUser, seconds: number) =>
    (
      await createTokenIssuer(server.config.jwtSecret!, seconds).sign(
        viewer.id,
        'USER',
        sessionIdOf(viewer.accessToken),
      )
    ).token;

  it('prints live changes, refreshes the token on 4403, and resumes after the last cursor', async () => {
    const host = await createUser(server);
    await certify(server, host);
    const viewer = await createUser(server);
    const before = await createEvent(server, host, { isPublic: true, title: 'Already on the map' });

    const run = runExample('examples/live-map.ts', [
      ...credentials(server, viewer),
      '--access-token',
      await shortLivedToken(viewer, 12),
      '--max-changes',
      '3',
      '--duration',
      '80',
    ]);
    await run.waitFor(/viewport: 1 events/);
    expect(run.output()).toContain(before.id);

    const live = await createEvent(server, host, { isPublic: true, title: 'Created while connected' });
    await run.waitFor(new RegExp(`CREATED ${live.id} "Created while connected" v1`));

    await run.waitFor(/connection closed \(4403/, 30_000);
    // Made while the example is disconnected (it waits about a second before reconnecting):
    // the resume after the cursor of the change above replays it.
    const missed = await createEvent(server, host, { isPublic: true, title: 'Created while disconnected' });
    await run.waitFor(/reconnected/);
    await run.waitFor(new RegExp(`missed while disconnected: CREATED ${missed.id} "Created while disconnected" v1`));

    const after = await createEvent(server, host, { isPublic: true, title: 'Created after reconnecting' });
    const { code, stdout, stderr } = await run.exited;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('refreshing the session before reconnecting');
    expect(stdout).toContain('session refreshed');
    expect(stdout).toMatch(/reconnected\n.*resuming after the last change received\n/);
    // It held a cursor, so it did not query the viewport again.
    expect(stdout).not.toContain('re-querying the viewport');
    expect(stdout).not.toContain('resynced:');
    expect(stdout).toMatch(new RegExp(`\\d CREATED ${after.id} "Created after reconnecting" v1`));
    expect(stdout).toMatch(/stopped after 3 changes/);
    // Each change printed once.
    for (const id of [live.id, missed.id, after.id]) expect(stdout.split(id).length - 1).toBe(1);
  }, 120_000);

  it('re-queries the viewport after a reconnect when it has no cursor to resume from', async () => {
    const host = await createUser(server);
    await certify(server, host);
    const viewer = await createUser(server);
    const run = runExample('examples/live-map.ts', [
      ...credentials(server, viewer),
      '--access-token',
      await shortLivedToken(viewer, 10),
      // Away from the other tests' events (they are in Berlin).
      '--bounds',
      '53.5,9.9,53.6,10.1',
      '--max-changes',
      '1',
      '--duration',
      '60',
    ]);
    await run.waitFor(/viewport: 0 events/);
    // No change arrives before the 4403, so there is no cursor.
    await run.waitFor(/connection closed \(4403/, 30_000);
    const missed = await createEvent(server, host, {
      isPublic: true,
      title: 'Created while disconnected',
      latitude: 53.55,
      longitude: 10,
    });

    const { code, stdout, stderr } = await run.exited;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('re-querying the viewport: nothing to resume from');
    expect(stdout).not.toContain('resuming after');
    // The re-query finds it, or the subscription brings it if the reconnect beat the request.
    expect(stdout).toMatch(
      new RegExp(`(found by the re-query: ${missed.id}|\\d CREATED ${missed.id}) "Created while disconnected" v1`),
    );
    expect(stdout.split(missed.id).length - 1).toBe(1);
    expect(stdout).toMatch(/stopped after 1 changes/);
  }, 90_000);
});

describe('examples/chat.ts', () => {
  it('opens a direct chat, sends, sees its messages read, and resumes to get a reply sent while it was away', async () => {
    const alice = await createUser(server);
    const bob = await createUser(server);
    // Crossing requests: the second accepts the first.
    await bob.gqlOk(SendFriendRequestDocument, { userId: alice.id });
    await alice.gqlOk(SendFriendRequestDocument, { userId: bob.id });

    const bobClient = bob.ws();
    const inbox = await subscribe(server, bobClient, MessageAddedDocument, {});
    try {
      const run = runExample('examples/chat.ts', [
        ...credentials(server, alice),
        '--with',
        bob.username,
        '--once',
        '--duration',
        '60',
        'Hello Bob',
        'Coming to the picnic?',
      ]);
      const second = await inbox.next((d) => d.messageAdded.body === 'Coming to the picnic?', 45_000);
      const chatId = second.messageAdded.chat.id;
      await run.waitFor(/→ you: Coming to the picnic\?/);

      // Read first, then answer. (Answering first also moves Bob's read marker, but the server
      // publishes no status change for that; see the report on chat read markers.)
      await bob.gqlOk(MarkChatReadDocument, { chatId });
      await run.waitFor(/"Coming to the picnic\?" is READ/);
      // Ending Alice's sessions closes the example's socket with 4403; Bob answers while it is
      // away (it waits about a second, then signs in again), and the resume brings the answer.
      await alice.gqlOk(LogoutAllSessionsDocument, {});
      await run.waitFor(/connection closed \(4403/, 15_000);
      await bob.gqlOk(SendMessageDocument, { chatId, body: 'Yes, see you there' });

      const { code, stdout, stderr } = await run.exited;
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toContain(`chat ${chatId} with ${bob.username}`);
      expect(stdout).toContain('→ you: Hello Bob');
      expect(stdout).toMatch(new RegExp(`← ${bob.username}: Yes, see you there {2}\\[(SENT|DELIVERED)\\]`));
      expect(stdout).toContain('"Hello Bob" is READ');
      expect(stdout).toContain('"Coming to the picnic?" is READ');
      expect(stdout).toContain('bye (2 sent, 1 received');
      expect(stdout).toContain('refresh token refused; signed in again');
      expect(stdout).toContain('reconnected; resuming after the last message received');
      // Printed once: the resume delivers each message once.
      expect(stdout.split(`← ${bob.username}: Yes, see you there`).length - 1).toBe(1);

      // The example marked the chat read: Bob sees his reply as READ.
      const history = await bob.gqlOk(ChatHistoryDocument, { id: chatId, last: 10 });
      const reply = history.chat?.messages.edges.find((e) => e.node.body === 'Yes, see you there');
      expect(reply?.node.status).toBe('READ');
    } finally {
      inbox.stop();
      await bobClient.dispose();
    }
  }, 120_000);

  it('explains that a chat needs a friend', async () => {
    const carol = await createUser(server);
    const stranger = await createUser(server);
    const { code, stderr } = await runExample('examples/chat.ts', [
      ...credentials(server, carol),
      '--with',
      stranger.username,
      '--once',
    ]).exited;
    expect(code).toBe(1);
    expect(stderr).toContain(`Can't open a chat with ${stranger.username}`);
  }, 60_000);
});

describe('examples/upload-avatar.ts', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pinit-example-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('uploads a photo as a multipart request and it becomes the avatar', async () => {
    const user = await createUser(server);
    const photo = join(dir, 'me.jpg');
    await writeFile(
      photo,
      await sharp({ create: { width: 64, height: 48, channels: 3, background: '#dd1c92' } })
        .jpeg()
        .toBuffer(),
    );

    const { code, stdout, stderr } = await runExample('examples/upload-avatar.ts', [
      ...credentials(server, user),
      '--file',
      photo,
      '--caption',
      'At the lake',
    ]).exited;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('stored: 64×48 image/jpeg');
    expect(stdout).toMatch(/GET avatarUrl: 200 image\/jpeg \d+ bytes/);

    const { me } = await user.gqlOk(MyImagesDocument, {});
    expect(me?.primaryImage?.caption).toBe('At the lake');
    expect(stdout).toContain(`avatarUrl of ${user.username}: ${me?.avatarUrl}`);
  }, 60_000);
});
