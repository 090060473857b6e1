import type { SealingKeys } from '../events/webhook-signing.ts';
import type { Route } from '../http/routes.ts';
import type { OutboundPolicy } from '../shared/outbound-policy.ts';
import type { Database } from '../storage/db.ts';
import type { ReadDatabase } from '../storage/read-replica.ts';
import { balanceRoutes } from './balances.routes.ts';
import { changeRoutes } from './changes.routes.ts';
import { transactionRoutes } from './transactions.routes.ts';
import { webhookRoutes } from './webhooks.routes.ts';

export interface ReadApiDeps {
  /** The primary: the change feed (its commit-safe snapshot logic) and webhooks, which also write, run here. */
  db: Database;
  /**
   * Transactions and balances: a replica when one is configured and caught up with the request, else the primary
   * (src/storage/read-replica.ts).
   */
  reads: ReadDatabase;
  /** config.changeFeed.retentionDays. */
  retentionDays: number;
  /** The change feed's database check (src/events/feed-database-guard.ts); the feed answers 503 while it fails. */
  feedDatabase?: { assertOpen(): Promise<void> };
  /** Secrets' master keys: webhook signing secrets are sealed with them. */
  keys: SealingKeys;
  /** Plain-http webhook URLs (not in production). */
  allowHttpEndpoints: boolean;
  /** The outbound address policy webhook URLs must pass when registered. */
  outbound?: OutboundPolicy;
}

/** Every read API route: transactions, balances, the change feed and webhooks. */
export function readApiRoutes(deps: ReadApiDeps): Route[] {
  return [...transactionRoutes(deps), ...balanceRoutes(deps), ...changeRoutes(deps), ...webhookRoutes(deps)];
}
