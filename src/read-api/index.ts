import type { Route } from '../http/routes.ts';
import type { Database } from '../storage/db.ts';
import { balanceRoutes } from './balances.routes.ts';
import { changeRoutes } from './changes.routes.ts';
import { transactionRoutes } from './transactions.routes.ts';

export interface ReadApiDeps {
  db: Database;
  /** config.changeFeed.retentionDays. */
  retentionDays: number;
}

/** Every read API route: transactions, balances and the change feed. */
export function readApiRoutes(deps: ReadApiDeps): Route[] {
  return [...transactionRoutes(deps), ...balanceRoutes(deps), ...changeRoutes(deps)];
}
