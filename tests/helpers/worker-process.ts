/**
 * The body of a queue worker running in a process of its own (crash tests, the chaos suite, the
 * benchmarks): the same `startWorkers` the worker role runs, the real J.P. Morgan client over mTLS to
 * the simulator (credential read from a file the parent wrote), against the parent's database, Redis
 * and queue prefix. Prints `ready` once its workers are connected; SIGTERM closes it gracefully
 * (jobs finish, pools end); the parent may SIGKILL it instead. No vitest imports: it runs outside vitest.
 */
import { readFileSync } from 'node:fs';
import { JpmClient, type JpmClientOptions } from '../../src/jpm/client.ts';
import type { TlsCredential } from '../../src/jpm/credential-agents.ts';
import { startSearchIndexLoop } from '../../src/events/search-index.ts';
import { createQueues, startWorkers, type WorkerOptions } from '../../src/scheduler/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createDb } from '../../src/storage/db.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { bankClientOf } from '../../src/sync/jpm-bank.ts';

export interface WorkerProcessOptions {
  dbUrl: string;
  redisUrl: string;
  prefix: string;
  simUrl: string;
  credFile: string;
  /** The simulator's business date; the worker's clock is 12:00 in New York on it. */
  today: string;
  /** Client settings beyond base URL and credential (timeouts, refusal probe). */
  client?: Omit<JpmClientOptions, 'baseUrl' | 'credentials'>;
  /** Wraps the bank (slow pages, call recording). */
  wrapBank?: (bank: BankClient) => BankClient;
  /** Pool of the sync path's database (default 6). */
  poolMax?: number;
  applicationName?: string;
  /**
   * Runs the search step's loop beside the workers, as the worker role does (the benchmarks), with its yield settings.
   * With `applicationName` the step has a pool of its own under that name (the worker role shares one), so a
   * benchmark can tell its backends' CPU from ingestion's.
   */
  searchIndex?: {
    batchSize: number;
    intervalMs?: number;
    busyShare: number;
    maxLagSeconds: number;
    applicationName?: string;
  };
  worker: Omit<WorkerOptions, 'redisUrl' | 'database'> & { lockPoolMax?: number };
}

export async function runWorkerProcess(o: WorkerProcessOptions): Promise<void> {
  const credential = JSON.parse(readFileSync(o.credFile, 'utf8')) as TlsCredential;
  const client = new JpmClient({ ...o.client, baseUrl: o.simUrl, credentials: () => Promise.resolve(credential) });
  const bank = (o.wrapBank ?? ((b) => b))(bankClientOf(client));
  const db = createDb({
    url: o.dbUrl,
    poolMax: o.poolMax ?? 6,
    ...(o.applicationName ? { applicationName: o.applicationName } : {}),
  });
  const queues = createQueues({ redisUrl: o.redisUrl, prefix: o.prefix });
  const { lockPoolMax, ...worker } = o.worker;
  const workers = startWorkers(
    {
      queues,
      sync: {
        db,
        clientFor: () => Promise.resolve(bank),
        now: () => new Date(`${o.today}T17:00:00Z`),
        logger: createLogger('sync'),
        lookbackDays: 5,
      },
      logger: createLogger('scheduler'),
    },
    { ...worker, redisUrl: o.redisUrl, database: { url: o.dbUrl, ...(lockPoolMax ? { poolMax: lockPoolMax } : {}) } },
  );
  const searchDb = o.searchIndex?.applicationName
    ? createDb({ url: o.dbUrl, poolMax: 2, applicationName: o.searchIndex.applicationName })
    : db;
  const search = o.searchIndex
    ? startSearchIndexLoop(searchDb, {
        batchSize: o.searchIndex.batchSize,
        intervalMs: o.searchIndex.intervalMs ?? 1_000,
        logger: createLogger('events'),
        yield: { busyShare: o.searchIndex.busyShare, maxLagSeconds: o.searchIndex.maxLagSeconds },
      })
    : undefined;
  await Promise.all(workers.workers.map((w) => w.waitUntilReady()));
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void (async () => {
      await workers.close();
      await search?.stop();
      await client.close();
      await queues.close();
      if (searchDb !== db) {
        await searchDb.destroy();
      }
      await db.destroy();
      process.exit(0);
    })();
  });
}
