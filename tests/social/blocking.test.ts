// Blocking as clients use it over HTTP and graphql-ws: blockUser ends the friendship and the
// pending requests; afterwards, in both directions, no friend request, direct message,
// invitation, share or rating goes through, auto-matching skips the pair, presence and the
// friends list are hidden; group chats stay usable; unblocking restores the ability to connect,
// not the friendship.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderedPair } from '../../src/services/social/index.ts';
import {
  AcceptFriendRequestDocument,
  BlockedUsersDocument,
  BlockStateDocument,
  BlockUserDocument,
  CreateEventDocument,
  CreateGroupChatDocument,
  InviteToEventDocument,
  JoinEventDocument,
  OpenDirectChatDocument,
  RateUserDocument,
  SendFriendRequestDocument,
  SendMessageDocument,
  ShareEventDocument,
  UnblockUserDocument,
  UpdateEventDocument,
  UpdateProfileDocument,
} from '../generated/graphql.ts';
import { codes, createUser, gql, refusal, wsRequest } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent, eventInput, passTime } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

/** Friends the way clients become friends: a request, accepted. */
async function befriendByRequest(a: TestUser, b: TestUser) {
  const { sendFriendRequest } = await a.gqlOk(SendFriendRequestDocument, { userId: b.id });
  await b.gqlOk(AcceptFriendRequestDocument, { requestId: sendFriendRequest.id });
}
const friends = async (a: TestUser, b: TestUser) =>
  (await server.deps.prisma.friendship.count({ where: orderedPair(a.id, b.id) })) > 0;

