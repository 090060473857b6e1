import { sql } from 'kysely';
import type { IsoDate } from '../shared/time.ts';
import type { Executor } from '../storage/db.ts';

/**
 * The balance proof of one account-day, using J.P. Morgan's own `final` (prior-day) balance:
 *
 *     opening ledger + posted credits − posted debits  =  closing ledger
 *
 * over the posted transactions we hold with that booking date (pending, superseded and removed rows
 * never count). A day is
 * - `proved`   when the equation holds to the minor unit and the day's posted data was fetched;
 * - `broken`   when it does not: `difference_minor` = closing − (opening + credits − debits), i.e.
 *              the net amount our rows are short of (positive: a credit missing or a debit extra);
 * - `unproved` when the evidence is missing: no final balance (or one without opening/closing
 *              ledger), or no complete fetch of the day's posted transactions (no `bank_day_fetches`
 *              row and no succeeded prior-day/range run covering it), or the bank sent a record of the
 *              day whose money facts were unusable (`rejected_record`: an open `sync_rejects` row, named
 *              in `evidence.rejectedRecords`; it blocks the day until a later sync stores it or no longer
 *              receives it). Rejected intraday records never block: the proof counts posted items only.
 *
 * All arithmetic happens in Postgres on bigint; nothing passes through a JS number.
 */
export const ACCOUNT_DAY_STATES = ['proved', 'broken', 'unproved'] as const;
export type AccountDayState = (typeof ACCOUNT_DAY_STATES)[number];

export type UnprovedReason =
  'rejected_record' | 'no_final_balance' | 'incomplete_final_balance' | 'transactions_not_fetched';

export interface AccountDayChange {
  day: IsoDate;
  state: AccountDayState;
  previousState: AccountDayState | null;
}

/**
 * Recomputes the proof of `dates` for one account in one statement (insert … on conflict do update,
 * rewriting only rows whose outcome changed, so `computed_at` says when the current verdict was
 * reached). A day that becomes `proved` gets its heal-attempt budget back. Returns the changed days.
 * Call it whenever data for those days arrives (after a sync window, after a heal).
 */
