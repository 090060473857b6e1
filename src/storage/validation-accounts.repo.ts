import { sql } from 'kysely';
import type { Executor } from './db.ts';

/**
 * `bank_accounts` as validation reads them. (Readers of bank_accounts: they belong with
 * accounts.repo.ts, kept apart while that file is being changed.)
 */

/** The ids of the integration's accounts, in any status. */
export async function listAccountIdsOfIntegration(ex: Executor, integrationId: string): Promise<string[]> {
  const accounts = await ex
    .selectFrom('bank_accounts')
    .select('id')
    .where('integration_id', '=', integrationId)
    .execute();
  return accounts.map((a) => a.id);
}

/** Active accounts among `accountIds` not synced since `now` − `staleHours` (or never), in account-number order. */
export async function listStaleAccounts(
  ex: Executor,
  accountIds: readonly string[],
  now: Date,
  staleHours: number,
): Promise<{ id: string; last_synced_at: Date | null }[]> {
  const stale = await sql<{ id: string; last_synced_at: Date | null }>`
    select id, last_synced_at from bank_accounts
    where id = any(${accountIds}::uuid[]) and status = 'active'
      and (last_synced_at is null
        or last_synced_at < ${now.toISOString()}::timestamptz - make_interval(hours => ${staleHours}))
    order by jpm_account_id`.execute(ex);
  return stale.rows;
}

export interface SweepAccountRow {
  id: string;
  time_zone: string;
  bank_business_day: string | null;
  bank_calendar_at: Date | null;
}

/** Active, once-synced accounts of integrations that are syncing (not paused or cancelled), by id. */
export async function listSweepAccounts(ex: Executor): Promise<SweepAccountRow[]> {
  const accounts = await sql<SweepAccountRow>`
    select a.id, a.time_zone, a.bank_business_day::text as bank_business_day, a.bank_calendar_at from bank_accounts a
      join integrations i on i.id = a.integration_id
    where a.status = 'active' and i.stage not in ('paused', 'cancelled') and a.last_synced_at is not null
    order by a.id`.execute(ex);
  return accounts.rows;
}
