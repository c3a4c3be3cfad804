// Data export as a client gets it: exportMyData (HTTP or graphql-ws) gives a link that a
// browser opens with no Authorization header; the document holds everything the server keeps
// about the viewer; the link is the holder's alone (a forged or altered one is 404), and it
// stops when it expires or when the session that asked for it ends (410).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ExportMyDataDocument,
  JoinEventDocument,
  LogoutAllSessionsDocument,
  OpenDirectChatDocument,
  RegisterDeviceDocument,
  SendMessageDocument,
  UpdateProfileDocument,
} from '../generated/graphql.ts';
import { codes, createUser, gql, wsRequest } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { jpeg, uploadOk } from '../helpers/images.ts';
import { befriend } from '../helpers/social.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ env: { RATE_LIMIT_EXPORTS_PER_USER: '1000/86400' } });
});
afterAll(async () => {
  await server?.close();
});

const exportLink = async (user: TestUser) => (await user.gqlOk(ExportMyDataDocument)).exportMyData;
/** The parts of the export document these tests read. */
interface ExportDocument {
  format: string;
  profile: Record<string, unknown>;
  settings: Record<string, unknown>;
  images: unknown[];
  eventsHosted: Array<{ id: string }>;
  eventsAttended: unknown[];
  friends: unknown[];
  chats: Array<{ chat: { id: string; kind: string } }>;
  messagesSent: Array<{ body: string }>;
  devices: unknown[];
  invitationsReceived: unknown[];
  ratingsGiven: unknown[];
  ratingsReceived: unknown[];
  notifications: unknown[];
}

/** The download as a browser makes it: the link alone. */
const download = (url: string) => fetch(url, { redirect: 'manual' });

