// A TCP proxy in front of a real service (Redis, PostgreSQL), to take it "down" and back up,
// make it a black hole that accepts bytes and never answers, or make the host vanish under the
// open connections, without touching the shared server other test files use.
import net from 'node:net';

/** One client connection and the proxy's connection to the service for it. */
interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  /** The service side is gone: nothing passes any more, whatever the mode. */
  severed: boolean;
}

export class TcpProxy {
  /** `up` passes bytes both ways; `blackhole` accepts connections and bytes and never answers. */
  mode: 'up' | 'blackhole' = 'up';
  port = 0;
  private server?: net.Server;
  private readonly pairs = new Set<Pair>();

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** A proxy for the host and port of a service URL (redis://…, postgresql://…). */
  static for(url: string, defaultPort: number): TcpProxy {
    const target = new URL(url);
    return new TcpProxy(target.hostname, Number(target.port || defaultPort));
  }

  /** The service URL rewritten to go through this proxy. */
  url(original: string): string {
    const through = new URL(original);
    through.hostname = '127.0.0.1';
    through.port = String(this.port);
    return through.toString();
  }

  /** Client connections open through the proxy now. */
  get connections(): number {
    return this.pairs.size;
  }

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      const pair: Pair = { client, upstream, severed: false };
      this.pairs.add(pair);
      for (const socket of [client, upstream]) socket.on('error', () => {});
      const passes = () => this.mode === 'up' && !pair.severed;
      client.on('data', (chunk) => passes() && upstream.write(chunk));
      upstream.on('data', (chunk) => passes() && client.write(chunk));
      client.on('close', () => {
        this.pairs.delete(pair);
        upstream.destroy();
      });
      upstream.on('close', () => pair.severed || client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /**
   * Closes every open connection (the clients see them end) and keeps accepting new ones.
   * With `silently`, the host vanishes instead: the service side of each open connection is
   * dropped and the client side stays open, hearing nothing ever again, as when a database
   * host dies without a word (a failover); new connections still reach the service.
   */
  reset({ silently = false } = {}): void {
    for (const pair of this.pairs) {
      if (silently) {
        pair.severed = true;
        pair.upstream.destroy();
      } else {
        pair.client.destroy();
      }
    }
  }

  /** Refuses new connections and drops the open ones, like a stopped service. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
