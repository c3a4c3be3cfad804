// Reports and moderation as clients and admins use them over HTTP and graphql-ws: anyone signed
// in reports what they can see, once per subject, within a limit; only admins list reports and
// see who filed them; a resolution closes every open report of its subject, and its action
// (dismiss, remove the content everywhere it shows, suspend the owner) happens with it or not
// at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddEventCommentDocument,
  CreateGroupChatDocument,
  EventChangedDocument,
  EventDocument,
  FileReportDocument,
  LoginDocument,
  MeDocument,
  MessageUpdatedDocument,
  ReportsDocument,
  ResolveReportDocument,
  SendMessageDocument,
} from '../generated/graphql.ts';
import type { ReportInput } from '../generated/graphql.ts';
import {
  codes,
  createAdmin,
  createUser,
  gql,
  gqlOk,
  refusal,
  subscribe,
  wsClient,
  wsRequest,
} from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { jpeg, uploadOk } from '../helpers/images.ts';
import { befriend } from '../helpers/social.ts';
import { startTestServer, testDatabaseUrl, testRedisUrl, twoInstances } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
let admin: TestUser;

beforeAll(async () => {
  server = await startTestServer({ env: { RATE_LIMIT_REPORTS_PER_USER: '1000/86400' } });
  admin = await createAdmin(server);
});
afterAll(async () => {
  await server?.close();
});

const fileReport = (user: TestUser, input: Partial<ReportInput> & Pick<ReportInput, 'subject' | 'subjectId'>) =>
  user.gql(FileReportDocument, { input: { reason: 'SPAM', ...input } });
const openReportsOf = async (subjectId: string) =>
  (await admin.gqlOk(ReportsDocument, { status: 'OPEN', first: 100 })).reports.edges
    .map((e) => e.node)
    .filter((r) => r.subjectId === subjectId);
const UNKNOWN = '00000000-0000-4000-8000-000000000000';

/** A group chat of the two (friends), with one message from `from`. */
async function chatMessage(from: TestUser, to: TestUser, body = 'buy cheap followers') {
  await befriend(server, from, to);
  const { createGroupChat } = await from.gqlOk(CreateGroupChatDocument, { title: 'Study group', memberIds: [to.id] });
  const { sendMessage } = await from.gqlOk(SendMessageDocument, { chatId: createGroupChat.id, body });
  return { chatId: createGroupChat.id, messageId: sendMessage.id };
}