export async function recomputeAccountDays(
  ex: Executor,
  accountId: string,
  dates: readonly IsoDate[],
  now: Date = new Date(),
): Promise<AccountDayChange[]> {
  if (dates.length === 0) {
    return [];
  }
  const days = [...new Set(dates)].sort();
  const result = await sql<{ day: string; state: AccountDayState; previous_state: AccountDayState | null }>`
    with d as (
      select unnest(${days}::date[]) as day
    ), acct as (
      select id, organization_id, currency, decimal_location from bank_accounts where id = ${accountId}
    ), bal as (
      select as_of_date, opening_ledger_minor, ending_ledger_minor, currency, decimal_location, record_timestamp
      from balances where account_id = ${accountId} and kind = 'final' and as_of_date = any(${days}::date[])
    ), intraday as (
      select as_of_date from balances where account_id = ${accountId} and kind = 'current_day' and as_of_date = any(${days}::date[])
    ), tx as (
      select booking_date,
        coalesce(sum(amount_minor) filter (where direction = 'credit'), 0)::bigint as credits,
        coalesce(sum(amount_minor) filter (where direction = 'debit'), 0)::bigint as debits,
        (count(*) filter (where direction = 'credit'))::int as credit_count,
        (count(*) filter (where direction = 'debit'))::int as debit_count
      from transactions
      where account_id = ${accountId} and status = 'posted' and booking_date = any(${days}::date[])
      group by booking_date
    ), f as (
      select booking_date, fetched_at, sync_run_id, record_count, credits_minor, debits_minor
      from bank_day_fetches where account_id = ${accountId} and booking_date = any(${days}::date[])
    ), run as (
      select d.day, (array_agg(r.id order by r.finished_at desc nulls last))[1] as run_id, max(r.finished_at) as finished_at
      from d join sync_runs r on r.account_id = ${accountId} and r.status = 'succeeded' and r.mode in ('prior_day', 'range')
        and r.kind in ('all', 'transactions') and d.day between r.window_from and r.window_to
      group by d.day
    ), rej as (
      select booking_date, array_agg(id::text order by id) as ids
      from sync_rejects
      where account_id = ${accountId} and resolved_at is null and record_type = 'transaction'
        and booking_date = any(${days}::date[]) and record_class is distinct from 'I'
      group by booking_date
    ), calc as (
      select d.day, acct.organization_id,
        coalesce(bal.currency, acct.currency) as currency, coalesce(bal.decimal_location, acct.decimal_location) as decimal_location,
        bal.as_of_date is not null as has_balance, bal.opening_ledger_minor as opening, bal.ending_ledger_minor as closing,
        bal.record_timestamp, intraday.as_of_date is not null as has_intraday,
        coalesce(tx.credits, 0)::bigint as credits, coalesce(tx.debits, 0)::bigint as debits,
        coalesce(tx.credit_count, 0) as credit_count, coalesce(tx.debit_count, 0) as debit_count,
        (f.booking_date is not null or run.day is not null) as fetched,
        f.fetched_at, f.sync_run_id as fetch_run_id, f.record_count as bank_record_count,
        f.credits_minor as bank_credits, f.debits_minor as bank_debits, run.run_id, run.finished_at as run_finished_at,
        rej.ids as rejected_ids,
        bal.ending_ledger_minor - (bal.opening_ledger_minor + coalesce(tx.credits, 0) - coalesce(tx.debits, 0)) as diff
      from d cross join acct
      left join bal on bal.as_of_date = d.day
      left join intraday on intraday.as_of_date = d.day
      left join tx on tx.booking_date = d.day
      left join f on f.booking_date = d.day
      left join run on run.day = d.day
      left join rej on rej.booking_date = d.day
    ), judged as (
      select calc.*,
        case
          when rejected_ids is not null then 'rejected_record'
          when not has_balance then 'no_final_balance'
          when opening is null or closing is null then 'incomplete_final_balance'
          when not fetched then 'transactions_not_fetched'
        end as reason
      from calc
    ), verdict as (
      select judged.*,
        case when reason is not null then 'unproved' when diff = 0 then 'proved' else 'broken' end as state
      from judged
    ), prev as (
      select day, state from account_days where account_id = ${accountId} and day = any(${days}::date[])
    ), up as (
      insert into account_days as a (account_id, day, organization_id, state, difference_minor, reason, currency, decimal_location,
        opening_ledger_minor, closing_ledger_minor, credits_minor, debits_minor, credit_count, debit_count, evidence, computed_at)
      select ${accountId}::uuid, day, organization_id, state, case when state = 'broken' then diff end, reason, currency, decimal_location,
        opening, closing, credits, debits, credit_count, debit_count,
        jsonb_strip_nulls(jsonb_build_object(
          'rule', 'opening_ledger + posted_credits - posted_debits = closing_ledger',
          'finalBalance', case when has_balance then jsonb_build_object(
            'openingLedgerMinor', opening::text, 'closingLedgerMinor', closing::text, 'recordTimestamp', record_timestamp) end,
          'intradayBalanceOnly', case when not has_balance and has_intraday then true end,
          'expectedClosingMinor', (opening + credits - debits)::text,
          'stored', jsonb_build_object('creditsMinor', credits::text, 'debitsMinor', debits::text,
            'creditCount', credit_count, 'debitCount', debit_count),
          'bankFetch', case when fetched_at is not null then jsonb_build_object('fetchedAt', fetched_at, 'syncRunId', fetch_run_id,
            'recordCount', bank_record_count, 'creditsMinor', bank_credits::text, 'debitsMinor', bank_debits::text) end,
          'syncRun', case when run_id is not null then jsonb_build_object('id', run_id, 'finishedAt', run_finished_at) end,
          'rejectedRecords', to_jsonb(rejected_ids)
        )),
        ${now.toISOString()}::timestamptz
      from verdict
      on conflict (account_id, day) do update set
        state = excluded.state, difference_minor = excluded.difference_minor, reason = excluded.reason,
        currency = excluded.currency, decimal_location = excluded.decimal_location,
        opening_ledger_minor = excluded.opening_ledger_minor, closing_ledger_minor = excluded.closing_ledger_minor,
        credits_minor = excluded.credits_minor, debits_minor = excluded.debits_minor,
        credit_count = excluded.credit_count, debit_count = excluded.debit_count, evidence = excluded.evidence,
        computed_at = excluded.computed_at,
        heal_attempts = case when excluded.state = 'proved' then 0 else a.heal_attempts end
      where (a.state, a.difference_minor, a.reason, a.opening_ledger_minor, a.closing_ledger_minor, a.credits_minor,
          a.debits_minor, a.credit_count, a.debit_count, a.evidence)
        is distinct from (excluded.state, excluded.difference_minor, excluded.reason, excluded.opening_ledger_minor,
          excluded.closing_ledger_minor, excluded.credits_minor, excluded.debits_minor, excluded.credit_count,
          excluded.debit_count, excluded.evidence)
      returning a.day, a.state
    )
    select up.day::text as day, up.state, prev.state as previous_state from up left join prev on prev.day = up.day
    order by up.day`.execute(ex);
  return result.rows.map((r) => ({ day: r.day, state: r.state, previousState: r.previous_state }));
}
