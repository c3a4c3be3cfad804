// Account deletion as a client does it (deleteAccount with the password, over HTTP and
// graphql-ws): everything that is only the user's goes in one transaction; what others hold
// stays coherent (a direct chat still loads, the messages shown from a deleted account; hosted
// events are cancelled with their attendees notified; a spot they held goes to the waitlist);
// stored files are removed from disk or S3, and a storage outage at that moment delays the
// removal without orphaning anything. Across instances: tests/accounts/sessions.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AccountStateDocument,
  ChatWithSendersDocument,
  CreateEventDocument,
  CreateGroupChatDocument,
  DeleteAccountDocument,
  EventDocument,
  JoinEventDocument,
  JoinWaitlistDocument,
  LoginDocument,
  MeDocument,
  NotificationsDocument,
  OpenDirectChatDocument,
  RateUserDocument,
  RegisterDeviceDocument,
  SearchUsersDocument,
  SendFriendRequestDocument,
  SendMessageDocument,
  UpdateProfileDocument,
} from '../generated/graphql.ts';
import { codes, createUser, gql, wsRequest } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent, eventInput } from '../helpers/events.ts';
import { eventually } from '../helpers/eventually.ts';
import { jpeg, startS3, uploadImage, uploadOk } from '../helpers/images.ts';
import type { LocalS3 } from '../helpers/images.ts';
import { befriend } from '../helpers/social.ts';
import { startTestServer, testDatabaseUrl } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';

const deleteAccount = (user: TestUser, password = user.password) => user.gql(DeleteAccountDocument, { password });

