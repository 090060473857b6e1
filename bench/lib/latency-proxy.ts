/**
 * Bank latency for the benchmarks, without touching the simulator: a TCP proxy in front of it that holds every
 * chunk the client sends for `latencyMs` before passing it on (in order; the answers come back at once). The mTLS
 * session runs end to end through it, so each request on a kept-alive connection reaches the bank `latencyMs` later
 * (a new connection's handshake pays it on each of its two client flights). This is what a distant, slow bank looks
 * like to the worker: a call takes at least `latencyMs`, and only more calls in flight buy throughput.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

export interface LatencyProxy {
  /** `https://127.0.0.1:<port>`: the bank's address as the integration's base URL gives it. */
  url: string;
  /** Connections accepted so far. */
  connections(): number;
  /** The delay the proxy really added (arrival of a client chunk to its write upstream), measured, since the start. */
  held(): { chunks: number; meanMs: number; minMs: number; maxMs: number };
  stop(): Promise<void>;
}

export async function startLatencyProxy(target: URL, latencyMs: number): Promise<LatencyProxy> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const delay = { chunks: 0, totalMs: 0, minMs: Infinity, maxMs: 0 };
  const server = createServer((client) => {
    accepted++;
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    // Chunks in flight to the bank; each leaves latencyMs after it arrived, in arrival order.
    let chain = Promise.resolve();
    client.on('data', (chunk) => {
      const arrived = performance.now();
      const due = arrived + latencyMs;
      chain = chain.then(async () => {
        const wait = due - performance.now();
        if (wait > 0) {
          await new Promise((r) => setTimeout(r, wait));
        }
        if (!upstream.destroyed) {
          upstream.write(chunk);
          const ms = performance.now() - arrived;
          delay.chunks++;
          delay.totalMs += ms;
          delay.minMs = Math.min(delay.minMs, ms);
          delay.maxMs = Math.max(delay.maxMs, ms);
        }
      });
    });
    upstream.pipe(client);
    const close = () => {
      void chain.then(() => {
        client.destroy();
        upstream.destroy();
      });
    };
    client.on('end', close);
    upstream.on('end', close);
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    connections: () => accepted,
    held: () => ({
      chunks: delay.chunks,
      meanMs: delay.chunks ? delay.totalMs / delay.chunks : 0,
      minMs: delay.chunks ? delay.minMs : 0,
      maxMs: delay.maxMs,
    }),
    async stop() {
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
