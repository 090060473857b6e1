import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** A TCP switch in front of Postgres: `moveTo` ends every connection and sends new ones to another port. */
export async function pgSwitch(
  targetUrl: string,
): Promise<{ url: string; moveTo(url: string): void; close(): Promise<void> }> {
  let port = Number(new URL(targetUrl).port);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
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
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    moveTo(to) {
      port = Number(new URL(to).port);
      for (const s of sockets) {
        s.destroy();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) {
          s.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
