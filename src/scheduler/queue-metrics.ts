import { queueDepth } from '../shared/metrics.ts';
import { QUEUE_NAMES } from './jobs.ts';
import type { Queues } from './queues.ts';

const STATES = ['wait', 'active', 'delayed', 'failed'] as const;

/**
 * Sets `jpm_queue_depth{queue,state}` from Redis: run at scrape time (one `getJobCounts` per queue). A backlog
 * that only grows in `wait` means no worker takes jobs; `failed` is what gave up and is kept for a person.
 */
export async function refreshQueueDepthMetric(queues: Queues): Promise<void> {
  const counts = await Promise.all(QUEUE_NAMES.map((name) => queues.queue(name).getJobCounts(...STATES)));
  QUEUE_NAMES.forEach((queue, i) => {
    for (const state of STATES) {
      queueDepth.set({ queue, state }, counts[i]?.[state] ?? 0);
    }
  });
}
