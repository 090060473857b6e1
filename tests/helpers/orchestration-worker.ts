/**
 * A queue worker in its own process, for the crash tests: the same startWorkers the worker role
 * runs, against a test database, Redis prefix and the simulator (the credential comes from a file).
 * Prints `ready` once its workers are connected. SIGTERM closes it gracefully; tests SIGKILL it.
 */
import { readFileSync } from 'node:fs';
import { JpmClient } from '../../src/jpm/client.ts';
import type { JpmCredential } from '../../src/jpm/credential-agents.ts';
import { createQueues, startWorkers } from '../../src/scheduler/index.ts';
import { createLogger, initLogger } from '../../src/shared/logger.ts';
import { createDb } from '../../src/storage/db.ts';
import { recordingBank, TEST_STALL } from './recording-bank.ts';
import { bankClientOf } from '../../src/sync/jpm-bank.ts';

interface ChildConfig {
  dbUrl: string;
  redisUrl: string;
  prefix: string;
  simUrl: string;
  credFile: string;
  today: string;
  pageDelayMs: number;
}

const cfg = JSON.parse(process.env.ORCH_WORKER ?? '{}') as ChildConfig;
initLogger({ level: process.env.ORCH_LOG_LEVEL ?? 'silent', format: 'json' });
const credential = JSON.parse(readFileSync(cfg.credFile, 'utf8')) as JpmCredential;
const client = new JpmClient({ baseUrl: cfg.simUrl, credentials: () => Promise.resolve(credential), refusalProbeMs: 500 });
const { bank } = recordingBank(bankClientOf(client), { pageDelayMs: cfg.pageDelayMs });
const db = createDb({ url: cfg.dbUrl, poolMax: 6 });
const queues = createQueues({ redisUrl: cfg.redisUrl, prefix: cfg.prefix });
const workers = startWorkers(
  {
    queues,
    sync: { db, clientFor: () => Promise.resolve(bank), now: () => new Date(`${cfg.today}T17:00:00Z`), logger: createLogger('sync'), lookbackDays: 5 },
    logger: createLogger('scheduler'),
  },
  { redisUrl: cfg.redisUrl, database: { url: cfg.dbUrl, poolMax: 4 }, concurrency: 4, stall: TEST_STALL, busyRetryMs: 200 },
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
