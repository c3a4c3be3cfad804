// searchEvents over HTTP and graphql-ws: full-text matching on title, tags, location name and
// description (English stemming), best match first, with bounds and filters, stable keyset
// paging, a document kept in step with edits, clear errors for bad queries, and the GIN index
// in the plan on a database of thousands of events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchSql } from '../../src/services/events/search.ts';
import {
  CancelEventDocument,
  EventsInBoundsDocument,
  SearchEventsDocument,
  UpdateEventDocument,
} from '../generated/graphql.ts';
import type { SearchEventsQueryVariables } from '../generated/graphql.ts';
import { codes, createUser, gql, gqlOk, refusal, wsRequest } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { certify, createEvent, explainPlan, insertBulkEvents, passTime } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

let server: TestServer;
let host: TestUser;
let viewer: TestUser;

const search = (variables: SearchEventsQueryVariables, token: string | undefined = viewer.accessToken) =>
  gqlOk(server, SearchEventsDocument, variables, { token }).then((d) => d.searchEvents);
const idsOf = (connection: { edges: Array<{ node: { id: string } }> }) => connection.edges.map((e) => e.node.id);

beforeAll(async () => {
  server = await startTestServer();
  [host, viewer] = await Promise.all([createUser(server), createUser(server)]);
  await certify(server, host);
});
afterAll(async () => {
  await server?.close();
});

describe('matching', () => {
  it('finds words in the title, tags, location name and description, stemmed, best match first', async () => {
    const inTitle = await createEvent(server, host, { isPublic: true, title: 'Origami parties at dusk' });
    const inTags = await createEvent(server, host, { isPublic: true, title: 'Paper night', interestTags: ['origami'] });
    const inPlace = await createEvent(server, host, {
      isPublic: true,
      title: 'Folding',
      locationName: 'The Origami Museum',
    });
    const inDescription = await createEvent(server, host, {
      isPublic: true,
      title: 'Crafts',
      description: 'We fold origami cranes.',
    });
    const unrelated = await createEvent(server, host, {
      isPublic: true,
      title: 'Calligraphy',
      description: 'Ink and brushes.',
    });

    const found = await search({ query: 'origami' });
    // Title (weight A) first, then tags and place (B), then description (C).
    expect(idsOf(found)[0]).toBe(inTitle.id);
    expect(idsOf(found).slice(1, 3).sort()).toEqual([inTags.id, inPlace.id].sort());
    expect(idsOf(found)[3]).toBe(inDescription.id);
    expect(found.edges).toHaveLength(4);
    expect(found.pageInfo.hasNextPage).toBe(false);

    // Stemming: "party" finds "parties"; letter case does not matter; anonymous viewers see public events.
    expect(idsOf(await search({ query: 'PARTY origami' }, undefined))).toEqual([inTitle.id]);
    // Web-search syntax: a quoted phrase, alternatives, exclusion.
    expect(idsOf(await search({ query: '"origami cranes"' }))).toEqual([inDescription.id]);
    // "fold" is the stem of "Folding" and of "fold".
    expect(idsOf(await search({ query: 'calligraphy or folding' })).sort()).toEqual(
      [unrelated.id, inPlace.id, inDescription.id].sort(),
    );
    expect(idsOf(await search({ query: 'origami -museum -paper -crafts' }))).toEqual([inTitle.id]);
    // An excluded word is excluded from the whole event, even when the others are in the title.
    const cranes = await createEvent(server, host, {
      isPublic: true,
      title: 'Origami basics',
      description: 'Paper cranes',
    });
    expect(idsOf(await search({ query: 'origami basics' }))).toEqual([cranes.id]);
    expect(idsOf(await search({ query: 'origami basics -cranes' }))).toEqual([]);
    // Quotes and backslashes are words' edges, not syntax.
    expect(idsOf(await search({ query: "origami's \\ 'parties' \"dusk" }))).toEqual([inTitle.id]);
    // Words that match nothing: an empty page, not an error.
    expect(idsOf(await search({ query: 'xylophonist' }))).toEqual([]);
  });

  it('keeps the search document in step with edits, and drops cancelled events by default', async () => {
    const event = await createEvent(server, host, { isPublic: true, title: 'Kayak trip' });
    expect(idsOf(await search({ query: 'kayak' }))).toEqual([event.id]);

    await host.gqlOk(UpdateEventDocument, { id: event.id, input: { title: 'Canoe trip', interestTags: ['rowing'] } });
    expect(idsOf(await search({ query: 'kayak' }))).toEqual([]);
    expect(idsOf(await search({ query: 'canoe' }))).toEqual([event.id]);
    expect(idsOf(await search({ query: 'rowing' }))).toEqual([event.id]);

    await host.gqlOk(CancelEventDocument, { id: event.id });
    expect(idsOf(await search({ query: 'canoe' }))).toEqual([]);
    expect(idsOf(await search({ query: 'canoe', filter: { statuses: ['CANCELLED'] } }))).toEqual([event.id]);
  });

  it('combines the words with bounds (across the antimeridian too) and filters', async () => {
    const fiji = await createEvent(server, host, {
      isPublic: true,
      title: 'Snorkel meetup',
      latitude: -17.7,
      longitude: 179.9,
      type: 'PARTY',
    });
    const samoa = await createEvent(server, host, {
      isPublic: true,
      title: 'Snorkel lessons',
      latitude: -17.7,
      longitude: -179.9,
      type: 'STUDY',
    });
    const far = await createEvent(server, host, { isPublic: true, title: 'Snorkel gear swap', latitude: 10 });
    const across = { south: -18, north: -17, west: 179.5, east: -179.5 };

    expect(idsOf(await search({ query: 'snorkel' })).sort()).toEqual([fiji.id, samoa.id, far.id].sort());
    expect(idsOf(await search({ query: 'snorkel', bounds: across })).sort()).toEqual([fiji.id, samoa.id].sort());
    expect(idsOf(await search({ query: 'snorkel', bounds: across, filter: { types: ['STUDY'] } }))).toEqual([samoa.id]);
    // The same events the map shows in those bounds, less those without the word.
    const { eventsInBounds } = await viewer.gqlOk(EventsInBoundsDocument, { bounds: across });
    expect(idsOf(eventsInBounds).sort()).toEqual([fiji.id, samoa.id].sort());
  });

  it('respects visibility: a private event only for its host and invitees', async () => {
    const invitee = await createUser(server);
    const secret = await createEvent(server, host, {
      title: 'Quokka spotting',
      isPublic: false,
      invitedUserIds: [invitee.id],
    });
    expect(idsOf(await search({ query: 'quokka' }, host.accessToken))).toEqual([secret.id]);
    expect(idsOf(await search({ query: 'quokka' }, invitee.accessToken))).toEqual([secret.id]);
    expect(idsOf(await search({ query: 'quokka' }))).toEqual([]);
    expect(idsOf(await search({ query: 'quokka' }, undefined))).toEqual([]);
  });

  it('answers over graphql-ws the same as over HTTP', async () => {
    const event = await createEvent(server, host, { isPublic: true, title: 'Theremin jam' });
    const ws = viewer.ws();
    try {
      const result = await wsRequest(ws, SearchEventsDocument, { query: 'theremin' });
      expect(result.errors).toBeUndefined();
      expect(idsOf(result.data!.searchEvents)).toEqual([event.id]);
      const bad = await wsRequest(ws, SearchEventsDocument, { query: 'the of and' });
      expect(codes(bad)).toEqual(['BAD_USER_INPUT']);
    } finally {
      await ws.dispose();
    }
  });
});