describe('deleteAccount', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { STORAGE_DELETION_POLL_MS: '100' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses anonymous callers and a wrong password, changing nothing', async () => {
    const user = await createUser(server);
    expect(codes(await gql(server, DeleteAccountDocument, { password: user.password }))).toEqual(['UNAUTHENTICATED']);
    const wrong = await deleteAccount(user, 'not the password');
    expect([codes(wrong), wrong.errors?.[0]?.extensions?.field]).toEqual([['BAD_USER_INPUT'], 'password']);
    expect((await user.gqlOk(MeDocument)).me?.username).toBe(user.username);
    expect(
      (await gql(server, LoginDocument, { username: user.username, password: user.password })).errors,
    ).toBeUndefined();
  });

  it('limits password attempts (RATE_LIMIT_DELETE_ACCOUNT_PER_USER)', async () => {
    const limited = await startTestServer({ env: { RATE_LIMIT_DELETE_ACCOUNT_PER_USER: '2/900' } });
    try {
      const user = await createUser(limited);
      const tries = [];
      for (let i = 0; i < 3; i++) tries.push(codes(await deleteAccount(user, `guess ${i}`))[0]);
      expect(tries).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT', 'RATE_LIMITED']);
    } finally {
      await limited.close();
    }
  });

  it('takes away what is only theirs and leaves what others hold coherent', async () => {
    const [leaver, friend, guest, waiting, otherHost] = await Promise.all(
      Array.from({ length: 5 }, () => createUser(server)),
    );
    await leaver.gqlOk(UpdateProfileDocument, {
      input: { bio: 'I love chess', interests: ['chess'], homeLatitude: 52.5, homeLongitude: 13.4 },
    });
    const image = await uploadOk(server, { data: await jpeg(64, 64) }, { token: leaver.accessToken, isPrimary: true });
    await leaver.gqlOk(RegisterDeviceDocument, { platform: 'IOS', token: 'a'.repeat(64) });
    // A direct chat and a group chat with a friend, with messages both ways.
    await befriend(server, leaver, friend);
    const { openDirectChat: direct } = await friend.gqlOk(OpenDirectChatDocument, { userId: leaver.id });
    await leaver.gqlOk(SendMessageDocument, { chatId: direct.id, body: 'see you at chess club' });
    await friend.gqlOk(SendMessageDocument, { chatId: direct.id, body: 'see you!' });
    const { createGroupChat: group } = await leaver.gqlOk(CreateGroupChatDocument, {
      title: 'Chess club',
      memberIds: [friend.id],
    });
    await leaver.gqlOk(SendMessageDocument, { chatId: group.id, body: 'welcome' });
    // An event they host with a guest; a full event they attend with someone waiting for the spot.
    await certify(server, leaver);
    const hosted = await createEvent(server, leaver, { isPublic: true, title: 'Blitz night' });
    await guest.gqlOk(JoinEventDocument, { id: hosted.id });
    await certify(server, otherHost);
    const full = await createEvent(server, otherHost, { isPublic: true, maxParticipants: 2 });
    await leaver.gqlOk(JoinEventDocument, { id: full.id });
    await waiting.gqlOk(JoinWaitlistDocument, { eventId: full.id });
    await guest.gqlOk(SendFriendRequestDocument, { userId: leaver.id });

    // Over graphql-ws, as an app's settings screen may send it.
    const client = leaver.ws();
    const deleted = await wsRequest(client, DeleteAccountDocument, { password: leaver.password });
    await client.dispose();
    expect(deleted).toMatchObject({ data: { deleteAccount: true } });

    // The account is gone for its owner: the token, the name and the password no longer work.
    const me = await leaver.gql(MeDocument);
    expect([me.status, codes(me)]).toEqual([401, ['UNAUTHENTICATED']]);
    expect(codes(await gql(server, LoginDocument, { username: leaver.username, password: leaver.password }))).toEqual([
      'UNAUTHENTICATED',
    ]);
    expect((await friend.gqlOk(SearchUsersDocument, { query: leaver.username })).searchUsers.edges).toEqual([]);

    // The friend's direct chat still loads, the messages from a deleted account with nothing personal.
    const { chat } = await friend.gqlOk(ChatWithSendersDocument, { id: direct.id });
    const bodies = chat!.messages.edges.map((e) => [e.node.body, e.node.sender.isDeleted]);
    expect(bodies).toEqual([
      ['see you at chess club', true],
      ['see you!', false],
    ]);
    const tombstone = chat!.messages.edges[0]!.node.sender;
    expect(tombstone).toMatchObject({ id: leaver.id, fullName: 'Deleted account', bio: '', avatarUrl: null });
    expect(tombstone.username).not.toBe(leaver.username);
    expect((await friend.gqlOk(AccountStateDocument, { id: leaver.id })).user).toMatchObject({
      isDeleted: true,
      interests: [],
      friendCount: 0,
    });
    // They left the group chat; their message stays in it.
    const { chat: groupChat } = await friend.gqlOk(ChatWithSendersDocument, { id: group.id });
    expect(groupChat!.members.map((m) => m.id)).toEqual([friend.id]);
    expect(groupChat!.messages.edges.map((e) => e.node.body)).toEqual(['welcome']);
    // No one can reach the tombstone: no friend request, no rating, no new direct chat.
    expect(codes(await friend.gql(SendFriendRequestDocument, { userId: leaver.id }))).toEqual(['NOT_FOUND']);
    expect(codes(await friend.gql(OpenDirectChatDocument, { userId: leaver.id }))).toEqual(['NOT_FOUND']);
    expect(
      codes(await friend.gql(RateUserDocument, { input: { userId: leaver.id, score: 1, eventId: full.id } }))[0],
    ).toBe('NOT_FOUND');

    // The hosted event is cancelled and its guest told; the attended event's spot went to the waitlist.
    expect((await guest.gqlOk(EventDocument, { id: hosted.id })).event?.status).toBe('CANCELLED');
    const kinds = async (user: TestUser) =>
      (await user.gqlOk(NotificationsDocument, { first: 50 })).notifications.edges.map((e) => e.node.kind);
    expect(await kinds(guest)).toContain('EVENT_CANCELLED');
    expect(await kinds(waiting)).toContain('WAITLIST_PROMOTED');
    expect(await server.deps.prisma.eventAttendee.count({ where: { eventId: full.id, userId: waiting.id } })).toBe(1);

    // Their rows are gone, and the stored file with them.
    const db = server.deps.prisma;
    const left = {
      images: await db.image.count({ where: { userId: leaver.id } }),
      devices: await db.device.count({ where: { userId: leaver.id } }),
      friendships: await db.friendship.count({ where: { OR: [{ userAId: leaver.id }, { userBId: leaver.id }] } }),
      requests: await db.friendRequest.count({ where: { OR: [{ fromId: leaver.id }, { toId: leaver.id }] } }),
      attendances: await db.eventAttendee.count({ where: { userId: leaver.id } }),
      waitlists: await db.eventWaitlistEntry.count({ where: { userId: leaver.id } }),
      notifications: await db.notification.count({ where: { recipientId: leaver.id } }),
      liveSessions: await db.sessionFamily.count({ where: { userId: leaver.id, revokedAt: null } }),
    };
    expect(left).toEqual({
      images: 0,
      devices: 0,
      friendships: 0,
      requests: 0,
      attendances: 0,
      waitlists: 0,
      notifications: 0,
      liveSessions: 0,
    });
    // The file goes just after the answer (the deletion does not wait for the storage).
    await eventually(async () => (await fetch(image.url)).status === 404 && (await db.storageDeletion.count()) === 0, {
      what: 'the stored file removed',
    });
    const row = await db.user.findUniqueOrThrow({ where: { id: leaver.id } });
    expect([row.email, row.homeLatitude, row.bio, row.deletedAt !== null]).toEqual([null, null, '', true]);
  });

  it('a second deletion with a token issued before the first is UNAUTHENTICATED', async () => {
    const user = await createUser(server);
    const [first, second] = await Promise.all([deleteAccount(user), deleteAccount(user)]);
    const outcomes = [first, second].map((r) => (r.data?.deleteAccount ? 'deleted' : codes(r)[0])).sort();
    expect(outcomes).toEqual(['UNAUTHENTICATED', 'deleted']);
  });
});

