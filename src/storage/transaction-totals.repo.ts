import { sql } from 'kysely';
import type { Executor } from './db.ts';

/** Counts of one integration's stored data (decimal strings: `count(*)` is a bigint), for the demo's summary. */
interface IntegrationTotalsRow {
  accounts: string;
  transactions: string;
  pending: string;
  superseded: string;
  removed: string;
  balances: string;
  /** (account, post code, bank transaction id) groups stored more than once. */
  duplicates: string;
}

export async function integrationTotals(ex: Executor, integrationId: string): Promise<IntegrationTotalsRow> {
  const q = await sql<IntegrationTotalsRow>`
    select
      (select count(*) from bank_accounts where integration_id = ${integrationId})::text as accounts,
      (select count(*) from transactions t join bank_accounts a on a.id = t.account_id
        where a.integration_id = ${integrationId} and t.status = 'posted')::text as transactions,
      (select count(*) from transactions t join bank_accounts a on a.id = t.account_id
        where a.integration_id = ${integrationId} and t.status = 'pending')::text as pending,
      (select count(*) from transactions t join bank_accounts a on a.id = t.account_id
        where a.integration_id = ${integrationId} and t.status = 'superseded')::text as superseded,
      (select count(*) from transactions t join bank_accounts a on a.id = t.account_id
        where a.integration_id = ${integrationId} and t.status = 'removed')::text as removed,
      (select count(*) from balances b join bank_accounts a on a.id = b.account_id
        where a.integration_id = ${integrationId})::text as balances,
      (select count(*) from (select t.account_id, t.post_code, t.jpm_transaction_id from transactions t
        join bank_accounts a on a.id = t.account_id
         where a.integration_id = ${integrationId} group by 1, 2, 3 having count(*) > 1) d)::text as duplicates`.execute(
    ex,
  );
  return q.rows[0]!;
}

/** Every posted transaction of the integration, keyed as the bank knows it (to compare with its ledger). */
export async function postedTransactionKeys(
  ex: Executor,
  integrationId: string,
): Promise<{ jpm_account_id: string; jpm_transaction_id: string; amount_minor: string; booking_date: string }[]> {
  const q = await sql<{
    jpm_account_id: string;
    jpm_transaction_id: string;
    amount_minor: string;
    booking_date: string;
  }>`
    select a.jpm_account_id, t.jpm_transaction_id, t.amount_minor::text, t.booking_date from transactions t
      join bank_accounts a on a.id = t.account_id
    where a.integration_id = ${integrationId} and t.status = 'posted'`.execute(ex);
  return q.rows;
}
