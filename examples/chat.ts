// A direct chat from the command line: open the chat with a friend, follow it live, send
// messages, and print what comes in with its read status. Sends carry a clientMessageId, so a
// retried send can't post twice; incoming messages are marked read, which the sender sees as
// READ. After a disconnect it reconnects and resumes messageAdded after the last message
// received, so what was sent meanwhile still arrives, once.
import { randomUUID } from 'node:crypto';
import { ApiError, LiveConnection, readOptions, Session, sleep, stopSignal } from './client.ts';
import {
  IncomingDocument,
  MarkReadDocument,
  OpenChatDocument,
  SendDocument,
  StatusChangesDocument,
  UserByUsernameDocument,
} from './generated/graphql.ts';
import type { ChatMessageFragment, IncomingSubscription, MessageStatus } from './generated/graphql.ts';

const USAGE = `Usage: npx tsx examples/chat.ts --with USERNAME [options] [MESSAGE ...]
  --with USERNAME         the friend to chat with (direct chats are between friends)
  MESSAGE ...             what to send (default: one greeting)
  --url URL               GraphQL endpoint (PINIT_URL; default http://localhost:4000/graphql)
  --username NAME         (PINIT_USERNAME; default the demo account ada.novak0)
  --password PASSWORD     (PINIT_PASSWORD; default the demo password)
  --duration SECONDS      stop after this long (default: until Ctrl-C)
  --once                  stop once the friend has read everything sent and answered`;

const opts = readOptions(USAGE, {
  with: { type: 'string' },
  duration: { type: 'string' },
  once: { type: 'boolean' },
});
const friendName = opts.values.with;
if (typeof friendName !== 'string') {
  console.error(`--with is required\n\n${USAGE}`);
  process.exit(2);
}
const texts = opts.positionals.length ? opts.positionals : ['Hello from the PinIt chat example!'];
const signal = stopSignal(opts.values.duration === undefined ? undefined : Number(opts.values.duration));

const session = await Session.login(opts, (line) => console.log(line));
const me = session.user.id;

const { user: friend } = await session.request(UserByUsernameDocument, { username: friendName });
if (!friend) {
  console.error(`There is no user ${friendName}.`);
  process.exit(1);
}
let chatId: string;
try {
  ({
    openDirectChat: { id: chatId },
  } = await session.request(OpenChatDocument, { userId: friend.id }));
} catch (error) {
  // Direct chats are only between friends: a friend request has to be accepted first.
  console.error(
    `Can't open a chat with ${friend.username}: ${error instanceof ApiError ? error.message : String(error)}`,
  );
  process.exit(1);
}
console.log(`chat ${chatId} with ${friend.username}`);

/** Status of what we sent, by message id. */
const sent = new Map<string, { body: string; status: MessageStatus }>();
/** Status of what we received, by message id. */
const received = new Map<string, { body: string; status: MessageStatus }>();

/** markChatRead requests in flight: --once waits for them, or the reply it received stays unread. */
let marking = 0;

function maybeDone() {
  if (!opts.values.once || marking > 0) return;
  const allRead = sent.size === texts.length && [...sent.values()].every((m) => m.status === 'READ');
  if (allRead && received.size > 0) stop();
}

/** Where messageAdded resumes: the cursor of the last message it delivered (ours included). */
let lastCursor: string | undefined;

const live = new LiveConnection(opts.url, session, {
  signal,
  log: (line) => console.log(line),
  onFatal: (error) => fail(error),
  onConnected: (reconnected) => {
    if (reconnected) console.log(lastCursor ? 'reconnected; resuming after the last message received' : 'reconnected');
  },
});

async function onIncoming(message: IncomingSubscription['messageAdded']) {
  lastCursor = message.cursor;
  if (message.sender.id === me) return; // ours, echoed (also from our other devices)
  received.set(message.id, { body: message.body, status: message.status });
  console.log(`← ${message.sender.username}: ${message.body}  [${message.status}]`);
  // We have seen it: mark the chat read, which the sender sees as READ.
  marking += 1;
  try {
    await session.request(MarkReadDocument, { chatId });
  } finally {
    marking -= 1;
  }
  maybeDone();
}

const rank: Record<MessageStatus, number> = { SENT: 0, DELIVERED: 1, READ: 2 };

function onStatus(message: ChatMessageFragment) {
  const mine = message.sender.id === me;
  const known = (mine ? sent : received).get(message.id);
  if (!known) {
    // Our send hasn't returned yet: remember the status for it.
    if (mine) sent.set(message.id, { body: message.body, status: message.status });
    return;
  }
  // Updates can overtake each other; a status only moves forward.
  if (rank[message.status] <= rank[known.status]) return;
  known.status = message.status;
  // From the sender's side: DELIVERED once the other member got it, READ once they read it.
  console.log(`  ${mine ? 'you' : message.sender.username}: "${known.body}" is ${message.status}`);
  maybeDone();
}

const incoming = live.subscribe(
  IncomingDocument,
  // Read at every (re)subscribe: a reconnect resumes after the newest cursor.
  () => ({ chatId, after: lastCursor }),
  {
    next: (d) => void onIncoming(d.messageAdded).catch(fail),
    error: (error) => {
      if (error.code !== 'RESYNC_REQUIRED') return fail(error);
      // Too old to resume (a client away for more than a day): an app reloads the chat history
      // here; this one goes on with what comes next.
      console.log('missed messages are too old to resume; following new ones');
      lastCursor = undefined;
      incoming.restart();
    },
  },
);
// messageUpdated has no `after`: a status change made while disconnected is not replayed (an
// app reloads the statuses of the messages on screen after a reconnect).
const statuses = live.subscribe(StatusChangesDocument, () => ({ chatId }), {
  next: (d) => onStatus(d.messageUpdated),
  error: fail,
});

let stopped = false;
function stop() {
  if (stopped) return;
  stopped = true;
  incoming.stop();
  statuses.stop();
  console.log(`bye (${sent.size} sent, ${received.size} received)`);
  void live.dispose().finally(() => process.exit());
}
signal.addEventListener('abort', stop);

function fail(error: unknown) {
  console.error(error instanceof ApiError ? `error: ${error.message}` : error);
  process.exitCode = 1;
  stop();
}

// Give the subscriptions a moment to reach the server so a quick answer isn't missed.
await sleep(500, signal);
for (const body of texts) {
  if (signal.aborted) break;
  // The same clientMessageId on a retry returns the message already stored instead of a copy.
  const clientMessageId = randomUUID();
  const { sendMessage } = await session.request(SendDocument, { chatId, body, clientMessageId });
  // A status update may have come in before the send returned; keep the more advanced one.
  const early = sent.get(sendMessage.id)?.status;
  const status = early && rank[early] > rank[sendMessage.status] ? early : sendMessage.status;
  sent.set(sendMessage.id, { body, status });
  console.log(`→ you: ${body}  [${sendMessage.status}]`);
}
console.log(opts.values.once ? 'waiting for replies and read receipts' : 'listening (Ctrl-C to stop)');
maybeDone();
