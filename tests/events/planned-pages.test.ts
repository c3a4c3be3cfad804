// Planned map pages (src/schema/planned.ts, src/schema/events/plans.ts): a map query whose
// selection the planner knows is answered without graphql-js walking it, in one statement for
// eventsInBounds and eventsNear. Its answers must be the executed ones, byte for byte: each
// planned document is compared with the same document plus one field the planner does not
// know (which makes graphql-js execute it), that field then taken out again. Over HTTP and
// graphql-ws, signed in and anonymous, with errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_COLUMNS, HOST_COLUMNS } from '../../src/services/events/columns.ts';
import {
  AddEventCommentDocument,
  JoinEventDocument,
  JoinWaitlistDocument,
  LikeEventDocument,
} from '../generated/graphql.ts';
import { countStatements, createUser, gqlOk, postQuery, wsQuery } from '../helpers/client.ts';
import type { RawResult, TestUser } from '../helpers/client.ts';
import { certify, createEvent } from '../helpers/events.ts';
import { jpeg, uploadOk } from '../helpers/images.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const BOUNDS = { south: 52.3, west: 13.1, north: 52.7, east: 13.7 };

/** Every field the planner answers on an event and its host, aliases and __typename included. */
const HOST_FIELDS = [...HOST_COLUMNS.filter((c) => c !== 'avatarKey'), 'avatarUrl', 'handle: username', '__typename'];
const EVENT_FIELDS = [...EVENT_COLUMNS, 'when: startsAt', '__typename', `host { ${HOST_FIELDS.join(' ')} }`];

/** A field the planner leaves to graphql-js (arguments below the root), and how to take it out again. */
const UNPLANNED = 'attendees(first: 1) { edges { cursor } }';

const nodeFields = (extra = '') => `${EVENT_FIELDS.join(' ')} ...HostAgain ${extra}`;

const ROOTS = {
  eventsInBounds: 'eventsInBounds(bounds: $bounds, ',
  eventsNear: 'eventsNear(latitude: 52.52, longitude: 13.405, radiusKm: 30, ',
  searchEvents: 'searchEvents(query: "planned", bounds: $bounds, ',
} as const;

/** The document with `extra` inside the root field's parentheses and node selection. */
function mapQuery(root: keyof typeof ROOTS, extra = ''): string {
  const call = `${ROOTS[root]}first: $first, after: $after, last: $last, before: $before)`;
  const paging = '$first: Int, $after: String, $last: Int, $before: String';
  const variables = root === 'eventsNear' ? paging : `$bounds: BoundsInput!, ${paging}`;
  return `
  query Map(${variables}) {
    __typename
    page: ${call} {
      __typename
      edges { __typename cursor node { ${nodeFields(extra)} } }
      pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
  fragment HostAgain on Event { host { id fullName } }`;
}

/**
 * searchEvents' first page starts from "now", which its cursors keep (the pivot between upcoming
 * and earlier events): two requests differ there and nowhere else. The pivot is taken out.
 */
const withoutPivot = (text: string) =>
  text.replace(/"(eyJ|Wy)[A-Za-z0-9_-]+"/g, (quoted) => {
    const parts = JSON.parse(Buffer.from(quoted.slice(1, -1), 'base64url').toString()) as unknown[];
    return JSON.stringify(parts[0] === 'search' ? parts.slice(0, -1) : parts);
  });

/** An answer as JSON text (key order counts), search pivots taken out. */
const text = (body: unknown) => withoutPivot(JSON.stringify(body));

/** The executed answer with the unplanned field taken out of every node, as text(). */
function withoutUnplanned(body: RawResult): string {
  const data = structuredClone(body.data) as { page?: { edges: Array<{ node: Record<string, unknown> }> } } | null;
  for (const edge of data?.page?.edges ?? []) delete edge.node.attendees;
  return text({ ...body, data });
}