describe('report', () => {
  it('files a report of what the reporter can see, without telling them or anyone but admins who filed it', async () => {
    const [reporter, spammer] = await Promise.all([createUser(server), createUser(server)]);
    const { report } = (await fileReport(reporter, { subject: 'USER', subjectId: spammer.id, details: ' bot ' })).data!;
    expect(report).toMatchObject({
      subject: 'USER',
      subjectId: spammer.id,
      reason: 'SPAM',
      details: 'bot',
      status: 'OPEN',
      reporter: null,
      subjectOwner: null,
      resolvedAt: null,
    });
    // The reported user cannot list reports; admins see the reporter and the subject.
    expect(codes(await spammer.gql(ReportsDocument, {}))).toEqual(['FORBIDDEN']);
    expect(codes(await gql(server, ReportsDocument, {}))).toEqual(['UNAUTHENTICATED']);
    const [listed] = await openReportsOf(spammer.id);
    expect(listed).toMatchObject({
      id: report.id,
      reporter: { id: reporter.id, username: reporter.username },
      subjectOwner: { id: spammer.id },
      content: { __typename: 'User', id: spammer.id, username: spammer.username },
    });
  });

  it('refuses anonymous callers, unknown or invisible subjects, oneself, own content, long details and repeats', async () => {
    const [reporter, host] = await Promise.all([createUser(server), createUser(server)]);
    const hidden = await createEvent(server, host, { isPublic: false, title: 'Private dinner' });
    const own = await createEvent(server, reporter, { isPublic: false, title: 'My own' });
    const { messageId } = await chatMessage(host, await createUser(server));
    expect(
      codes(await gql(server, FileReportDocument, { input: { subject: 'USER', subjectId: host.id, reason: 'SPAM' } })),
    ).toEqual(['UNAUTHENTICATED']);
    expect(refusal(await fileReport(reporter, { subject: 'USER', subjectId: UNKNOWN }))).toEqual({
      codes: ['NOT_FOUND'],
      field: 'subjectId',
    });
    expect(refusal(await fileReport(reporter, { subject: 'EVENT', subjectId: 'not-a-uuid' }))).toEqual({
      codes: ['NOT_FOUND'],
      field: 'subjectId',
    });
    // A private event they are not invited to, and a message of a chat they are not in, do not exist for them.
    expect(refusal(await fileReport(reporter, { subject: 'EVENT', subjectId: hidden.id }))).toEqual({
      codes: ['NOT_FOUND'],
      field: 'subjectId',
    });
    expect(refusal(await fileReport(reporter, { subject: 'MESSAGE', subjectId: messageId }))).toEqual({
      codes: ['NOT_FOUND'],
      field: 'subjectId',
    });
    expect(refusal(await fileReport(reporter, { subject: 'USER', subjectId: reporter.id }))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'subjectId',
    });
    expect(refusal(await fileReport(reporter, { subject: 'EVENT', subjectId: own.id }))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'subjectId',
    });
    expect(
      refusal(await fileReport(reporter, { subject: 'USER', subjectId: host.id, details: 'x'.repeat(1001) })),
    ).toEqual({ codes: ['BAD_USER_INPUT'], field: 'details' });
    expect(
      (await fileReport(reporter, { subject: 'USER', subjectId: host.id, reason: 'HARASSMENT' })).errors,
    ).toBeUndefined();
    expect(refusal(await fileReport(reporter, { subject: 'USER', subjectId: host.id, reason: 'OTHER' }))).toEqual({
      codes: ['CONFLICT'],
      field: 'subjectId',
    });
    expect(await server.deps.prisma.report.count({ where: { reporterId: reporter.id } })).toBe(1);
  });

  it('limits the reports one user files a day (RATE_LIMIT_REPORTS_PER_USER)', async () => {
    const limited = await startTestServer({ env: { RATE_LIMIT_REPORTS_PER_USER: '2/86400' } });
    try {
      const reporter = await createUser(limited);
      const others = await Promise.all([createUser(limited), createUser(limited), createUser(limited)]);
      const results = [];
      for (const other of others)
        results.push(
          await reporter.gql(FileReportDocument, { input: { subject: 'USER', subjectId: other.id, reason: 'SPAM' } }),
        );
      expect(results.map((r) => codes(r)[0] ?? 'ok')).toEqual(['ok', 'ok', 'RATE_LIMITED']);
    } finally {
      await limited.close();
    }
  });
});

