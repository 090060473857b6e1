/**
 * A queue worker in its own process for the chaos tests (SIGKILL target): the worker role's
 * `startWorkers` against a test database, Redis, queue prefix and the simulator. Logs go to stdout as
 * JSON at `logLevel`, so the parent can scan them (deadlocks, secrets). Prints `ready` once its
 * workers are connected. SIGTERM closes it gracefully.
 */
import { readFileSync } from 'node:fs';
import { JpmClient } from '../../../src/jpm/client.ts';
import type { JpmCredential } from '../../../src/jpm/credential-agents.ts';
import { createQueues, startWorkers } from '../../../src/scheduler/index.ts';
import { createLogger, initLogger } from '../../../src/shared/logger.ts';
import { createDb } from '../../../src/storage/db.ts';
import { bankClientOf } from '../../../src/sync/jpm-bank.ts';
import { slowBank, type ChildConfig } from './slow-bank.ts';

const cfg = JSON.parse(process.env.CHAOS_WORKER ?? '{}') as ChildConfig;
initLogger({ level: cfg.logLevel, format: 'json' });
const credential = JSON.parse(readFileSync(cfg.credFile, 'utf8')) as JpmCredential;
const client = new JpmClient({ baseUrl: cfg.simUrl, credentials: () => Promise.resolve(credential), refusalProbeMs: 500, timeouts: cfg.timeouts });
const bank = slowBank(bankClientOf(client), cfg.pageDelayMs);
const db = createDb({ url: cfg.dbUrl, poolMax: 6 });
const queues = createQueues({ redisUrl: cfg.redisUrl, prefix: cfg.prefix });
const workers = startWorkers(
  {
    queues,
    sync: { db, clientFor: () => Promise.resolve(bank), now: () => new Date(`${cfg.today}T17:00:00Z`), logger: createLogger('sync'), lookbackDays: 5 },
    logger: createLogger('scheduler'),
  },
  { redisUrl: cfg.redisUrl, database: { url: cfg.dbUrl, poolMax: 4 }, concurrency: cfg.concurrency, stall: cfg.stall, guard: cfg.guard, busyRetryMs: 200 },
);
await Promise.all(workers.workers.map((w) => w.waitUntilReady()));
process.stdout.write('ready\n');

process.once('SIGTERM', () => {
  void (async () => {
    await workers.close();
    await client.close();
    await queues.close();
    await db.destroy();
    process.exit(0);
  })();
});