describe('blockUser', () => {
  it('ends the friendship and pending requests, shows in blockedUsers and isBlockedByViewer, and is harmless twice', async () => {
    const [ann, bob, cat] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    await befriendByRequest(ann, bob);
    await cat.gqlOk(SendFriendRequestDocument, { userId: ann.id });
    expect(await ann.gqlOk(BlockUserDocument, { userId: bob.id })).toEqual({ blockUser: true });
    expect(await ann.gqlOk(BlockUserDocument, { userId: cat.id })).toEqual({ blockUser: true });
    expect(await ann.gqlOk(BlockUserDocument, { userId: bob.id })).toEqual({ blockUser: true });
    expect(await friends(ann, bob)).toBe(false);
    expect(await server.deps.prisma.friendRequest.count({ where: orderedPair(ann.id, cat.id) })).toBe(0);

    const { blockedUsers } = await ann.gqlOk(BlockedUsersDocument, {});
    expect(blockedUsers.edges.map((e) => e.node.id).sort()).toEqual([bob.id, cat.id].sort());
    expect(blockedUsers.edges.every((e) => e.node.isBlockedByViewer)).toBe(true);
    // One-sided: bob has blocked nobody; anonymous viewers see false.
    expect((await bob.gqlOk(BlockStateDocument, { id: ann.id })).user?.isBlockedByViewer).toBe(false);
    expect((await bob.gqlOk(BlockedUsersDocument, {})).blockedUsers.edges).toEqual([]);
    expect((await gql(server, BlockStateDocument, { id: ann.id })).data?.user?.isBlockedByViewer).toBe(false);
  });

  it('refuses oneself, unknown users and anonymous callers', async () => {
    const me = await createUser(server);
    expect(refusal(await me.gql(BlockUserDocument, { userId: me.id }))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'userId',
    });
    for (const userId of ['00000000-0000-4000-8000-000000000000', 'nope']) {
      expect(refusal(await me.gql(BlockUserDocument, { userId }))).toEqual({ codes: ['NOT_FOUND'], field: 'userId' });
      expect(codes(await me.gql(UnblockUserDocument, { userId }))).toEqual(['NOT_FOUND']);
    }
    expect(codes(await gql(server, BlockUserDocument, { userId: me.id }))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await gql(server, BlockedUsersDocument, {}))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('between a blocker and the blocked, both ways', () => {
  let host: TestUser;
  let blocker: TestUser;
  let blocked: TestUser;
  let directChatId: string;

  beforeAll(async () => {
    [host, blocker, blocked] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    await certify(server, blocker);
    await certify(server, blocked);
    await befriendByRequest(blocker, blocked);
    directChatId = (await blocker.gqlOk(OpenDirectChatDocument, { userId: blocked.id })).openDirectChat.id;
    await blocker.gqlOk(BlockUserDocument, { userId: blocked.id });
  });

  it('refuses friend requests and direct messages, on HTTP and graphql-ws', async () => {
    for (const [from, to] of [
      [blocker, blocked],
      [blocked, blocker],
    ] as const) {
      expect(refusal(await from.gql(SendFriendRequestDocument, { userId: to.id }))).toEqual({
        codes: ['FORBIDDEN'],
        field: 'userId',
      });
      expect(codes(await from.gql(OpenDirectChatDocument, { userId: to.id }))).toEqual(['FORBIDDEN']);
    }
    // Their direct chat from before the block still loads, but takes no message either way.
    expect(refusal(await blocked.gql(SendMessageDocument, { chatId: directChatId, body: 'hey' }))).toEqual({
      codes: ['FORBIDDEN'],
      field: 'chatId',
    });
    const ws = blocker.ws();
    try {
      expect(codes(await wsRequest(ws, SendMessageDocument, { chatId: directChatId, body: 'hey' }))).toEqual([
        'FORBIDDEN',
      ]);
    } finally {
      await ws.dispose();
    }
  });

  it('hides presence and the friends list, which follow the ended friendship', async () => {
    const state = (await blocked.gqlOk(BlockStateDocument, { id: blocker.id })).user!;
    expect(state).toMatchObject({ friendshipStatus: 'NONE', isOnline: false, lastSeenAt: null });
    expect(state.friends.edges).toEqual([]);
  });

  it('refuses invitations, at creation and later, and shares', async () => {
    for (const [from, to] of [
      [blocker, blocked],
      [blocked, blocker],
    ] as const) {
      const made = await from.gql(CreateEventDocument, { input: eventInput({ invitedUserIds: [to.id] }) });
      expect(refusal(made)).toEqual({ codes: ['FORBIDDEN'], field: 'invitedUserIds' });
      const event = await createEvent(server, from, { isPublic: true });
      const invited = await from.gql(InviteToEventDocument, { eventId: event.id, userIds: [to.id] });
      expect(refusal(invited)).toEqual({ codes: ['FORBIDDEN'], field: 'userIds' });
      expect(codes(await from.gql(ShareEventDocument, { id: event.id, withUserIds: [to.id] }))).toEqual(['FORBIDDEN']);
    }
    // Nothing half-done: no event was made by the refused createEvent calls.
    expect(
      await server.deps.prisma.event.count({ where: { hostId: { in: [blocker.id, blocked.id] }, isPublic: false } }),
    ).toBe(0);
  });

  it('refuses ratings after an event both attended', async () => {
    const event = await createEvent(server, host, { maxParticipants: 5, invitedUserIds: [blocker.id, blocked.id] });
    await blocker.gqlOk(JoinEventDocument, { id: event.id });
    await blocked.gqlOk(JoinEventDocument, { id: event.id });
    await passTime(server, event.id, 2 * 3600_000);
    for (const [from, to] of [
      [blocker, blocked],
      [blocked, blocker],
    ] as const) {
      const rated = await from.gql(RateUserDocument, { input: { userId: to.id, eventId: event.id, score: 5 } });
      expect(refusal(rated)).toEqual({ codes: ['FORBIDDEN'], field: 'userId' });
    }
    // Rating the host still works: the block is between the two of them only.
    expect(
      (await blocker.gql(RateUserDocument, { input: { userId: host.id, eventId: event.id, score: 4 } })).errors,
    ).toBeUndefined();
  });

  it('keeps auto-matching from inviting one to the other’s events', async () => {
    const tag = `blk${Date.now().toString(36)}`;
    const fan = await createUser(server);
    for (const u of [blocked, fan])
      await u.gqlOk(UpdateProfileDocument, { input: { interests: [tag], autoInviteEnabled: true } });
    const event = await createEvent(server, blocker, { isPublic: true, interestTags: [tag], maxParticipants: 10 });
    await blocker.gqlOk(UpdateEventDocument, { id: event.id, input: { autoMatchingEnabled: true } });
    const invited = await server.deps.prisma.eventInvitation.findMany({ where: { eventId: event.id } });
    expect(invited.map((i) => i.userId)).toContain(fan.id);
    expect(invited.map((i) => i.userId)).not.toContain(blocked.id);
  });

  it('leaves group chats both are in usable', async () => {
    const owner = await createUser(server);
    await befriendByRequest(owner, blocker);
    await befriendByRequest(owner, blocked);
    const { createGroupChat } = await owner.gqlOk(CreateGroupChatDocument, {
      title: 'Both in',
      memberIds: [blocker.id, blocked.id],
    });
    expect(
      (await blocked.gql(SendMessageDocument, { chatId: createGroupChat.id, body: 'hi all' })).errors,
    ).toBeUndefined();
    // But the blocker cannot start a group with the blocked: group members must be friends.
    expect(codes(await blocker.gql(CreateGroupChatDocument, { title: 'No', memberIds: [blocked.id] }))).toEqual([
      'FORBIDDEN',
    ]);
  });
});

describe('unblockUser', () => {
  it('restores the ability to connect, not the friendship', async () => {
    const [ann, bob] = await Promise.all([createUser(server), createUser(server)]);
    await befriendByRequest(ann, bob);
    await ann.gqlOk(BlockUserDocument, { userId: bob.id });
    // Only the blocker lifts a block; the blocked user's unblock changes nothing.
    expect(await bob.gqlOk(UnblockUserDocument, { userId: ann.id })).toEqual({ unblockUser: true });
    expect(codes(await bob.gql(SendFriendRequestDocument, { userId: ann.id }))).toEqual(['FORBIDDEN']);
    expect(await ann.gqlOk(UnblockUserDocument, { userId: bob.id })).toEqual({ unblockUser: true });
    expect(await ann.gqlOk(UnblockUserDocument, { userId: bob.id })).toEqual({ unblockUser: true });
    expect(await friends(ann, bob)).toBe(false);
    expect((await ann.gqlOk(BlockStateDocument, { id: bob.id })).user?.isBlockedByViewer).toBe(false);
    await befriendByRequest(bob, ann);
    expect(await friends(ann, bob)).toBe(true);
  });
});
