import type { Server } from 'node:http';
import { sql } from 'kysely';
import type { AppContext } from '../context.ts';
import { createApp } from '../http/app.ts';
import { pingRedis } from '../shared/redis.ts';
import type { Stoppable } from './lifecycle.ts';

/** The `api` role: admin and read APIs over HTTP. Stopping closes the listener and waits for requests. */
export async function startApi(ctx: AppContext): Promise<Stoppable & { server: Server }> {
  const app = createApp({
    readiness: [
      { name: 'postgres', check: async () => void (await sql`select 1`.execute(ctx.db)) },
      { name: 'redis', check: () => pingRedis(ctx.config.redis.url, 1_000) },
    ],
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(ctx.config.http.port, ctx.config.http.host, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address();
  ctx.logger.info({ port: typeof address === 'object' && address ? address.port : ctx.config.http.port, host: ctx.config.http.host }, 'api listening');
  return {
    name: 'api',
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
