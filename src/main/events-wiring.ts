import type { AppContext } from './context.ts';
import { purgeChangeFeed } from '../events/change-feed.ts';
import { startSearchIndexLoop } from '../events/search-index.ts';
import { startWebhookDeliveryLoop, type DeliveryLoop } from '../events/webhook-delivery.ts';
import type { MaintenanceHook } from '../scheduler/index.ts';
import { createLogger } from '../shared/logger.ts';
import type { PollingLoop } from '../shared/polling-loop.ts';

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
  return startWebhookDeliveryLoop({
    db: ctx.db,
    keys: ctx.secrets,
    logger: createLogger('events'),
    outbound: ctx.outbound,
    feedDatabase: ctx.feedDatabase,
  });
}

/**
 * The search step (text search after commit, events/search-index.ts) runs in every worker process: a polling
 * loop whose batches lock the step's position, so one process works at a time and the others skip. While
 * ingestion is busy it yields (SEARCH_INDEX_BUSY_SHARE) until its lag reaches SEARCH_INDEX_MAX_LAG_SECONDS.
 */
export function startSearchIndex(ctx: AppContext): PollingLoop {
  const { batchSize, busyShare, maxLagSeconds } = ctx.config.search;
  return startSearchIndexLoop(ctx.db, {
    batchSize,
    intervalMs: 1_000,
    logger: createLogger('events'),
    yield: { busyShare, maxLagSeconds },
  });
}