describe('deleteAccount with S3 (s3rver), the storage down at that moment', () => {
  let s3: LocalS3;
  let proxy: TcpProxy;
  let server: TestServer;
  beforeAll(async () => {
    s3 = await startS3();
    // The server reaches S3 through a proxy the test can take down; objects are checked directly.
    proxy = TcpProxy.for(s3.endpoint, 80);
    await proxy.start();
    server = await startTestServer({
      env: { ...s3.env, S3_ENDPOINT: proxy.url(s3.endpoint).replace(/\/$/, ''), STORAGE_DELETION_POLL_MS: '100' },
    });
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.stop();
    await s3?.stop();
  });

  it('deletes the account at once and removes the files once S3 is back', async () => {
    const user = await createUser(server);
    const images = [
      await uploadOk(server, { data: await jpeg(64, 64) }, { token: user.accessToken }),
      await uploadOk(server, { data: await jpeg(80, 60) }, { token: user.accessToken }),
    ];
    const objectStatus = () => Promise.all(images.map(async (i) => (await fetch(i.url)).status));
    expect(await objectStatus()).toEqual([200, 200]);

    await proxy.stop();
    expect((await deleteAccount(user)).data?.deleteAccount).toBe(true);
    expect(await server.deps.prisma.image.count({ where: { userId: user.id } })).toBe(0);
    // The files wait in the queue, tried again while S3 is down.
    await eventually(
      async () => (await server.deps.prisma.storageDeletion.count({ where: { attempts: { gte: 2 } } })) === 2,
      {
        timeoutMs: 15_000,
        what: 'both files retried',
      },
    );
    expect(await objectStatus()).toEqual([200, 200]);

    await proxy.start();
    await eventually(async () => (await server.deps.prisma.storageDeletion.count()) === 0, {
      timeoutMs: 15_000,
      what: 'the queue emptied once S3 is back',
    });
    expect(await objectStatus()).toEqual([404, 404]);
  });
});

describe.runIf(testDatabaseUrl)('deleteAccount against requests already running', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('an event, an image or a device being made as the deletion commits is refused, not left to the tombstone', async () => {
    const user = await createUser(server);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    // A deletion in progress, as deleteAccount holds it: the user's row locked FOR UPDATE, then the tombstone.
    const deletion = server.deps.prisma.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1 FROM users WHERE id = ${user.id}::uuid FOR UPDATE`;
        locked();
        await released;
        await tx.user.update({
          where: { id: user.id },
          data: { deletedAt: new Date(), username: 'deleted-0123456789abcdef' },
        });
      },
      { timeout: 20_000 },
    );
    await isLocked;
    const creating = user.gql(CreateEventDocument, { input: eventInput({ title: 'Made while deleting' }) });
    const uploading = uploadImage(server, { data: await jpeg(32, 32) }, { token: user.accessToken });
    const registering = user.gql(RegisterDeviceDocument, { platform: 'IOS', token: 'c'.repeat(64) });
    // Both wait for the row lock.
    await eventually(
      async () =>
        Number(
          (
            await server.deps.prisma.$queryRaw<Array<{ n: bigint }>>`
              SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND locktype IN ('tuple', 'transactionid')`
          )[0]!.n,
        ) >= 3,
      { what: 'the three requests waiting for the deletion' },
    );
    release();
    await deletion;
    expect(codes(await creating)).toEqual(['UNAUTHENTICATED']);
    expect(codes(await uploading)).toEqual(['UNAUTHENTICATED']);
    // A device row (refused by the users_alive trigger) would have sent the tombstone's pushes to the phone.
    expect(codes(await registering)).toEqual(['UNAUTHENTICATED']);
    expect(await server.deps.prisma.device.count({ where: { userId: user.id } })).toBe(0);
    expect(await server.deps.prisma.event.count({ where: { hostId: user.id } })).toBe(0);
    expect(await server.deps.prisma.image.count({ where: { userId: user.id } })).toBe(0);
  });
});
