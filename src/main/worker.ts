import type { AppContext } from './context.ts';
import { watchCertificateExpiry } from '../credentials/index.ts';
import { flagOverdue } from '../onboarding/index.ts';
import { startWorkers, type MaintenanceHook } from '../scheduler/index.ts';
import { createLogger } from '../shared/logger.ts';
import { changeFeedRetentionHook, startSearchIndex, startWebhookDeliveries } from './events-wiring.ts';
import type { Stoppable } from './lifecycle.ts';
import { startMilestoneEmails } from './notifications-wiring.ts';
import { validationMaintenanceHook, withValidationHook } from './validation-wiring.ts';

/**
 * The worker role: runs the job catalog's handlers (sync runs and windows, schedule ticks, daily
 * maintenance, schedule reconciles) with `config.queue.concurrency` jobs at a time per queue.
 * `stop()` is graceful: workers stop taking jobs and wait for their active jobs (a window finishes
 * its pages; nothing is left to stall), then the lock pool and worker connections close. If the
 * shutdown timeout cuts this short, the jobs stall and another worker picks them up again.
 */
export function startWorker(ctx: AppContext): Promise<Stoppable> {
  const { config, secrets } = ctx;
  // First: it refuses to start on a bad SMTP_CA_FILE, before any job is taken.
  const emails = startMilestoneEmails(ctx);
  const sync = withValidationHook({
    db: ctx.db,
    clientFor: (id) => ctx.clientFor(id),
    now: () => new Date(),
    logger: createLogger('sync'),
    lookbackDays: config.sync.lookbackDays,
  });
  const maintenanceHooks: MaintenanceHook[] = [
    { name: 'onboarding-overdue', run: async () => void (await flagOverdue(ctx.db)) },
    { name: 'certificate-expiry', run: async () => void (await watchCertificateExpiry(ctx.db)) },
    validationMaintenanceHook(ctx.db, sync),
    changeFeedRetentionHook(ctx),
  ];
  const running = startWorkers(
    {
      queues: ctx.queues,
      sync,
      logger: createLogger('scheduler'),
    },
    {
      redisUrl: config.redis.url,
      redisClusterNodes: config.redis.clusterNodes,
      database: { url: config.database.url, password: secrets.databasePassword },
      concurrency: config.queue.concurrency,
      maintenanceHooks,
    },
  );
  const webhooks = startWebhookDeliveries(ctx);
  const search = startSearchIndex(ctx);
  return Promise.resolve({
    name: 'worker',
    stop: async () => {
      await webhooks.stop();
      await search.stop();
      await emails?.stop();
      await running.close();
    },
  });
}
