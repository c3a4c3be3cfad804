// The live map as a command-line program: sign in, follow eventChanged for a viewport, load the
// viewport, and print what changes. It shows the pattern a map screen needs:
// - subscribe first, then query, and keep the newest `version` of each event, so nothing
//   falls between the query and the subscription;
// - reconnect with exponential backoff (and jitter) after any disconnect;
// - on close code 4403 (token refused or expired) refresh the session before reconnecting;
// - after a reconnect, query the viewport again: changes made while disconnected are not replayed.
import { ApiError, readOptions, Session, sleep, stopSignal, subscribeTo, wsClientFor } from './client.ts';
import { ViewportChangesDocument, ViewportDocument } from './generated/graphql.ts';
import type { BoundsInput, PinFragment, ViewportChangesSubscription } from './generated/graphql.ts';

const USAGE = `Usage: npx tsx examples/live-map.ts [options]
  --url URL               GraphQL endpoint (PINIT_URL; default http://localhost:4000/graphql)
  --username NAME         (PINIT_USERNAME; default the demo account ada.novak0)
  --password PASSWORD     (PINIT_PASSWORD; default the demo password)
  --bounds S,W,N,E        the viewport (default 52.3,13.1,52.7,13.7, central Berlin)
  --duration SECONDS      stop after this long (default: until Ctrl-C)
  --max-changes N         stop after N changes (live or found by a re-query)
  --access-token TOKEN    use this access token instead of the login's
                          (a short-lived one shows the 4403 handling)`;

const opts = readOptions(USAGE, {
  bounds: { type: 'string' },
  duration: { type: 'string' },
  'max-changes': { type: 'string' },
  'access-token': { type: 'string' },
});
const [south, west, north, east] = String(opts.values.bounds ?? '52.3,13.1,52.7,13.7')
  .split(',')
  .map(Number);
const bounds: BoundsInput = { south: south!, west: west!, north: north!, east: east! };
const maxChanges = opts.values['max-changes'] === undefined ? Infinity : Number(opts.values['max-changes']);
const signal = stopSignal(opts.values.duration === undefined ? undefined : Number(opts.values.duration));