describe('resolveReport', () => {
  it('is for admins only, and refuses unknown reports', async () => {
    const [reporter, other] = await Promise.all([createUser(server), createUser(server)]);
    const { report } = (await fileReport(reporter, { subject: 'USER', subjectId: other.id })).data!;
    expect(codes(await reporter.gql(ResolveReportDocument, { id: report.id, action: 'DISMISS' }))).toEqual([
      'FORBIDDEN',
    ]);
    expect(refusal(await admin.gql(ResolveReportDocument, { id: UNKNOWN, action: 'DISMISS' }))).toEqual({
      codes: ['NOT_FOUND'],
      field: 'id',
    });
    expect((await openReportsOf(other.id)).map((r) => r.id)).toEqual([report.id]);
  });

  it('dismisses every open report of the subject at once; resolving again is a CONFLICT, also for two admins at once', async () => {
    const [a, b, subject] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    const first = (await fileReport(a, { subject: 'USER', subjectId: subject.id })).data!.report;
    const second = (await fileReport(b, { subject: 'USER', subjectId: subject.id })).data!.report;
    const otherAdmin = await createAdmin(server);
    const results = await Promise.all([
      admin.gql(ResolveReportDocument, { id: first.id, action: 'DISMISS', note: 'a joke between friends' }),
      otherAdmin.gql(ResolveReportDocument, { id: first.id, action: 'DISMISS' }),
    ]);
    expect(results.map((r) => codes(r)[0] ?? 'ok').sort()).toEqual(['CONFLICT', 'ok']);
    expect(await openReportsOf(subject.id)).toEqual([]);
    const dismissed = (await admin.gqlOk(ReportsDocument, { status: 'DISMISSED', first: 100 })).reports.edges.filter(
      (e) => e.node.subjectId === subject.id,
    );
    expect(dismissed.map((e) => [e.node.id, e.node.action]).sort()).toEqual(
      [
        [first.id, 'DISMISS'],
        [second.id, 'DISMISS'],
      ].sort(),
    );
    expect(refusal(await admin.gql(ResolveReportDocument, { id: second.id, action: 'SUSPEND_USER' }))).toEqual({
      codes: ['CONFLICT'],
      field: 'id',
    });
    // Nothing happened to the subject.
    expect((await subject.gql(MeDocument)).errors).toBeUndefined();
  });

  it('two admins resolving two reports of one subject at once: one resolves both, the other is told', async () => {
    const [a, b, subject] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    const first = (await fileReport(a, { subject: 'USER', subjectId: subject.id })).data!.report;
    const second = (await fileReport(b, { subject: 'USER', subjectId: subject.id })).data!.report;
    const otherAdmin = await createAdmin(server);
    const results = await Promise.all([
      admin.gql(ResolveReportDocument, { id: first.id, action: 'DISMISS' }),
      otherAdmin.gql(ResolveReportDocument, { id: second.id, action: 'DISMISS' }),
    ]);
    expect(results.map((r) => codes(r)[0] ?? 'ok').sort()).toEqual(['CONFLICT', 'ok']);
    expect(await openReportsOf(subject.id)).toEqual([]);
  });

  it('REMOVE_CONTENT of a user is refused and changes nothing', async () => {
    const [reporter, other] = await Promise.all([createUser(server), createUser(server)]);
    const { report } = (await fileReport(reporter, { subject: 'USER', subjectId: other.id })).data!;
    expect(refusal(await admin.gql(ResolveReportDocument, { id: report.id, action: 'REMOVE_CONTENT' }))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'action',
    });
    expect((await openReportsOf(other.id)).map((r) => r.status)).toEqual(['OPEN']);
  });

  it('REMOVE_CONTENT empties a message for the chat’s live subscribers (over graphql-ws) and shows the admin what was said', async () => {
    const [sender, member] = await Promise.all([createUser(server), createUser(server)]);
    const { chatId, messageId } = await chatMessage(sender, member, 'send me your password');
    const report = (await fileReport(member, { subject: 'MESSAGE', subjectId: messageId, reason: 'SAFETY' })).data!
      .report;
    // The admin is not in the chat but sees the message with the report.
    expect((await openReportsOf(messageId))[0]?.content).toEqual({
      __typename: 'Message',
      id: messageId,
      body: 'send me your password',
    });
    const client = member.ws({ stayConnected: true });
    const updates = await subscribe(server, client, MessageUpdatedDocument, { chatId });
    try {
      const adminWs = admin.ws();
      const resolved = await wsRequest(adminWs, ResolveReportDocument, { id: report.id, action: 'REMOVE_CONTENT' });
      await adminWs.dispose();
      expect(resolved.data?.resolveReport).toMatchObject({ status: 'ACTIONED', action: 'REMOVE_CONTENT' });
      const removed = await updates.next((d) => d.messageUpdated.id === messageId && d.messageUpdated.deleted);
      expect(removed.messageUpdated.body).toBe('');
    } finally {
      updates.stop();
      await client.dispose();
    }
    const stored = await server.deps.prisma.message.findUniqueOrThrow({ where: { id: messageId } });
    expect([stored.body, stored.deletedAt !== null]).toEqual(['', true]);
  });

  it('REMOVE_CONTENT deletes an event: map subscribers see it DELETED, and it is gone for everyone', async () => {
    const [host, reporter, watcher] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    await certify(server, host);
    const place = { latitude: 47.37, longitude: 8.54 };
    const event = await createEvent(server, host, { isPublic: true, title: 'Totally legit crypto seminar', ...place });
    const report = (await fileReport(reporter, { subject: 'EVENT', subjectId: event.id, reason: 'SPAM' })).data!.report;
    expect((await openReportsOf(event.id))[0]?.content).toEqual({
      __typename: 'Event',
      id: event.id,
      title: 'Totally legit crypto seminar',
    });
    const client = watcher.ws({ stayConnected: true });
    const bounds = { south: 47.3, north: 47.4, west: 8.5, east: 8.6 };
    const changes = await subscribe(server, client, EventChangedDocument, { bounds });
    try {
      await admin.gqlOk(ResolveReportDocument, { id: report.id, action: 'REMOVE_CONTENT', note: 'scam' });
      const deleted = await changes.next((d) => d.eventChanged.eventId === event.id);
      expect([deleted.eventChanged.kind, deleted.eventChanged.event]).toEqual(['DELETED', null]);
    } finally {
      changes.stop();
      await client.dispose();
    }
    expect((await watcher.gql(EventDocument, { id: event.id })).data?.event).toBeNull();
    expect((await openReportsOf(event.id)).length).toBe(0);
    // The report stays as the record of what was done, its content gone.
    const [record] = (await admin.gqlOk(ReportsDocument, { status: 'ACTIONED', first: 100 })).reports.edges.filter(
      (e) => e.node.id === report.id,
    );
    expect(record?.node).toMatchObject({ action: 'REMOVE_CONTENT', note: 'scam', content: null });
  });

  it('REMOVE_CONTENT deletes a comment, and an image with its stored file', async () => {
    const [host, author, reporter] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    await certify(server, host);
    const event = await createEvent(server, host, { isPublic: true });
    const { addEventComment: addComment } = await author.gqlOk(AddEventCommentDocument, {
      eventId: event.id,
      body: 'rude words',
    });
    const image = await uploadOk(server, { data: await jpeg(64, 64) }, { token: author.accessToken });
    expect((await fetch(image.url)).status).toBe(200);
    const byComment = (await fileReport(reporter, { subject: 'COMMENT', subjectId: addComment.id })).data!.report;
    const byImage = (await fileReport(reporter, { subject: 'IMAGE', subjectId: image.id, reason: 'INAPPROPRIATE' }))
      .data!.report;
    expect((await openReportsOf(image.id))[0]?.content).toEqual({ __typename: 'Image', id: image.id, url: image.url });
    await admin.gqlOk(ResolveReportDocument, { id: byComment.id, action: 'REMOVE_CONTENT' });
    await admin.gqlOk(ResolveReportDocument, { id: byImage.id, action: 'REMOVE_CONTENT' });
    expect(await server.deps.prisma.eventComment.count({ where: { id: addComment.id } })).toBe(0);
    expect(await server.deps.prisma.image.count({ where: { id: image.id } })).toBe(0);
    expect((await fetch(image.url)).status).toBe(404);
    expect(await server.deps.prisma.storageDeletion.count()).toBe(0);
  });

  it('SUSPEND_USER suspends the owner of the content: their sessions end and they cannot sign in', async () => {
    const [author, member] = await Promise.all([createUser(server), createUser(server)]);
    const { messageId } = await chatMessage(author, member, 'threat');
    const report = (await fileReport(member, { subject: 'MESSAGE', subjectId: messageId, reason: 'HARASSMENT' })).data!
      .report;
    const resolved = await admin.gqlOk(ResolveReportDocument, {
      id: report.id,
      action: 'SUSPEND_USER',
      note: 'threats',
    });
    expect(resolved.resolveReport).toMatchObject({ status: 'ACTIONED', action: 'SUSPEND_USER', note: 'threats' });
    const me = await author.gql(MeDocument);
    expect([me.status, codes(me)]).toEqual([401, ['UNAUTHENTICATED']]);
    expect(codes(await gql(server, LoginDocument, { username: author.username, password: author.password }))).toEqual([
      'FORBIDDEN',
    ]);
    const stored = await server.deps.prisma.user.findUniqueOrThrow({ where: { id: author.id } });
    expect(stored.suspensionReason).toBe('threats');
    // The message stays (suspension is not removal).
    expect((await server.deps.prisma.message.findUniqueOrThrow({ where: { id: messageId } })).body).toBe('threat');
  });

  it('SUSPEND_USER of the admin’s own content is refused, and the report stays open', async () => {
    const reporter = await createUser(server);
    const { messageId } = await chatMessage(admin, reporter, 'admin says hi');
    const { report } = (await fileReport(reporter, { subject: 'MESSAGE', subjectId: messageId })).data!;
    expect(refusal(await admin.gql(ResolveReportDocument, { id: report.id, action: 'SUSPEND_USER' }))).toEqual({
      codes: ['BAD_USER_INPUT'],
      field: 'action',
    });
    expect((await openReportsOf(messageId)).map((r) => r.id)).toEqual([report.id]);
  });
});