describe('order within a tier', () => {
  it('lists upcoming events soonest first, then those that started, latest first', async () => {
    const at = (hours: number) => {
      const startsAt = new Date(Date.now() + hours * 3600_000);
      return { startsAt: startsAt.toISOString(), endsAt: new Date(startsAt.getTime() + 3 * 3600_000).toISOString() };
    };
    const later = await createEvent(server, host, { isPublic: true, title: 'Marimba jam', ...at(5) });
    const soon = await createEvent(server, host, { isPublic: true, title: 'Marimba class', ...at(1) });
    const underway = await createEvent(server, host, { isPublic: true, title: 'Marimba duo', ...at(1) });
    const past = await createEvent(server, host, { isPublic: true, title: 'Marimba trio', ...at(1) });
    await passTime(server, underway.id, 2 * 3600_000);
    await passTime(server, past.id, 30 * 3600_000);
    expect(idsOf(await search({ query: 'marimba' }))).toEqual([soon.id, later.id, underway.id, past.id]);
    // The same order page by page.
    const pages: string[] = [];
    let after: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof search>> = await search({ query: 'marimba', first: 1, after });
      pages.push(...idsOf(page));
      after = page.pageInfo.hasNextPage ? (page.pageInfo.endCursor ?? null) : null;
    } while (after);
    expect(pages).toEqual([soon.id, later.id, underway.id, past.id]);
  });
});

describe('paging', () => {
  it('walks equal and unequal ranks page by page, each event exactly once, in rank order', async () => {
    const made: string[] = [];
    // Ten with the word once in the title (equal ranks), five with it in the description only.
    for (let i = 0; i < 10; i++)
      made.push((await createEvent(server, host, { isPublic: true, title: `Bonsai ${i}` })).id);
    for (let i = 0; i < 5; i++) {
      made.push(
        (await createEvent(server, host, { isPublic: true, title: `Trees ${i}`, description: 'bonsai care' })).id,
      );
    }
    const seen: string[] = [];
    const pages: number[] = [];
    let after: string | null = null;
    for (;;) {
      const page: Awaited<ReturnType<typeof search>> = await search({ query: 'bonsai', first: 4, after });
      pages.push(page.edges.length);
      seen.push(...idsOf(page));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor ?? null;
      // An event made between pages does not shift the pages already read.
      if (pages.length === 1) made.push((await createEvent(server, host, { isPublic: true, title: 'Bonsai late' })).id);
    }
    expect(pages).toEqual([4, 4, 4, 4]);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual([...made].sort());
    // Title matches before description matches.
    const descriptionOnly = new Set(made.slice(10, 15));
    const firstDescription = seen.findIndex((id) => descriptionOnly.has(id));
    expect(seen.slice(firstDescription).every((id) => descriptionOnly.has(id))).toBe(true);
    expect(firstDescription).toBe(11);
  });
});

