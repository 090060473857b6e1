import type { AppContext } from '../context.ts';
import { purgeChangeFeed } from '../events/change-feed.ts';
import { startWebhookDeliveryLoop, type DeliveryLoop } from '../events/webhook-delivery.ts';
import type { MaintenanceHook } from '../scheduler/index.ts';
import { createLogger } from '../shared/logger.ts';

/** Daily: drop change-feed events older than CHANGE_FEED_RETENTION_DAYS (older cursors then get 410). */
export function changeFeedRetentionHook(ctx: AppContext): MaintenanceHook {
  return {
    name: 'change-feed-retention',
    run: async () => {
      const r = await purgeChangeFeed(ctx.db, { retentionDays: ctx.config.changeFeed.retentionDays });
      ctx.logger.info({ deleted: r.deleted, retentionDays: ctx.config.changeFeed.retentionDays }, 'change feed purged');
    },
  };
}

/**
 * Webhook delivery runs in every worker process: a polling loop whose claims are SKIP LOCKED, so
 * replicas share the work and never send one delivery twice at the same time (events/webhook-delivery.ts).
 */
export function startWebhookDeliveries(ctx: AppContext): DeliveryLoop {
  return startWebhookDeliveryLoop({ db: ctx.db, keys: ctx.secrets, logger: createLogger('events'), outbound: ctx.outbound });
}
