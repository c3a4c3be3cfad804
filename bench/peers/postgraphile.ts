// PostGraphile 5 as a peer of the API in case 1 (bench/cases/map.ts): the same map page from
// a GraphQL server that plans its SQL from the database, in a process of its own
// (postgraphile/server.ts) on the database the case seeded.
//
// The page is a SQL function, PostGraphile's idiom for a custom query: it takes the viewer and
// the bounds and returns the visible events in order; the map's derived fields are computed
// columns (functions over a row), viewerIsAttending taking the viewer as its argument, so the
// plan computes it for the same viewer as the API. Its answer differs from the API's only in
// names and forms, which `normalizePage` maps back (aliases do most of it in the document).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { startChildProcess } from '../lib/server-process.ts';
import type { ChildProcessHandle } from '../lib/server-process.ts';

/** The schema of the peer's functions (the tables stay in public, the app's). */
export const PEER_SCHEMA = 'postgraphile_peer';

/**
 * The peer's functions. The page's WHERE is the one visibility rule
 * (src/services/events/visibility.ts) for a signed-in viewer with eventsInBounds' default
 * status filter (PUBLISHED), written out as RAW_MAP_SQL is; the order is the API's.
 * Avatar URLs are the storage's public links: the base is the API's, fixed when installed.
 */
export function peerSql(filesBaseUrl: string): string {
  const base = filesBaseUrl.replaceAll("'", "''");
  return `
  CREATE SCHEMA ${PEER_SCHEMA};

  CREATE FUNCTION ${PEER_SCHEMA}.map_page(viewer_id uuid, south float8, west float8, north float8, east float8)
  RETURNS SETOF public.events LANGUAGE sql STABLE AS $$
    SELECT e.* FROM public.events e
    WHERE e.latitude BETWEEN south AND north AND e.longitude BETWEEN west AND east
      AND e.status = 'PUBLISHED'
      AND ((e.is_public AND e.status <> 'DRAFT') OR e.host_id = viewer_id OR (e.status <> 'DRAFT' AND (
           EXISTS (SELECT 1 FROM public.event_attendees a WHERE a.event_id = e.id AND a.user_id = viewer_id)
        OR EXISTS (SELECT 1 FROM public.event_invitations i WHERE i.event_id = e.id AND i.user_id = viewer_id AND i.declined_at IS NULL))))
    ORDER BY e.starts_at, e.id
  $$;

  CREATE FUNCTION ${PEER_SCHEMA}.events_spots_left(e public.events) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT GREATEST(0, e.max_participants - e.attendee_count)
  $$;

  CREATE FUNCTION ${PEER_SCHEMA}.events_viewer_is_attending(e public.events, viewer_id uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM public.event_attendees a WHERE a.event_id = e.id AND a.user_id = viewer_id)
  $$;

  CREATE FUNCTION ${PEER_SCHEMA}.users_avatar_url(u public.users) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT '${base}/' || img.key FROM public.images img WHERE img.user_id = u.id AND img.is_primary
  $$;`;
}

/**
 * MAP_QUERY (bench/cases/map.ts) in PostGraphile's schema: the page function's field, the
 * primary keys as `rowId` (its `id` is the global Node id), the host through the foreign key
 * (`userByHostId`), the viewer as the arguments. Aliases give the answer the API's names.
 */
export const PEER_MAP_QUERY = `query MapPage($viewer: UUID!, $south: Float!, $west: Float!, $north: Float!, $east: Float!, $first: Int) {
  eventsInBounds: postgraphilePeerMapPage(viewerId: $viewer, south: $south, west: $west, north: $north, east: $east, first: $first) {
    edges { node { id: rowId title latitude longitude startsAt attendeeCount spotsLeft viewerIsAttending(viewerId: $viewer) host: userByHostId { id: rowId username avatarUrl } } }
  }
}`;

export const peerMapBody = (
  viewerId: string,
  bounds: { south: number; west: number; north: number; east: number },
  first: number,
) => ({ query: PEER_MAP_QUERY, variables: { viewer: viewerId, ...bounds, first } });

interface PeerPage {
  eventsInBounds: { edges: Array<{ node: { startsAt: string } & Record<string, unknown> }> };
}

/**
 * The peer's answer in the API's forms. The one difference the aliases leave: PostgreSQL's
 * text for timestamptz (`2026-12-02T04:36:28.486000+00:00`) where the API sends ISO 8601 in UTC
 * with milliseconds (`…28.486Z`); the column holds milliseconds, so nothing is rounded away.
 */
export function normalizePeerPage(page: PeerPage): PeerPage {
  return {
    eventsInBounds: {
      edges: page.eventsInBounds.edges.map(({ node }) => ({
        node: { ...node, startsAt: new Date(node.startsAt).toISOString() },
      })),
    },
  };
}

export async function installPeerSql(databaseUrl: string, filesBaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(peerSql(filesBaseUrl));
  } finally {
    await client.end();
  }
}

export interface PostGraphilePeer extends ChildProcessHandle {
  graphqlUrl: string;
  /** The installed postgraphile package's version. */
  version: string;
}

/** Starts the peer's process on `databaseUrl` (installPeerSql done) and resolves once it answers. */
export async function startPostGraphilePeer(opts: {
  databaseUrl: string;
  jwtSecret: string;
  poolSize: number;
}): Promise<PostGraphilePeer> {
  const child = await startChildProcess({
    name: 'PostGraphile',
    script: 'bench/peers/postgraphile/server.ts',
    env: {
      NODE_ENV: 'production',
      // Grafast's own switch; unset it follows NODE_ENV, and says so on stderr.
      GRAPHILE_ENV: 'production',
      DATABASE_URL: opts.databaseUrl,
      JWT_SECRET: opts.jwtSecret,
      POOL_SIZE: String(opts.poolSize),
    },
    ready: async (url) => {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer none' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      await res.body?.cancel();
      // Listening is what counts here; the bogus token is refused.
      return true;
    },
  });
  // Read from the package itself: this process does not load PostGraphile (its server does).
  const manifest = join(import.meta.dirname, '..', '..', 'node_modules', 'postgraphile', 'package.json');
  const { version } = JSON.parse(await readFile(manifest, 'utf8')) as { version: string };
  return { ...child, graphqlUrl: `${child.url}/graphql`, version };
}
