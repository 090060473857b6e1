import { createQueues, getRun, startWorkers, triggerSync, type RunningWorkers } from '../../src/scheduler/index.ts';
import { classifyFailure } from '../../src/scheduler/retry-policy.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { IsoDate } from '../../src/shared/time.ts';
import { syncAccountWindow, type SyncDeps } from '../../src/sync/sync-account.ts';
import { testQueuePrefix } from './db.ts';
import { REDIS_URL } from './env.ts';
import { obliterate } from './orchestration.ts';
import { TEST_STALL } from './recording-bank.ts';

/**
 * How the model-based test's sync steps reach the service: the sync unit of work with the worker's
 * retry rule (direct), or runs triggered through BullMQ and waited for (queue).
 */
interface SyncJob {
  mode: 'intraday' | 'prior_day' | 'range';
  from?: IsoDate;
  to?: IsoDate;
}

type SyncOutcome = { ok: true } | { ok: false; code: string };

/** The sync-window job's attempts (src/scheduler/jobs.ts). */
const ATTEMPTS = 8;

export interface QueuePath {
  producer: Parameters<typeof triggerSync>[0];
  close(): Promise<void>;
}

/** Workers in this process over a queue prefix of their own, and a producer for `triggerSync`. */
export async function startQueuePath(deps: SyncDeps, dbUrl: string, lookbackDays: number): Promise<QueuePath> {
  const queues = createQueues({ redisUrl: REDIS_URL, prefix: testQueuePrefix() });
  const workers: RunningWorkers = startWorkers(
    { queues, sync: deps, logger: createLogger('scheduler') },
    {
      redisUrl: REDIS_URL,
      database: { url: dbUrl, poolMax: 2 },
      concurrency: 2,
      stall: TEST_STALL,
      busyRetryMs: 100,
    },
  );
  await Promise.all(workers.workers.map((w) => w.waitUntilReady()));
  return {
    producer: { db: deps.db, queues, now: () => deps.now(), logger: createLogger('scheduler'), lookbackDays },
    async close() {
      await workers.close();
      await obliterate(queues);
      await queues.close();
    },
  };
}

/** A sync run through the queue: triggered as an operator would, finished when its row says so. */
export async function syncThroughQueue(
  producer: Parameters<typeof triggerSync>[0],
  accountId: string,
  job: SyncJob,
): Promise<SyncOutcome> {
  const request =
    job.mode === 'range' ? { mode: 'range' as const, from: job.from ?? '', to: job.to ?? '' } : { mode: job.mode };
  let runId: string;
  try {
    const { runs } = await triggerSync(producer, { accountId, request, trigger: 'manual' });
    runId = runs[0]?.runId ?? '';
  } catch (err) {
    return { ok: false, code: `trigger refused: ${err instanceof Error ? err.message : String(err)}` };
  }
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await getRun({ db: producer.db }, runId);
    if (r.finishedAt !== null) {
      return r.status === 'succeeded' ? { ok: true } : { ok: false, code: `run ${r.status}` };
    }
    if (Date.now() > deadline) {
      return { ok: false, code: `run still ${r.status} after 120 s` };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The sync unit of work, retried as the worker retries a window (retryable again, permanent stops), without the backoff. */
export async function syncWithRetries(deps: SyncDeps, accountId: string, job: SyncJob): Promise<SyncOutcome> {
  let last = 'unknown';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      await syncAccountWindow(deps, { runId: null, accountId, kinds: ['transactions', 'balances'], ...job });
      return { ok: true };
    } catch (err) {
      const f = classifyFailure(err);
      last = `${f.code}: ${f.message}`;
      if (f.kind === 'permanent') {
        return { ok: false, code: last };
      }
    }
  }
  return { ok: false, code: `gave up after ${ATTEMPTS} attempts, last ${last}` };
}