describe('planned map pages', () => {
  let server: TestServer;
  let host: TestUser;
  let plainHost: TestUser;
  let viewer: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [host, plainHost, viewer] = await Promise.all([
      createUser(server, { fullName: 'Ada Host' }),
      createUser(server),
      createUser(server),
    ]);
    await certify(server, host);
    // The host has an avatar (a primary profile image), the other none.
    await uploadOk(server, { data: await jpeg(64, 64) }, { token: host.accessToken, isPrimary: true });
    const soon = Date.now() + 3600_000;
    const at = (i: number) => ({
      startsAt: new Date(soon + i * 60_000).toISOString(),
      endsAt: new Date(soon + i * 60_000 + 7200_000).toISOString(),
    });
    const open = await createEvent(server, host, {
      title: 'Planned open study',
      isPublic: true,
      interestTags: ['chess', 'go'],
      ...at(1),
    });
    const full = await createEvent(server, host, {
      title: 'Planned full party',
      isPublic: true,
      type: 'PARTY',
      maxParticipants: 2,
      ...at(2),
    });
    const invited = await createEvent(server, plainHost, {
      title: 'Planned private dinner',
      invitedUserIds: [viewer.id],
      ...at(3),
    });
    await createEvent(server, plainHost, { title: 'Planned hidden', ...at(4) });
    await createEvent(server, viewer, { title: 'Planned own draft', status: 'DRAFT', ...at(5) });
    await gqlOk(server, JoinEventDocument, { id: open.id }, { token: viewer.accessToken });
    await gqlOk(server, LikeEventDocument, { id: open.id }, { token: viewer.accessToken });
    await gqlOk(server, AddEventCommentDocument, { eventId: open.id, body: 'See you' }, { token: viewer.accessToken });
    const other = await createUser(server);
    await gqlOk(server, JoinEventDocument, { id: full.id }, { token: other.accessToken });
    await gqlOk(server, JoinWaitlistDocument, { eventId: full.id }, { token: viewer.accessToken });
    // The column allows NULL (rows written by other tools): read as [] either way.
    await server.deps.prisma.$executeRaw`UPDATE events SET interest_tags = NULL WHERE id = ${full.id}::uuid`;
    // Shares need friends; the count is all the map shows of them.
    await server.deps.prisma.eventShare.create({
      data: { eventId: invited.id, sharedById: plainHost.id, sharedWithId: viewer.id },
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  const variables = (first: number, after: string | null = null) => ({ bounds: BOUNDS, first, after });

  for (const root of Object.keys(ROOTS) as Array<keyof typeof ROOTS>) {
    it(`${root}: the planned answer is the executed one, signed in and anonymous, page by page`, async () => {
      for (const token of [viewer.accessToken, undefined]) {
        let after: string | null = null;
        let pages = 0;
        do {
          const planned = await postQuery(server, mapQuery(root), token, variables(2, after));
          const executed = await postQuery(server, mapQuery(root, UNPLANNED), token, variables(2, after));
          expect(planned.status).toBe(200);
          expect(executed.status).toBe(200);
          expect(planned.body.errors).toBeUndefined();
          expect(text(planned.body)).toBe(withoutUnplanned(executed.body));
          const page = (planned.body.data as { page: { pageInfo: { hasNextPage: boolean; endCursor: string } } }).page;
          after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
          pages += 1;
        } while (after && pages < 10);
        expect(pages).toBeGreaterThan(token ? 1 : 0);
      }
    });
  }

  it('shows what a viewer sees of each event: counts, their part, the host and avatar', async () => {
    const { body } = await postQuery(server, mapQuery('eventsInBounds'), viewer.accessToken, variables(50));
    const nodes = (body.data as { page: { edges: Array<{ node: Record<string, unknown> }> } }).page.edges.map(
      (e) => e.node,
    );
    const byTitle = new Map(nodes.filter((n) => String(n.title).startsWith('Planned')).map((n) => [n.title, n]));
    expect([...byTitle.keys()]).toEqual(['Planned open study', 'Planned full party', 'Planned private dinner']);
    const open = byTitle.get('Planned open study')!;
    expect(open).toMatchObject({
      viewerIsAttending: true,
      viewerHasLiked: true,
      likeCount: 1,
      commentCount: 1,
      attendeeCount: 2,
      interestTags: ['chess', 'go'],
      type: 'OTHER',
      __typename: 'Event',
    });
    expect(open.host).toMatchObject({ id: host.id, fullName: 'Ada Host', handle: host.username, __typename: 'User' });
    expect((open.host as { avatarUrl: string }).avatarUrl).toMatch(/^http.*\.(jpe?g|webp)$/);
    expect(byTitle.get('Planned full party')).toMatchObject({ spotsLeft: 0, waitlistCount: 1, type: 'PARTY' });
    const dinner = byTitle.get('Planned private dinner')!;
    expect(dinner).toMatchObject({ viewerIsInvited: true, shareCount: 1, isPublic: false });
    expect((dinner.host as { avatarUrl: unknown }).avatarUrl).toBeNull();
  });

  it('answers eventsInBounds and eventsNear in one statement, and executes what it does not plan', async () => {
    for (const root of ['eventsInBounds', 'eventsNear'] as const) {
      await postQuery(server, mapQuery(root), viewer.accessToken, variables(50));
      const planned = await countStatements(server, () =>
        postQuery(server, mapQuery(root), viewer.accessToken, variables(50)),
      );
      const executed = await countStatements(server, () =>
        postQuery(server, mapQuery(root, UNPLANNED), viewer.accessToken, variables(50)),
      );
      expect({ root, planned }).toEqual({ root, planned: 1 });
      expect(executed).toBeGreaterThan(planned);
    }
  });

  it('plans several root fields of one document, each answered as executed', async () => {
    const two = (extra: string) => `query Two($bounds: BoundsInput!) {
      a: eventsInBounds(bounds: $bounds, first: 3) { edges { node { id title ${extra} } } }
      b: eventsNear(latitude: 52.52, longitude: 13.405, radiusKm: 30, first: 3) { pageInfo { endCursor } edges { cursor node { id ${extra} } } }
    }`;
    const vars = { bounds: BOUNDS };
    const planned = await postQuery(server, two(''), viewer.accessToken, vars);
    const executed = await postQuery(server, two(UNPLANNED), viewer.accessToken, vars);
    const data = executed.body.data as Record<'a' | 'b', { edges: Array<{ node: Record<string, unknown> }> }>;
    for (const edge of [...data.a.edges, ...data.b.edges]) delete edge.node.attendees;
    expect(JSON.stringify(planned.body)).toBe(JSON.stringify(executed.body));
    expect(data.a.edges.length).toBe(3);
    expect(await countStatements(server, () => postQuery(server, two(''), viewer.accessToken, vars))).toBe(2);
  });

  it('leaves directives and unknown selections to normal execution, with the same answers', async () => {
    const withDirective = mapQuery('eventsInBounds').replace(
      '__typename cursor',
      '__typename cursor @include(if: true)',
    );
    const result = await postQuery(server, withDirective, viewer.accessToken, variables(3));
    const plain = await postQuery(server, mapQuery('eventsInBounds'), viewer.accessToken, variables(3));
    expect(JSON.stringify(result.body)).toBe(JSON.stringify(plain.body));
    const statements = await countStatements(server, () =>
      postQuery(server, withDirective, viewer.accessToken, variables(3)),
    );
    expect(statements).toBeGreaterThan(1);
    // An alias an object literal would take for the prototype stays with graphql-js too.
    const proto = mapQuery('eventsInBounds').replace('__typename cursor', '__typename __proto__: cursor');
    const answer = await postQuery(server, proto, viewer.accessToken, variables(3));
    const edges = (answer.body.data as { page: { edges: Array<Record<string, unknown>> } }).page.edges;
    expect(edges.length).toBeGreaterThan(0);
    for (const edge of edges) expect(Object.keys(edge)).toEqual(['__typename', '__proto__', 'node']);
  });

  it('refuses bad input as normal execution does: same errors, same status', async () => {
    const cases: Array<Record<string, unknown>> = [
      { bounds: { ...BOUNDS, south: 100 }, first: 2 },
      { bounds: BOUNDS, first: 501 },
      { bounds: BOUNDS, first: 2, after: 'not-a-cursor' },
      // Arguments the paging policy refuses (map lists page forwards only).
      { bounds: BOUNDS, last: 2 },
      { bounds: BOUNDS, first: 2, before: 'x' },
      // A variable graphql-js refuses before any resolver runs.
      { bounds: { ...BOUNDS, south: 'north' }, first: 2 },
    ];
    for (const vars of cases) {
      const planned = await postQuery(server, mapQuery('eventsInBounds'), viewer.accessToken, vars);
      const executed = await postQuery(server, mapQuery('eventsInBounds', UNPLANNED), viewer.accessToken, vars);
      expect(planned.status).toBe(executed.status);
      expect(planned.body.errors?.length).toBe(1);
      expect(planned.body).toEqual(executed.body);
    }
  });

  it('answers an operation name the document lacks as executed (400), planning nothing', async () => {
    const post = (query: string) => postQuery(server, query, viewer.accessToken, variables(2), 'Nope');
    const planned = await post(mapQuery('eventsInBounds'));
    const executed = await post(mapQuery('eventsInBounds', UNPLANNED));
    expect(planned.status).toBe(400);
    expect(planned).toEqual(executed);
  });

  it('falls back to normal execution when a value cannot be sent, with its partial data and paths', async () => {
    // A stored key the storage refuses to make a URL of: executed, avatarUrl is null with an error at its path.
    const [image] = await server.deps.prisma.$queryRaw<Array<{ id: string; key: string }>>`
      SELECT id::text, key FROM images WHERE user_id = ${host.id}::uuid AND is_primary`;
    await server.deps.prisma.$executeRaw`UPDATE images SET key = 'not a safe key' WHERE id = ${image!.id}::uuid`;
    try {
      const planned = await postQuery(server, mapQuery('eventsInBounds'), viewer.accessToken, variables(2));
      const executed = await postQuery(server, mapQuery('eventsInBounds', UNPLANNED), viewer.accessToken, variables(2));
      const errors = planned.body.errors as Array<{ path?: unknown[] }> | undefined;
      expect(errors?.[0]?.path).toEqual(['page', 'edges', 0, 'node', 'host', 'avatarUrl']);
      // Each request's errors name its own request id.
      for (const e of [...(planned.body.errors ?? []), ...(executed.body.errors ?? [])]) {
        delete (e.extensions as Record<string, unknown> | undefined)?.requestId;
      }
      expect(text(planned.body)).toBe(withoutUnplanned(executed.body));
    } finally {
      await server.deps.prisma.$executeRaw`UPDATE images SET key = ${image!.key} WHERE id = ${image!.id}::uuid`;
    }
  });

  it('answers the same over graphql-ws', async () => {
    const overWs = await wsQuery(server, mapQuery('eventsInBounds'), {
      token: viewer.accessToken,
      variables: variables(50),
    });
    const overHttp = await postQuery(server, mapQuery('eventsInBounds', UNPLANNED), viewer.accessToken, variables(50));
    expect(text(overWs)).toBe(withoutUnplanned(overHttp.body));
    const refused = await wsQuery(server, mapQuery('eventsInBounds'), {
      token: viewer.accessToken,
      variables: { bounds: { ...BOUNDS, south: 100 }, first: 2 },
    });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'bounds.south' });
  });
});
