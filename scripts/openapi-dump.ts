/**
 * Prints the OpenAPI document the API serves at /openapi.json, without Postgres or Redis: the route
 * registry is built over a context whose connections are never used (no handler runs). `npm run
 * lint:openapi` pipes it into Spectral (.spectral.yaml).
 *
 *   node scripts/openapi-dump.ts > openapi.json
 */
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config/index.ts';
import { FeedDatabaseGuard } from '../src/events/feed-database-guard.ts';
import type { AppContext } from '../src/main/context.ts';
import { buildApiApp } from '../src/main/api.ts';
import type { Queues } from '../src/scheduler/index.ts';
import { createOutboundPolicy } from '../src/shared/outbound-policy.ts';
import { createDb } from '../src/storage/db.ts';
import { primaryReads } from '../src/storage/read-replica.ts';

const { config, secrets } = loadConfig({ ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent' });
// A pool that connects only on first use, which never comes; queues and bank clients are never touched.
const db = createDb({ url: config.database.url, poolMax: 1 });
const unused = (what: string) => () => {
  throw new Error(`openapi-dump: ${what} is not available here`);
};
const ctx: AppContext = {
  config,
  secrets,
  db,
  reads: primaryReads(db),
  feedDatabase: new FeedDatabaseGuard(),
  logger: undefined as unknown as AppContext['logger'],
  queues: {
    prefix: config.queue.prefix,
    redis: undefined,
    flows: undefined,
    queue: unused('queues'),
    close: () => Promise.resolve(),
  } as unknown as Queues,
  clientFor: unused('clientFor'),
  outbound: createOutboundPolicy(),
  apiKeys: { findByPrefix: unused('apiKeys'), markUsed: unused('apiKeys') },
  close: () => db.destroy(),
};
const app = buildApiApp(ctx, { queues: [] });
const server = app.listen(0, '127.0.0.1');
await new Promise<void>((resolve) => server.once('listening', resolve));
try {
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi.json`);
  if (!res.ok) {
    throw new Error(`GET /openapi.json answered ${res.status}`);
  }
  process.stdout.write(`${JSON.stringify(await res.json(), null, 2)}\n`);
} finally {
  server.close();
  await db.destroy();
}
