import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface CutProxy {
  /** The target's URL with its host and port replaced by the proxy's. */
  url: string;
  port: number;
  /**
   * The service goes away, as a stopped or crashed server does: every connection through the proxy is reset and new
   * ones are refused (nothing listens on the port) until `restore()`.
   */
  cut(): Promise<void>;
  /** The service is back on the same address (a restart): connections go through again. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A plain TCP proxy in front of a shared server (Postgres or Redis) that a test can take away and bring back, without
 * touching the server itself: other engineers' tests use it.
 */
export async function cutProxy(targetUrl: string): Promise<CutProxy> {
  const target = new URL(targetUrl);
  const targetPort = Number(target.port || (target.protocol.startsWith('redis') ? 6379 : 5432));
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    const s = createServer((client) => {
      const upstream = connect(targetPort, target.hostname);
      sockets.add(client).add(upstream);
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const cut = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) {
      socket.resetAndDestroy();
    }
    sockets.clear();
    if (s) {
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  };
  await listen();
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    port,
    cut,
    async restore() {
      if (!server) {
        await listen();
      }
    },
    close: cut,
  };
}
