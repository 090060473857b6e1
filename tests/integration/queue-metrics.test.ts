import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshQueueDepthMetric, triggerSync } from '../../src/scheduler/index.ts';
import { renderMetrics } from '../../src/shared/metrics.ts';
import { obliterate, startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * The queue and record metrics an operator watches: `jpm_queue_depth` read from Redis at scrape time (a backlog in
 * `wait` that only grows means no worker takes jobs) and `jpm_sync_records_total`, counted once per finalized run.
 */
const TODAY = '2025-03-12';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ today: TODAY });
});

afterAll(async () => {
  await h?.stop();
});

/** The value of one sample line of the Prometheus text, or undefined. */
function sample(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('queue and record metrics', () => {
  it('counts the jobs waiting in Redis, then the records of the run that took them', async () => {
    await obliterate(h.queues);
    const before = sample((await renderMetrics()).body, 'jpm_sync_records_total{outcome="inserted"}') ?? 0;
    const a = h.accounts[0]!;
    const { runs } = await triggerSync(h.producer(), {
      accountId: a.id,
      request: { mode: 'range', from: '2025-03-03', to: '2025-03-07' },
      trigger: 'manual',
    });

    await refreshQueueDepthMetric(h.queues);
    const queued = (await renderMetrics()).body;
    // The run's first window waits for a worker (its parent waits for its children, counted in no state listed).
    expect(sample(queued, 'jpm_queue_depth{queue="sync",state="wait"}')).toBeGreaterThanOrEqual(1);
    expect(sample(queued, 'jpm_queue_depth{queue="sync",state="active"}')).toBe(0);
    expect(sample(queued, 'jpm_queue_depth{queue="maintenance",state="failed"}')).toBe(0);

    const worker = h.startWorker(h.bankWith());
    try {
      const run = await h.waitForRun(runs[0]!.runId);
      expect(run.status).toBe('succeeded');
      expect(run.counts.inserted).toBeGreaterThan(0);
      await refreshQueueDepthMetric(h.queues);
      const done = (await renderMetrics()).body;
      expect(sample(done, 'jpm_queue_depth{queue="sync",state="wait"}')).toBe(0);
      expect(sample(done, 'jpm_sync_records_total{outcome="inserted"}')).toBe(before + run.counts.inserted);
    } finally {
      await worker.close();
    }
  });
});
