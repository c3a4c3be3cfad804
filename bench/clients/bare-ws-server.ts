// Child process of the fan-out benchmark: a bare `ws` server (no GraphQL, no app) whose RSS per
// idle socket is the floor the API's figure is compared with. Answers over IPC: its port once
// listening, its RSS and heap when asked (after a full collection: run with --expose-gc).
import { WebSocketServer } from 'ws';

const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
server.on('listening', () => process.send!({ type: 'port', port: (server.address() as { port: number }).port }));
process.on('message', (msg: { type: string }) => {
  if (msg.type !== 'memory') return;
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  process.send!({ type: 'memory', rss, heap: heapUsed });
});
// The parent is done (or died): nothing here is worth a graceful close.
process.on('disconnect', () => process.exit(0));
