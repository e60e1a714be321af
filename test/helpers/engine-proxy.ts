import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of the engine's unix socket, so that a test can make the engine
 * vanish (kill: every connection reset, new ones refused) or freeze (connections stay open,
 * nothing passes, new ones are accepted and never answered) in the middle of a build.
 */
export class EngineProxy {
  private readonly pairs = new Set<[Socket, Socket | null]>();
  private frozen = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(socketPath = '/var/run/docker.sock'): Promise<EngineProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new EngineProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => {
      client.on('error', () => undefined);
      if (proxy.frozen) {
        proxy.pairs.add([client, null]);
        return;
      }
      const upstream = connect(socketPath);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      const pair: [Socket, Socket] = [client, upstream];
      proxy.pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      const forget = () => proxy.pairs.delete(pair);
      client.on('close', forget);
      upstream.on('close', () => client.destroy());
    });
    return proxy;
  }

  get url(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  /** Every connection reset, the port closed: the engine is gone. */
  kill(): void {
    this.server.close();
    for (const [client, upstream] of this.pairs) {
      client.resetAndDestroy();
      upstream?.destroy();
    }
    this.pairs.clear();
  }

  /** Nothing passes any more, in either direction, on old or new connections. */
  freeze(): void {
    this.frozen = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe();
      upstream?.unpipe();
      client.pause();
      upstream?.pause();
    }
  }

  close(): void {
    this.kill();
  }
}