describe.runIf(testDatabaseUrl && testRedisUrl)('moderation across instances', () => {
  const { a, b } = twoInstances();

  it('content removed on A leaves the screens of subscribers on B', async () => {
    const moderator = await createAdmin(a());
    const [host, member, watcher] = await Promise.all([createUser(a()), createUser(a()), createUser(a())]);
    await certify(a(), host);
    const place = { latitude: 60.17, longitude: 24.94 };
    const event = await createEvent(a(), host, { isPublic: true, title: 'Pyramid scheme meetup', ...place });
    await befriend(a(), host, member);
    const { createGroupChat } = await host.gqlOk(CreateGroupChatDocument, { title: 'Deals', memberIds: [member.id] });
    const { sendMessage } = await host.gqlOk(SendMessageDocument, { chatId: createGroupChat.id, body: 'join now' });
    const byEvent = (
      await watcher.gql(FileReportDocument, { input: { subject: 'EVENT', subjectId: event.id, reason: 'SPAM' } })
    ).data!.report;
    const byMessage = (
      await member.gql(FileReportDocument, { input: { subject: 'MESSAGE', subjectId: sendMessage.id, reason: 'SPAM' } })
    ).data!.report;

    const watcherWs = wsClient(b(), { authorization: `Bearer ${watcher.accessToken}` }, { stayConnected: true });
    const memberWs = wsClient(b(), { authorization: `Bearer ${member.accessToken}` }, { stayConnected: true });
    const bounds = { south: 60.1, north: 60.2, west: 24.9, east: 25.0 };
    const map = await subscribe(b(), watcherWs, EventChangedDocument, { bounds });
    const messages = await subscribe(b(), memberWs, MessageUpdatedDocument, { chatId: createGroupChat.id });
    try {
      const token = { token: moderator.accessToken };
      await gqlOk(a(), ResolveReportDocument, { id: byEvent.id, action: 'REMOVE_CONTENT' }, token);
      await gqlOk(a(), ResolveReportDocument, { id: byMessage.id, action: 'REMOVE_CONTENT' }, token);
      const deleted = await map.next((d) => d.eventChanged.eventId === event.id);
      expect(deleted.eventChanged.kind).toBe('DELETED');
      const emptied = await messages.next((d) => d.messageUpdated.id === sendMessage.id && d.messageUpdated.deleted);
      expect(emptied.messageUpdated.body).toBe('');
    } finally {
      map.stop();
      messages.stop();
      await Promise.all([watcherWs.dispose(), memberWs.dispose()]);
    }
  });
});
