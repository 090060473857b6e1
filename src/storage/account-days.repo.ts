import { sql } from 'kysely';
import type { IsoDate } from '../shared/time.ts';
import type { Executor } from './db.ts';

/**
 * The stored balance proof per account-day (`account_days`) and the log of heal attempts on those days
 * (`account_day_heals`). Written by src/validation (the proof, the heal claims); read by the validation
 * report, the sweep and the operator console's calendar and day pages (looking at a day never
 * recomputes it).
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

/** A day whose proof changed: its new state and the one before (null for a day not judged before). */
export interface DayProofChange {
  day: string;
  state: string;
  previous_state: string | null;
}

/**
 * Writes the balance proof of `days` (sorted, distinct) for one account in one statement, from the
 * stored balances, posted transactions, bank day fetches, succeeded runs and open rejects (the rule:
 * src/validation/balance-proof.ts). Rewrites only rows whose outcome changed; a day that becomes
 * `proved` gets its heal-attempt budget back. Returns the changed days in day order.
 */
export async function upsertDayProofs(
  ex: Executor,
  accountId: string,
  days: readonly IsoDate[],
  now: Date,
): Promise<DayProofChange[]> {
  const result = await sql<DayProofChange>`
    with d as (
      select unnest(${days}::date[]) as day
    ), acct as (
      select id, organization_id, currency, decimal_location from bank_accounts where id = ${accountId}
    ), bal as (
      select as_of_date, opening_ledger_minor, ending_ledger_minor, currency, decimal_location, record_timestamp
      from balances where account_id = ${accountId} and kind = 'final' and as_of_date = any(${days}::date[])
    ), intraday as (
      select as_of_date from balances where account_id = ${accountId} and kind = 'current_day'
        and as_of_date = any(${days}::date[])
    ), tx as (
      select booking_date,
        coalesce(sum(amount_minor) filter (where direction = 'credit'), 0) as credits,
        coalesce(sum(amount_minor) filter (where direction = 'debit'), 0) as debits,
        (count(*) filter (where direction = 'credit'))::int as credit_count,
        (count(*) filter (where direction = 'debit'))::int as debit_count
      from transactions
      where account_id = ${accountId} and status = 'posted' and booking_date = any(${days}::date[])
      group by booking_date
    ), f as (
      select booking_date, fetched_at, sync_run_id, record_count, credit_count, debit_count, credits_minor,
        debits_minor
      from bank_day_fetches where account_id = ${accountId} and booking_date = any(${days}::date[])
    ), run as (
      -- Per day, the account's succeeded runs that fetched it, from sync_runs_day_fetch_idx: those ending on or after
      -- the day (a day's lookback, not every run of the account's history).
      select d.day, x.run_id, x.finished_at
      from d cross join lateral (
        select (array_agg(r.id order by r.finished_at desc nulls last))[1] as run_id, max(r.finished_at) as finished_at
        from sync_runs r
        where r.account_id = ${accountId} and r.status = 'succeeded' and r.mode in ('prior_day', 'range')
          and r.kind in ('all', 'transactions') and r.window_to >= d.day and r.window_from <= d.day
      ) as x
      where x.run_id is not null
    ), rej as (
      select booking_date, array_agg(id::text order by id) as ids
      from sync_rejects
      where account_id = ${accountId} and resolved_at is null and record_type = 'transaction'
        and booking_date = any(${days}::date[]) and record_class is distinct from 'I'
      group by booking_date
    ), calc as (
      select d.day, acct.organization_id,
        coalesce(bal.currency, acct.currency) as currency,
        coalesce(bal.decimal_location, acct.decimal_location) as decimal_location,
        bal.as_of_date is not null as has_balance, bal.opening_ledger_minor as opening,
        bal.ending_ledger_minor as closing, bal.record_timestamp, intraday.as_of_date is not null as has_intraday,
        coalesce(tx.credits, 0)::numeric as credits, coalesce(tx.debits, 0)::numeric as debits,
        coalesce(tx.credit_count, 0) as credit_count, coalesce(tx.debit_count, 0) as debit_count,
        (f.booking_date is not null or run.day is not null) as fetched, f.fetched_at, f.sync_run_id as fetch_run_id,
        f.record_count as bank_record_count, f.credit_count as bank_credit_count, f.debit_count as bank_debit_count,
        f.credits_minor as bank_credits, f.debits_minor as bank_debits, run.run_id,
        run.finished_at as run_finished_at, rej.ids as rejected_ids,
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
          -- The balances add up, yet what we hold is not what the bank's latest posted fetch of the day reported:
          -- rows missing or extra that net to zero (a payment and its reversal) are invisible to the equation.
          when diff = 0 and fetched_at is not null and (credits, debits, credit_count, debit_count)
            is distinct from (bank_credits, bank_debits, bank_credit_count, bank_debit_count)
            then 'differs_from_bank'
        end as reason
      from calc
    ), verdict as (
      select judged.*,
        case when reason is not null then 'unproved' when diff = 0 then 'proved' else 'broken' end as state
      from judged
    ), prev as (
      select day, state from account_days where account_id = ${accountId} and day = any(${days}::date[])
    ), up as (
      insert into account_days as a (account_id, day, organization_id, state, difference_minor, reason, currency,
        decimal_location, opening_ledger_minor, closing_ledger_minor, credits_minor, debits_minor, credit_count,
        debit_count, evidence, computed_at)
      select ${accountId}::uuid, day, organization_id, state,
        case when state = 'broken' then diff end, reason, currency, decimal_location,
        opening, closing, credits, debits, credit_count, debit_count,
        jsonb_strip_nulls(jsonb_build_object(
          'rule', 'opening_ledger + posted_credits - posted_debits = closing_ledger',
          'finalBalance', case when has_balance then jsonb_build_object(
            'openingLedgerMinor', opening::text, 'closingLedgerMinor', closing::text, 'recordTimestamp',
            record_timestamp) end,
          'intradayBalanceOnly', case when not has_balance and has_intraday then true end,
          'expectedClosingMinor', (opening + credits - debits)::text,
          'stored', jsonb_build_object('creditsMinor', credits::text, 'debitsMinor', debits::text,
            'creditCount', credit_count, 'debitCount', debit_count),
          'bankFetch', case when fetched_at is not null
            then jsonb_build_object('fetchedAt', fetched_at, 'syncRunId', fetch_run_id,
            'recordCount', bank_record_count, 'creditCount', bank_credit_count, 'debitCount', bank_debit_count,
            'creditsMinor', bank_credits::text, 'debitsMinor', bank_debits::text) end,
          'syncRun', case when run_id is not null
            then jsonb_build_object('id', run_id, 'finishedAt', run_finished_at) end,
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
  return result.rows;
}

/**
 * Drops the proofs of the account's days in [from, to] other than `owed`: a day judged while it was owed (a weekday
 * before the bank said it was a holiday, a weekend whose only record moved to another date) is owed nothing now, and
 * its old verdict must not stay open (a coverage gap, a day to heal, a metric). Returns how many were dropped.
 */
export async function deleteDayProofsNotOwed(
  ex: Executor,
  accountId: string,
  from: IsoDate,
  to: IsoDate,
  owed: readonly IsoDate[],
): Promise<number> {
  const dropped = await sql`
    delete from account_days where account_id = ${accountId} and day between ${from}::date and ${to}::date
      and not (day = any(${owed}::date[]))`.execute(ex);
  return Number(dropped.numAffectedRows ?? 0n);
}

/** Days of the accounts in [from, to] whose proof found no complete fetch (neither a bank fetch nor a run). */
export async function listDaysNotFetched(
  ex: Executor,
  accountIds: readonly string[],
  from: IsoDate,
  to: IsoDate,
): Promise<{ account_id: string; day: string }[]> {
  const notFetched = await sql<{ account_id: string; day: string }>`
    select account_id, day::text as day from account_days
    where account_id = any(${accountIds}::uuid[]) and day between ${from} and ${to}
      and evidence -> 'bankFetch' is null and evidence -> 'syncRun' is null
    order by account_id, day`.execute(ex);
  return notFetched.rows;
}

/** Stored proofs per state (`n` a decimal string). */
export async function countAccountDaysByState(ex: Executor): Promise<{ state: string; n: string }[]> {
  const rows = await sql<{
    state: string;
    n: string;
  }>`select state, count(*)::text as n from account_days group by state`.execute(ex);
  return rows.rows;
}

/**
 * The account's days up to `upTo` that are not proved, oldest first, each with whether it is on or after
 * `reachStart`, has used `maxAttempts` heal attempts, and is due (no attempt after `retryBefore`).
 */
export async function listOpenDays(
  ex: Executor,
  accountId: string,
  p: { reachStart: IsoDate; upTo: IsoDate; maxAttempts: number; retryBefore: string },
): Promise<{ day: string; in_reach: boolean; exhausted: boolean; due: boolean }[]> {
  const open = await sql<{ day: string; in_reach: boolean; exhausted: boolean; due: boolean }>`
    select day::text as day, day >= ${p.reachStart}::date as in_reach, heal_attempts >= ${p.maxAttempts} as exhausted,
      (last_heal_at is null or last_heal_at <= ${p.retryBefore}::timestamptz) as due
    from account_days where account_id = ${accountId} and state <> 'proved' and day <= ${p.upTo}
    order by day`.execute(ex);
  return open.rows;
}

/**
 * Claims days for a heal attempt: counts the attempt and stamps `last_heal_at`, for the days still not
 * proved, under budget and due (so a concurrent healer claims nothing). Returns the claimed days.
 */
export async function claimDaysForHeal(
  ex: Executor,
  accountId: string,
  p: { days: readonly IsoDate[]; maxAttempts: number; retryBefore: string; now: Date },
): Promise<{ day: string; heal_attempts: number; state: string }[]> {
  const claimed = await sql<{ day: string; heal_attempts: number; state: string }>`
    update account_days set heal_attempts = heal_attempts + 1, last_heal_at = ${p.now.toISOString()}::timestamptz
    where account_id = ${accountId} and day = any(${p.days}::date[]) and state <> 'proved'
      and heal_attempts < ${p.maxAttempts} and (last_heal_at is null or last_heal_at <= ${p.retryBefore}::timestamptz)
    returning day::text as day, heal_attempts, state`.execute(ex);
  return claimed.rows;
}

/** The stored state of each of `days` that has a proof. */
export async function accountDayStates(
  ex: Executor,
  accountId: string,
  days: readonly IsoDate[],
): Promise<{ day: string; state: string }[]> {
  return ex
    .selectFrom('account_days')
    .select(['day', 'state'])
    .where('account_id', '=', accountId)
    .where('day', 'in', days)
    .execute();
}

/** The proofs of `days` as a validation report shows them, in day order. */
export async function listReportDays(ex: Executor, accountId: string, days: readonly IsoDate[]) {
  return ex
    .selectFrom('account_days')
    .select([
      'day',
      'state',
      'difference_minor',
      'reason',
      'credits_minor',
      'debits_minor',
      'credit_count',
      'debit_count',
      'evidence',
      'heal_attempts',
    ])
    .where('account_id', '=', accountId)
    .where('day', 'in', days)
    .orderBy('day')
    .execute();
}

export interface NewHeal {
  id: string;
  organizationId: string;
  accountId: string;
  windowFrom: IsoDate;
  windowTo: IsoDate;
  /** JSON text: the claimed days with their attempt numbers. */
  days: string;
  /** JSON text: day -> state before the attempt. */
  statesBefore: string;
  startedAt: Date;
}

/** Records a heal attempt as it starts (`account_day_heals`). */
export async function insertHeal(ex: Executor, h: NewHeal): Promise<void> {
  await ex
    .insertInto('account_day_heals')
    .values({
      id: h.id,
      organization_id: h.organizationId,
      account_id: h.accountId,
      window_from: h.windowFrom,
      window_to: h.windowTo,
      days: h.days,
      states_before: h.statesBefore,
      started_at: h.startedAt,
    })
    .execute();
}

/** Records how a heal attempt ended. `diff` and `statesAfter` are JSON text. */
export async function finishHeal(
  ex: Executor,
  id: string,
  h: { outcome: string; errorMessage: string | null; diff: string; statesAfter: string; finishedAt: Date },
): Promise<void> {
  await ex
    .updateTable('account_day_heals')
    .set({
      outcome: h.outcome,
      error_message: h.errorMessage,
      diff: h.diff,
      states_after: h.statesAfter,
      finished_at: h.finishedAt,
    })
    .where('id', '=', id)
    .execute();
}
