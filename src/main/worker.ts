import type { AppContext } from './context.ts';
import { checkMasterKeys, watchCertificateExpiry } from '../credentials/index.ts';
import { flagOverdue } from '../onboarding/index.ts';
import { startWorkers, type MaintenanceHook } from '../scheduler/index.ts';
import { createLogger } from '../shared/logger.ts';
import { changeFeedRetentionHook, startSearchIndex, startWebhookDeliveries } from './events-wiring.ts';
import { stopTogether, type Stoppable } from './lifecycle.ts';
import { startMilestoneEmails } from './notifications-wiring.ts';
import { validationMaintenanceHook, withValidationHook } from './validation-wiring.ts';

/**
 * The worker role: runs the job catalog's handlers (sync runs and windows, schedule ticks, daily
 * maintenance, schedule reconciles) with `config.queue.concurrency` jobs at a time per queue, and the
 * webhook, search and email loops.
 *
 * `stop()` is graceful and stops every part at once, so none waits behind another: the queue workers stop
 * taking jobs, give their sync windows in flight back to the queue (bank calls aborted, no attempt spent) and
 * let the other active jobs (short) finish, then close the lock pool and their connections; the webhook loop
 * claims nothing more and cuts its sends in flight short, each delivery given back unsent and due at once (a
 * receiver may take its whole 10 s timeout per send, and a pass sends many); the email loop likewise claims
 * nothing more and cuts its SMTP send in flight short (the message stays pending under its hold); the search
 * loop finishes its batch in progress. A part that fails to stop is logged and the others still stop. If the
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
  // Not awaited: the worker starts whatever it finds; a wrong master key is said once, here, at error level.
  const credentialsLog = createLogger('credentials');
  checkMasterKeys(ctx.db, secrets, credentialsLog).catch((err: unknown) => {
    credentialsLog.warn({ err }, 'master key check at start failed');
  });
  const webhooks = startWebhookDeliveries(ctx);
  const search = startSearchIndex(ctx);
  return Promise.resolve({
    name: 'worker',
    stop: () =>
      stopTogether(createLogger('main'), [
        { name: 'queue-workers', stop: () => running.close() },
        { name: 'webhook-deliveries', stop: () => webhooks.stop() },
        { name: 'search-index', stop: () => search.stop() },
        ...(emails ? [{ name: 'milestone-emails', stop: () => emails.stop() }] : []),
      ]),
  });
}