describe('bad input', () => {
  const bad = async (variables: SearchEventsQueryVariables) => {
    const result = await gql(server, SearchEventsDocument, variables, { token: viewer.accessToken });
    return { ...refusal(result), message: result.errors?.[0]?.message };
  };

  it('refuses empty, stop-word-only, oversized and many-word queries with BAD_USER_INPUT on query', async () => {
    for (const query of ['', '   ', 'the of and', '!!! ???', 'x'.repeat(201), Array(17).fill('word').join(' ')]) {
      const result = await bad({ query });
      expect(result.codes, JSON.stringify(query).slice(0, 40)).toEqual(['BAD_USER_INPUT']);
      expect(result.field).toBe('query');
    }
    expect((await bad({ query: 'the of and' })).message).toMatch(/no searchable words/);
    // Exactly at the limits is fine.
    expect(idsOf(await search({ query: 'y'.repeat(200) }))).toEqual([]);
    expect(idsOf(await search({ query: Array(16).fill('word').join(' ') }))).toEqual([]);
  });

  it('refuses bad bounds, page sizes and cursors, naming the field', async () => {
    expect(await bad({ query: 'chess', bounds: { south: 10, north: 5, west: 0, east: 1 } })).toMatchObject({
      codes: ['BAD_USER_INPUT'],
      field: 'bounds',
    });
    expect(await bad({ query: 'chess', bounds: { south: -91, north: 5, west: 0, east: 1 } })).toMatchObject({
      codes: ['BAD_USER_INPUT'],
    });
    expect(await bad({ query: 'chess', first: 501 })).toMatchObject({ codes: ['BAD_USER_INPUT'], field: 'first' });
    expect(await bad({ query: 'chess', after: 'not-a-cursor' })).toMatchObject({
      codes: ['BAD_USER_INPUT'],
      field: 'after',
    });
    // A cursor of another list (eventsInBounds) is not a search position.
    await createEvent(server, host, { isPublic: true, title: 'Cursor probe', latitude: 1, longitude: 1 });
    const bounds = { south: 0, north: 2, west: 0, east: 2 };
    const { eventsInBounds } = await viewer.gqlOk(EventsInBoundsDocument, { bounds });
    const foreign = eventsInBounds.edges[0]!.cursor;
    expect(await bad({ query: 'cursor', after: foreign })).toMatchObject({ codes: ['BAD_USER_INPUT'], field: 'after' });
  });
});

describe('on a database of 20,000 events', () => {
  const COUNT = 20_000;
  let big: TestServer;
  let bigHost: TestUser;

  beforeAll(async () => {
    big = await startTestServer({ env: { DATABASE_QUERY_TIMEOUT_MS: '200000' } });
    bigHost = await createUser(big);
    // Titles from a small vocabulary, so every word is common and one is rare.
    await insertBulkEvents(big, bigHost.id, COUNT, {
      title: `(ARRAY['Chess','Salsa','Poker','Hiking','Coding'])[1 + i % 5] || ' ' || CASE WHEN i % 5000 = 0 THEN 'zeppelin' ELSE 'meetup' END`,
      description: `'Bring a friend'`,
      isPublic: 'true',
    });
  }, 240_000);
  afterAll(async () => {
    await big?.close();
  }, 60_000);

  it('plans a rare word on the GIN index, not a sequential scan', async () => {
    const plan = await explainPlan(big, searchSql(bigHost.id, 'zeppelin', null, null, 101));
    console.info(`EXPLAIN searchEvents (rare word):\n${plan}`);
    expect(plan).toMatch(/events_search(_title|_near)?_idx/);
    expect(plan).not.toMatch(/Seq Scan on events\b/);
    const { searchEvents } = await gqlOk(
      big,
      SearchEventsDocument,
      { query: 'zeppelin' },
      { token: bigHost.accessToken },
    );
    expect(searchEvents.edges).toHaveLength(COUNT / 5000);
  });

  it('pages a common word (4,000 matches) by rank with no repeats', async () => {
    const seen = new Set<string>();
    let after: string | null = null;
    for (let i = 0; i < 8; i++) {
      const page: { edges: Array<{ cursor: string; node: { id: string } }>; pageInfo: { endCursor?: string | null } } =
        (await gqlOk(big, SearchEventsDocument, { query: 'chess', first: 500, after }, { token: bigHost.accessToken }))
          .searchEvents;
      for (const id of idsOf(page)) seen.add(id);
      after = page.pageInfo.endCursor ?? null;
    }
    expect(seen.size).toBe(COUNT / 5);
  }, 60_000);
});