const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 23)} ${line}`);
const pinText = (pin: PinFragment) =>
  `${pin.id} "${pin.title}" v${pin.version} ${pin.status} at ${pin.latitude},${pin.longitude}`;

const session = await Session.login(opts, log);
if (opts.values['access-token']) session.useAccessToken(String(opts.values['access-token']));

/** The pins on the map, by event id. */
const pins = new Map<string, PinFragment>();
/** Ids deleted or hidden, with the version that removed them, so a late older change can't revive them. */
const gone = new Map<string, number>();
let changes = 0;
const counted = () => {
  changes += 1;
  if (changes >= maxChanges) stop();
};

function applyChange({ eventChanged: c }: ViewportChangesSubscription) {
  const known = pins.get(c.eventId)?.version ?? gone.get(c.eventId) ?? 0;
  if (c.version <= known) return; // already have this or something newer
  if (c.event) {
    pins.set(c.eventId, c.event);
    gone.delete(c.eventId);
    log(`${c.kind} ${pinText(c.event)}`);
  } else {
    // Deleted, cancelled, made private, or no longer visible to us: remove the pin.
    pins.delete(c.eventId);
    gone.set(c.eventId, c.version);
    log(`${c.kind} ${c.eventId} v${c.version}: removed from the map`);
  }
  counted();
}

async function queryViewport(): Promise<Map<string, PinFragment>> {
  const found = new Map<string, PinFragment>();
  let after: string | null | undefined;
  do {
    const { eventsInBounds } = await session.request(ViewportDocument, { bounds, first: 500, after });
    for (const { node } of eventsInBounds.edges) found.set(node.id, node);
    after = eventsInBounds.pageInfo.hasNextPage ? eventsInBounds.pageInfo.endCursor : null;
  } while (after);
  return found;
}

/** Loads the viewport (initial) or reconciles the map with it (after a reconnect). */
async function syncViewport(initial: boolean) {
  const seenLive = new Set<string>();
  const track = (c: ViewportChangesSubscription) => seenLive.add(c.eventChanged.eventId);
  liveListeners.add(track);
  let fresh: Map<string, PinFragment>;
  try {
    fresh = await queryViewport();
  } finally {
    liveListeners.delete(track);
  }
  let added = 0;
  let updated = 0;
  let removed = 0;
  for (const [id, pin] of fresh) {
    const known = pins.get(id)?.version ?? gone.get(id) ?? 0;
    if (pin.version <= known) continue;
    if (pins.has(id)) updated += 1;
    else added += 1;
    pins.set(id, pin);
    gone.delete(id);
    if (initial) log(`  ${pinText(pin)}`);
    else log(`missed while disconnected: ${pinText(pin)}`);
  }
  for (const id of [...pins.keys()]) {
    // Gone from the viewport, unless a live change about it arrived while we were asking.
    if (fresh.has(id) || seenLive.has(id)) continue;
    pins.delete(id);
    removed += 1;
    if (!initial) log(`missed while disconnected: ${id} left the map`);
  }
  if (initial) {
    log(`viewport: ${pins.size} events in ${south},${west},${north},${east}`);
  } else {
    log(`resynced: ${added} added, ${updated} updated, ${removed} removed`);
    for (let i = 0; i < added + updated + removed; i++) counted();
  }
}

const liveListeners = new Set<(c: ViewportChangesSubscription) => void>();

// --- the connection ---------------------------------------------------------------------

/** The token that was refused with 4403; refresh before reconnecting unless it changed since. */
let refusedToken: string | undefined;
let lastUsedToken: string | undefined;
let connected!: () => void;
let viewportLoaded = false;
const firstConnection = new Promise<void>((resolve) => (connected = resolve));

const client = wsClientFor(opts.url, session, {
  lazy: false,
  // Keep trying: network loss, restarts and 4403 all end in a reconnect.
  retryAttempts: Infinity,
  shouldRetry: () => !signal.aborted,
  retryWait: async (retries) => {
    const ms = Math.min(30_000, 1_000 * 2 ** retries) * (1 + 0.2 * Math.random());
    log(`reconnecting in ${(ms / 1000).toFixed(1)} s`);
    await sleep(ms, signal);
  },
  // Called for every connection attempt, so a reconnect carries the current token.
  connectionParams: async () => {
    if (refusedToken && refusedToken === session.accessToken) {
      log('refreshing the session before reconnecting');
      await session.refresh();
    }
    refusedToken = undefined;
    lastUsedToken = session.accessToken;
    return { authorization: `Bearer ${session.accessToken}` };
  },
  on: {
    connected: (_socket, _payload, wasRetry) => {
      log(wasRetry ? 'reconnected' : 'connected');
      connected();
      // Re-query once the resubscription has reached the server (it is sent right after the
      // acknowledgement); the version check drops whatever arrives twice.
      if (wasRetry && viewportLoaded)
        void sleep(300, signal)
          .then(() => (signal.aborted ? undefined : syncViewport(false)))
          .catch(fail);
    },
    closed: (event) => {
      if (signal.aborted) return;
      const { code, reason } = event as { code: number; reason: string };
      log(`connection closed (${code}${reason ? `: ${reason}` : ''})`);
      // 4403: the token was refused or has expired (the server closes the socket when it does).
      if (code === 4403) refusedToken = lastUsedToken;
    },
  },
  onNonLazyError: (error) => fail(error),
});

function fail(error: unknown) {
  console.error(error instanceof ApiError ? `error: ${error.message}` : error);
  process.exitCode = 1;
  stop();
}

const unsubscribe = subscribeTo(
  client,
  ViewportChangesDocument,
  { bounds },
  {
    next: (data) => {
      for (const listener of liveListeners) listener(data);
      applyChange(data);
    },
    error: fail,
  },
);

let stopped = false;
function stop() {
  if (stopped) return;
  stopped = true;
  unsubscribe();
  log(`stopped after ${changes} changes`);
  // Exit once the socket is closed properly; timers and retries must not keep us waiting.
  void Promise.resolve(client.dispose()).finally(() => process.exit());
}
signal.addEventListener('abort', stop);

await Promise.race([firstConnection, new Promise((resolve) => signal.addEventListener('abort', resolve))]);
if (!signal.aborted) {
  // Subscribed first, queried second: a change between the two shows up in one or the other.
  await sleep(300, signal);
  await syncViewport(true).catch(fail);
  viewportLoaded = true;
}
