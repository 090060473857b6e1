/**
 * The scheduler's public API: what the admin API, the CLI and main/ may use. Everything else in
 * src/scheduler is internal.
 */
export { createQueues, enqueue, type Queues } from './queues.ts';
export { QUEUE_NAMES } from './jobs.ts';
export { refreshQueueDepthMetric } from './queue-metrics.ts';
export { triggerSync, getRun, cancelRun, runView, type ProducerDeps, type TriggeredRun, type RunView } from './runs.ts';
export { planRun, MAX_RANGE_DAYS } from './plan.ts';
export { reconcileSchedules, scheduleId, MAX_INTRADAY_RUNS, type ReconcileScope } from './schedules.ts';
export { startWorkers, type WorkerOptions, type RunningWorkers } from './worker.ts';
export type { MaintenanceHook } from './handlers.ts';
export type { GuardSettings } from './integration-guard.ts';

import { enqueue, type Queues } from './queues.ts';
import type { ReconcileScope } from './schedules.ts';

/**
 * Asks a worker to reconcile the job schedulers of an account or integration whose state changed
 * (created, paused, resumed, removed): cheap for the caller, and it works from any process that can
 * reach Redis. Call `reconcileSchedules` directly instead when the caller must know it is done (or, `deferred`,
 * handed to the reconcile holding the lock, which applies it once its own is done).
 */
export async function requestScheduleReconcile(queues: Queues, scope: ReconcileScope): Promise<void> {
  await enqueue(queues, 'reconcile-schedules', scope);
}
