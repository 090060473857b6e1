import type { AppContext } from './context.ts';
import { reconcileSchedules } from '../scheduler/index.ts';
import { createLogger } from '../shared/logger.ts';
import type { Stoppable } from './lifecycle.ts';

/**
 * The scheduler role: makes Redis hold exactly the job schedulers the database asks for (one
 * intraday and one prior-day scheduler per active account, plus daily maintenance), then leaves the
 * firing to BullMQ: schedulers live in Redis, so any number of scheduler processes never double-fire,
 * and the jobs they produce are run by the worker role. State changes later reconcile through
 * `requestScheduleReconcile` / `reconcileSchedules` (admin API) and the daily maintenance job.
 */
export async function startScheduler(ctx: AppContext): Promise<Stoppable> {
  const logger = createLogger('scheduler');
  const result = await reconcileSchedules({ db: ctx.db, queues: ctx.queues, logger });
  logger.info({ ...result }, 'scheduler role started');
  // Nothing runs in this process between reconciles; the context closes the queues.
  return { name: 'scheduler', stop: () => Promise.resolve() };
}
