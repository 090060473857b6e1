import type { Executor } from './db.ts';

/**
 * Reads of the stored balance proof per account-day (`account_days`, written by
 * src/validation/balance-proof.ts), for the operator console's calendar and day pages. Read only:
 * looking at a day never recomputes it.
 */
const DAY_COLUMNS = [
  'day',
  'state',
  'difference_minor',
  'reason',
  'currency',
  'decimal_location',
  'opening_ledger_minor',
  'closing_ledger_minor',
  'credits_minor',
  'debits_minor',
  'credit_count',
  'debit_count',
  'evidence',
  'heal_attempts',
  'computed_at',
] as const;

export async function listAccountDays(ex: Executor, accountId: string, from: string, to: string) {
  return ex
    .selectFrom('account_days')
    .select(DAY_COLUMNS)
    .where('account_id', '=', accountId)
    .where('day', '>=', from)
    .where('day', '<=', to)
    .orderBy('day')
    .execute();
}

export type AccountDayRow = Awaited<ReturnType<typeof listAccountDays>>[number];

export async function getAccountDay(ex: Executor, accountId: string, day: string): Promise<AccountDayRow | undefined> {
  return ex
    .selectFrom('account_days')
    .select(DAY_COLUMNS)
    .where('account_id', '=', accountId)
    .where('day', '=', day)
    .executeTakeFirst();
}

/** The newest day with a stored proof (the calendar ends there), or undefined. */
export async function lastAccountDay(ex: Executor, accountId: string): Promise<string | undefined> {
  const row = await ex
    .selectFrom('account_days')
    .select('day')
    .where('account_id', '=', accountId)
    .orderBy('day', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.day;
}