describe('exportMyData', () => {
  it('links to one JSON document with everything the server keeps about the viewer', async () => {
    const [user, friend] = await Promise.all([createUser(server), createUser(server)]);
    await user.gqlOk(UpdateProfileDocument, {
      input: { bio: 'Climber', interests: ['climbing'], homeLatitude: 46.95, homeLongitude: 7.45 },
    });
    const image = await uploadOk(server, { data: await jpeg(64, 64) }, { token: user.accessToken, caption: 'me' });
    await certify(server, user);
    const hosted = await createEvent(server, user, { isPublic: true, title: 'Bouldering' });
    await certify(server, friend);
    const attended = await createEvent(server, friend, { isPublic: true, title: 'Friend’s dinner' });
    await befriend(server, user, friend);
    await user.gqlOk(JoinEventDocument, { id: attended.id });
    const { openDirectChat } = await user.gqlOk(OpenDirectChatDocument, { userId: friend.id });
    await user.gqlOk(SendMessageDocument, { chatId: openDirectChat.id, body: 'hello from the export test' });
    await friend.gqlOk(SendMessageDocument, { chatId: openDirectChat.id, body: 'not mine' });
    await user.gqlOk(RegisterDeviceDocument, { platform: 'ANDROID', token: 'b'.repeat(64) });

    const link = await exportLink(user);
    expect(new Date(link.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const res = await download(link.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="pinit-data-.*\.json"$/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const doc = (await res.json()) as ExportDocument;
    expect(doc.format).toBe('pinit-export/1');
    expect(doc.profile).toMatchObject({
      id: user.id,
      username: user.username,
      bio: 'Climber',
      interests: ['climbing'],
    });
    expect(doc.settings).toMatchObject({ homeLatitude: 46.95, homeLongitude: 7.45 });
    expect(doc.images).toEqual([expect.objectContaining({ id: image.id, url: image.url, caption: 'me' })]);
    expect(doc.eventsHosted.map((e) => e.id)).toEqual([hosted.id]);
    expect(doc.friends).toEqual([expect.objectContaining({ friend: expect.objectContaining({ id: friend.id }) })]);
    expect(doc.eventsAttended).toEqual([
      expect.objectContaining({ event: expect.objectContaining({ id: attended.id }) }),
    ]);
    // The direct chat, and the chats of the events (the one they host, the one they joined).
    const chats = doc.chats.map((c) => [c.chat.kind, c.chat.id]);
    expect(chats).toContainEqual(['DIRECT', openDirectChat.id]);
    expect(chats.filter(([kind]) => kind === 'EVENT')).toHaveLength(2);
    // Only the messages they sent.
    expect(doc.messagesSent.map((m) => m.body)).toEqual(['hello from the export test']);
    expect(doc.devices).toEqual([expect.objectContaining({ platform: 'ANDROID' })]);
    for (const section of ['invitationsReceived', 'ratingsGiven', 'ratingsReceived', 'notifications'] as const)
      expect(Array.isArray(doc[section])).toBe(true);
    // Nothing secret: no password hash, no refresh tokens.
    const text = JSON.stringify(doc);
    expect(text).not.toContain('$argon2');
    expect(text).not.toContain(user.refreshToken);
  });

  it('streams long histories whole, page after page', async () => {
    const [user, friend] = await Promise.all([createUser(server), createUser(server)]);
    await befriend(server, user, friend);
    const { openDirectChat } = await user.gqlOk(OpenDirectChatDocument, { userId: friend.id });
    // 1,234 messages (more than two pages of the export's reads), written as sending would leave them.
    await server.deps.prisma.$executeRaw`
      INSERT INTO messages (id, chat_id, seq, sender_id, body)
      SELECT gen_random_uuid(), ${openDirectChat.id}::uuid, n, ${user.id}::uuid, 'message ' || n
      FROM generate_series(1, 1234) AS n`;
    const doc = (await (await download((await exportLink(user)).url)).json()) as { messagesSent: unknown[] };
    expect(doc.messagesSent).toHaveLength(1234);
  });

  it('builds one export per user at a time on an instance (429 while one streams)', async () => {
    const [user, friend] = await Promise.all([createUser(server), createUser(server)]);
    await befriend(server, user, friend);
    const { openDirectChat } = await user.gqlOk(OpenDirectChatDocument, { userId: friend.id });
    // Enough to outlast the socket buffers while the first download is not read.
    await server.deps.prisma.$executeRaw`
      INSERT INTO messages (id, chat_id, seq, sender_id, body)
      SELECT gen_random_uuid(), ${openDirectChat.id}::uuid, n, ${user.id}::uuid, repeat('x', 1000)
      FROM generate_series(1, 20000) AS n`;
    const { url } = await exportLink(user);
    const first = new AbortController();
    const streaming = await fetch(url, { signal: first.signal });
    expect(streaming.status).toBe(200);
    await streaming.body!.getReader().read();
    const second = await download(url);
    expect([second.status, second.headers.get('retry-after')]).toEqual([429, '10']);
    first.abort();
    // Once the first download is gone, the link works again.
    await eventually(async () => (await download(url)).status === 200, {
      what: 'the link to work again',
      timeoutMs: 15_000,
    });
  }, 30_000);

  it('works over graphql-ws too, and is refused to anonymous callers', async () => {
    const user = await createUser(server);
    const client = user.ws();
    const result = await wsRequest(client, ExportMyDataDocument);
    await client.dispose();
    expect((await download(result.data!.exportMyData.url)).status).toBe(200);
    expect(codes(await gql(server, ExportMyDataDocument))).toEqual(['UNAUTHENTICATED']);
  });

  it('is the holder’s only: no token, an altered one or an access token is 404', async () => {
    const user = await createUser(server);
    const { url } = await exportLink(user);
    const base = url.slice(0, url.indexOf('?'));
    const token = new URL(url).searchParams.get('token')!;
    const [head, body, signature] = token.split('.');
    // Another user's id in the claims, with the original signature.
    const forged = JSON.parse(Buffer.from(body!, 'base64url').toString());
    forged.sub = (await createUser(server)).id;
    const tampered = `${head}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${signature}`;
    for (const bad of [base, `${base}?token=garbage`, `${base}?token=${tampered}`, `${base}?token=${user.accessToken}`])
      expect((await download(bad)).status).toBe(404);
    expect((await download(url)).status).toBe(200);
  });

  it('stops when the session that asked for it ends', async () => {
    const user = await createUser(server);
    const { url } = await exportLink(user);
    await user.gqlOk(LogoutAllSessionsDocument);
    const res = await download(url);
    expect(res.status).toBe(410);
    expect(((await res.json()) as { error: string }).error).toMatch(/session/);
  });

  it('expires (EXPORT_LINK_TTL_SECONDS) and is rate limited (RATE_LIMIT_EXPORTS_PER_USER)', async () => {
    const short = await startTestServer({
      env: { EXPORT_LINK_TTL_SECONDS: '1', RATE_LIMIT_EXPORTS_PER_USER: '2/86400' },
    });
    try {
      const user = await createUser(short);
      const { url, expiresAt } = (await user.gqlOk(ExportMyDataDocument)).exportMyData;
      await new Promise((resolve) => setTimeout(resolve, new Date(expiresAt).getTime() - Date.now() + 50));
      expect((await download(url)).status).toBe(410);
      expect((await user.gql(ExportMyDataDocument)).errors).toBeUndefined();
      expect(codes(await user.gql(ExportMyDataDocument))).toEqual(['RATE_LIMITED']);
    } finally {
      await short.close();
    }
  });
});
