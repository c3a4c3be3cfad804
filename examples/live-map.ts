// The live map as a command-line program: sign in, follow eventChanged for a viewport, load the
// viewport, and print what changes. It shows the pattern a map screen needs:
// - subscribe first, then query, and keep the newest `version` of each event, so nothing
//   falls between the query and the subscription;
// - keep the `cursor` of the last change received;
// - reconnect with exponential backoff (and jitter) after any disconnect, refreshing the
//   session first after close code 4403 (token refused or expired);
// - on reconnecting, subscribe with `after: <that cursor>`: the server replays the changes made
//   while disconnected, in order, then goes on live. Only without a cursor (nothing received
//   yet) or on RESYNC_REQUIRED (the cursor is older than the history kept) query the viewport
//   again, and subscribe without `after`.
import { ApiError, LiveConnection, readOptions, Session, sleep, stopSignal } from './client.ts';
import { ViewportChangesDocument, ViewportDocument } from './generated/graphql.ts';
import type { BoundsInput, PinFragment, ViewportChangesSubscription } from './generated/graphql.ts';

const USAGE = `Usage: npx tsx examples/live-map.ts [options]
  --url URL               GraphQL endpoint (PINIT_URL; default http://localhost:4000/graphql)
  --username NAME         (PINIT_USERNAME; default the demo account ada.novak0)
  --password PASSWORD     (PINIT_PASSWORD; default the demo password)
  --bounds S,W,N,E        the viewport (default 52.3,13.1,52.7,13.7, central Berlin)
  --duration SECONDS      stop after this long (default: until Ctrl-C)
  --max-changes N         stop after N changes (live, replayed, or found by a re-query)
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

/** Where to resume: the cursor of the last change received, if any. */
let lastCursor: string | undefined;
/** When the last resume was sent; a change older than that was missed while disconnected. */
let resumedAt = -Infinity;

function applyChange({ eventChanged: c }: ViewportChangesSubscription) {
  lastCursor = c.cursor;
  const known = pins.get(c.eventId)?.version ?? gone.get(c.eventId) ?? 0;
  if (c.version <= known) return; // already have this or something newer
  // Only a label for the output (it compares our clock with the server's); the cursor alone
  // makes the resume exact.
  const missed = Date.parse(c.occurredAt) < resumedAt ? 'missed while disconnected: ' : '';
  if (c.event) {
    pins.set(c.eventId, c.event);
    gone.delete(c.eventId);
    log(`${missed}${c.kind} ${pinText(c.event)}`);
  } else {
    // Deleted, cancelled, made private, or no longer visible to us: remove the pin.
    pins.delete(c.eventId);
    gone.set(c.eventId, c.version);
    log(`${missed}${c.kind} ${c.eventId} v${c.version}: removed from the map`);
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

/** Loads the viewport (initial) or reconciles the map with it (when it could not resume). */
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
    else log(`found by the re-query: ${pinText(pin)}`);
  }
  for (const id of [...pins.keys()]) {
    // Gone from the viewport, unless a live change about it arrived while we were asking.
    if (fresh.has(id) || seenLive.has(id)) continue;
    pins.delete(id);
    removed += 1;
    if (!initial) log(`found by the re-query: ${id} left the map`);
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

let connected!: () => void;
const firstConnection = new Promise<void>((resolve) => (connected = resolve));
let viewportLoaded = false;

const live = new LiveConnection(opts.url, session, {
  signal,
  log,
  onFatal: fail,
  onConnected: (reconnected) => {
    log(reconnected ? 'reconnected' : 'connected');
    connected();
    if (!reconnected || !viewportLoaded) return;
    // The subscription was sent with `after: lastCursor` (see its variables below).
    if (lastCursor) log('resuming after the last change received');
    // Nothing received before the disconnect: no position to resume from.
    else resync('nothing to resume from');
  },
});

/** For a subscription without `after`: the viewport query finds what it can't replay. */
function resync(why: string) {
  log(`re-querying the viewport: ${why}`);
  // Once the subscription has reached the server (it is sent right after the acknowledgement);
  // the version check drops whatever arrives twice.
  void sleep(300, signal)
    .then(() => (signal.aborted ? undefined : syncViewport(false)))
    .catch(fail);
}

function fail(error: unknown) {
  console.error(error instanceof ApiError ? `error: ${error.message}` : error);
  process.exitCode = 1;
  stop();
}

const viewport = live.subscribe(
  ViewportChangesDocument,
  // Read at every (re)subscribe: a reconnect resumes after the newest cursor.
  () => {
    if (lastCursor) resumedAt = Date.now();
    return { bounds, after: lastCursor };
  },
  {
    next: (data) => {
      for (const listener of liveListeners) listener(data);
      applyChange(data);
    },
    error: (error) => {
      if (error.code !== 'RESYNC_REQUIRED') return fail(error);
      // The cursor is older than the history the server keeps: start over without it.
      lastCursor = undefined;
      viewport.restart();
      resync('the last cursor is too old to resume from');
    },
  },
);

let stopped = false;
function stop() {
  if (stopped) return;
  stopped = true;
  viewport.stop();
  log(`stopped after ${changes} changes`);
  // Exit once the socket is closed properly; timers and retries must not keep us waiting.
  void live.dispose().finally(() => process.exit());
}
signal.addEventListener('abort', stop);

await Promise.race([firstConnection, new Promise((resolve) => signal.addEventListener('abort', resolve))]);
if (!signal.aborted) {
  // Subscribed first, queried second: a change between the two shows up in one or the other.
  await sleep(300, signal);
  await syncViewport(true).catch(fail);
  viewportLoaded = true;
}
