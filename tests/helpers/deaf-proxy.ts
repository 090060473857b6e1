import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface DeafProxy {
  /** A connection URL like the target's, through the proxy. */
  url: string;
  /** While true, Postgres's notifications (NotificationResponse messages) are dropped; everything else passes. */
  deaf: boolean;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of Postgres that can drop LISTEN notifications and nothing else: the connection keeps
 * answering queries, as one behind a transaction-pooling proxy or left on a former primary would, but hears
 * no NOTIFY. Plain connections only (no TLS), as in the tests.
 */
export async function deafProxy(targetUrl: string): Promise<DeafProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  const state = { deaf: false };
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    client.pipe(upstream);
    // Server to client: every message is a type byte and an int32 length (which counts itself).
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      while (pending.length >= 5) {
        const size = 1 + pending.readInt32BE(1);
        if (pending.length < size) {
          break;
        }
        const message = pending.subarray(0, size);
        pending = pending.subarray(size);
        if (!(state.deaf && message[0] === 0x41)) {
          out.push(message);
        }
      }
      if (out.length > 0) {
        client.write(Buffer.concat(out));
      }
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    get deaf() {
      return state.deaf;
    },
    set deaf(value: boolean) {
      state.deaf = value;
    },
    async close() {
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
