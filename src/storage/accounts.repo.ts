import { sql } from 'kysely';
import { STOPPED_SYNC_STATUSES, UNSCHEDULED_STAGES } from '../domain/sync-rules.ts';
import { encodePgText } from '../shared/pg-text.ts';
import type { Executor } from './db.ts';
import { decodeCursor, pageOf, type Page } from './pagination.ts';

export const ACCOUNT_COLUMNS = [
  'id',
  'organization_id',
  'integration_id',
  'jpm_account_id',
  'bank_id',
  'account_name',
  'currency',
  'decimal_location',
  'time_zone',
  'status',
  'status_reason',
  'schedule_override',
  'last_synced_at',
  'created_at',
  'updated_at',
  'bank_business_day',
  'bank_prior_business_day',
  'bank_calendar_at',
] as const;

export async function getAccount(ex: Executor, id: string) {
  return ex.selectFrom('bank_accounts').select(ACCOUNT_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export type AccountRow = NonNullable<Awaited<ReturnType<typeof getAccount>>>;

export async function listAccountsOfIntegration(ex: Executor, integrationId: string) {
  return ex
    .selectFrom('bank_accounts')
    .select(ACCOUNT_COLUMNS)
    .where('integration_id', '=', integrationId)
    .orderBy('jpm_account_id')
    .execute();
}

export interface NewAccount {
  id: string;
  organizationId: string;
  integrationId: string;
  jpmAccountId: string;
  bankId: string;
  accountName: string;
  currency: string;
  decimalLocation: number;
  timeZone: string;
}

/** Registers an account; registering the same J.P. Morgan account twice returns the existing row. */
export async function upsertAccount(ex: Executor, a: NewAccount): Promise<AccountRow> {
  await insertAccountIfAbsent(ex, a);
  return getAccountOfIntegration(ex, a.integrationId, a.jpmAccountId);
}

/**
 * Inserts the account unless its integration has it already; true when this statement inserted it (a concurrent
 * insert of the same account waits for the other transaction and then inserts nothing).
 */
export async function insertAccountIfAbsent(ex: Executor, a: NewAccount): Promise<boolean> {
  const inserted = await ex
    .insertInto('bank_accounts')
    .values({
      id: a.id,
      organization_id: a.organizationId,
      integration_id: a.integrationId,
      jpm_account_id: a.jpmAccountId,
      bank_id: a.bankId,
      // The bank's name as sent; U+0000 and a lone surrogate stored escaped (src/shared/pg-text.ts).
      account_name: encodePgText(a.accountName),
      currency: a.currency,
      decimal_location: a.decimalLocation,
      time_zone: a.timeZone,
    })
    .onConflict((oc) => oc.columns(['integration_id', 'jpm_account_id']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** The integration's account of a J.P. Morgan account id (throws when there is none). */
export async function getAccountOfIntegration(
  ex: Executor,
  integrationId: string,
  jpmAccountId: string,
): Promise<AccountRow> {
  return ex
    .selectFrom('bank_accounts')
    .select(ACCOUNT_COLUMNS)
    .where('integration_id', '=', integrationId)
    .where('jpm_account_id', '=', jpmAccountId)
    .executeTakeFirstOrThrow();
}

/** Sets an account's status unless it was removed (a removed account stays removed); false when it was. */
export async function setAccountStatus(
  ex: Executor,
  id: string,
  status: 'active' | 'paused' | 'failed',
  reason: string | null,
): Promise<boolean> {
  const result = await ex
    .updateTable('bank_accounts')
    .set({ status, status_reason: reason, updated_at: new Date() })
    .where('id', '=', id)
    .where('status', '<>', 'removed')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function touchAccountSynced(ex: Executor, id: string, at: Date): Promise<void> {
  await ex.updateTable('bank_accounts').set({ last_synced_at: at }).where('id', '=', id).execute();
}

/**
 * The account's business days as J.P. Morgan just reported them (the asOfDate of its CURRENT_DAY or
 * PRIOR_DAY balance answer). `bank_calendar_at` is when the current business day was heard (the
 * estimate moves on from it), so a PRIOR_DAY answer alone leaves it as it is.
 *
 * The newer answer wins, by the bank's own days (they only move on): a day before the stored one is an older answer
 * (a worker that froze holding it while another asked the bank after its day rolled over, or two windows whose
 * answers cross) and changes nothing; the same day keeps the later `at`. Our clocks would not do: each worker's
 * clock is its own.
 */
export async function recordBankCalendar(
  ex: Executor,
  id: string,
  days: { businessDay?: string; priorBusinessDay?: string },
  at: Date,
): Promise<void> {
  const day = days.businessDay ?? null;
  await sql`
    update bank_accounts set
      bank_business_day = greatest(bank_business_day, ${day}::date),
      bank_prior_business_day = greatest(bank_prior_business_day, ${days.priorBusinessDay ?? null}::date),
      bank_calendar_at = case
        when ${day}::date is null or ${day}::date < bank_business_day then bank_calendar_at
        when ${day}::date = bank_business_day then greatest(bank_calendar_at, ${at.toISOString()}::timestamptz)
        else ${at.toISOString()}::timestamptz end
    where id = ${id}`.execute(ex);
}

export interface AccountListFilter {
  organizationId?: string | undefined;
  integrationId?: string | undefined;
  status?: string | undefined;
  /** The bank's account number, exact (served by bank_accounts_jpm_account_id_idx). */
  jpmAccountId?: string | undefined;
  cursor?: string | undefined;
  limit: number;
}

/** A keyset page of accounts, oldest first (ids are uuidv7, so id order is registration order). */
export async function listAccountsPage(ex: Executor, f: AccountListFilter): Promise<Page<AccountRow>> {
  let q = ex
    .selectFrom('bank_accounts')
    .select(ACCOUNT_COLUMNS)
    .orderBy('id', 'asc')
    .limit(f.limit + 1);
  if (f.organizationId !== undefined) {
    q = q.where('organization_id', '=', f.organizationId);
  }
  if (f.integrationId !== undefined) {
    q = q.where('integration_id', '=', f.integrationId);
  }
  if (f.status !== undefined) {
    q = q.where('status', '=', f.status);
  }
  if (f.jpmAccountId !== undefined) {
    q = q.where('jpm_account_id', '=', f.jpmAccountId);
  }
  if (f.cursor !== undefined) {
    const [id] = decodeCursor(f.cursor, ['uuid']);
    q = q.where('id', '>', id);
  }
  return pageOf(await q.execute(), f.limit, (r) => [r.id]);
}

/**
 * Sets (or clears, with null) an account's own schedule settings, which win over its integration's
 * (`schedule_override.intradayRunsPerDay`, read by `listAccountScheduleStates`).
 */
export async function setAccountScheduleOverride(
  ex: Executor,
  id: string,
  override: { intradayRunsPerDay: number } | null,
): Promise<AccountRow | undefined> {
  return ex
    .updateTable('bank_accounts')
    .set({ schedule_override: override === null ? null : JSON.stringify(override), updated_at: new Date() })
    .where('id', '=', id)
    .returning(ACCOUNT_COLUMNS)
    .executeTakeFirst();
}

/** Marks an account failed once; true only for the call that changed it (so the alert goes out once). */
export async function markAccountFailedOnce(ex: Executor, accountId: string, reason: string): Promise<boolean> {
  const r = await ex
    .updateTable('bank_accounts')
    .set({ status: 'failed', status_reason: reason, updated_at: new Date() })
    .where('id', '=', accountId)
    .where('status', 'in', ['active', 'paused'])
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export interface SchedulableAccount {
  id: string;
  integration_id: string;
  time_zone: string;
  intraday_runs_per_day: number;
}

/** An account of a reconcile's scope: what its schedules follow from, and whether it gets any. */
export interface AccountScheduleState extends SchedulableAccount {
  /**
   * Active account of an integration neither paused nor cancelled whose syncs are not stopped (domain/sync-rules.ts).
   */
  schedulable: boolean;
  /** The state its schedulers follow, as `schedules_applied` records it once applied: `<runs> <time zone>` or `none`. */
  state: string;
}

/** Whether an account gets schedulers (`a` the account, `i` its integration): the rule of `listAccountScheduleStates`. */
const schedulableSql = sql<boolean>`(a.status = 'active'
  and i.stage <> all(${[...UNSCHEDULED_STAGES]}::text[]) and i.sync_status <> all(${[...STOPPED_SYNC_STATUSES]}::text[]))`;
// An account's own schedule override (PUT /v1/accounts/{id}/schedule) wins over its integration's.
const runsPerDaySql = sql<number>`coalesce((a.schedule_override->>'intradayRunsPerDay')::int, i.intraday_runs_per_day)`;
const scheduleStateSql = sql<string>`case when ${schedulableSql} then ${runsPerDaySql}::text || ' ' || a.time_zone
  else 'none' end`;

/**
 * Every account of the scope (all, an integration's or one) with what its job schedulers follow from, read in one
 * statement, so the schedulers a reconcile applies and the `state` it records as applied are the same state.
 */
export async function listAccountScheduleStates(
  ex: Executor,
  scope: { integrationId?: string; accountId?: string } = {},
): Promise<AccountScheduleState[]> {
  let q = ex
    .selectFrom('bank_accounts as a')
    .innerJoin('integrations as i', 'i.id', 'a.integration_id')
    .select(['a.id', 'a.integration_id', 'a.time_zone'])
    .select(runsPerDaySql.as('intraday_runs_per_day'))
    .select(schedulableSql.as('schedulable'))
    .select(scheduleStateSql.as('state'))
    .orderBy('a.id');
  if (scope.integrationId !== undefined) {
    q = q.where('a.integration_id', '=', scope.integrationId);
  }
  if (scope.accountId !== undefined) {
    q = q.where('a.id', '=', scope.accountId);
  }
  return q.execute();
}

/** Records the states a reconcile made Redis hold (`listAccountScheduleStates`), in its transaction. */
export async function markSchedulesApplied(
  ex: Executor,
  applied: readonly Pick<AccountScheduleState, 'id' | 'state'>[],
): Promise<void> {
  if (applied.length === 0) {
    return;
  }
  await sql`
    update bank_accounts a set schedules_applied = s.state
    from unnest(${applied.map((r) => r.id)}::uuid[], ${applied.map((r) => r.state)}::text[]) as s(id, state)
    where a.id = s.id and a.schedules_applied is distinct from s.state`.execute(ex);
}

/**
 * Integrations with an account whose state differs from what the last reconcile applied for it: a state change whose
 * reconcile request never reached Redis (or an account never reconciled). At most `limit`.
 */
export async function listIntegrationsWithScheduleDrift(ex: Executor, limit: number): Promise<string[]> {
  const r = await sql<{ integration_id: string }>`
    select distinct a.integration_id from bank_accounts a join integrations i on i.id = a.integration_id
    where a.schedules_applied is distinct from ${scheduleStateSql}
    limit ${limit}`.execute(ex);
  return r.rows.map((row) => row.integration_id);
}

/** Every account id of a scope, whatever its state (to find schedulers that must go). */
export async function listAccountIds(
  ex: Executor,
  scope: { integrationId?: string; accountId?: string },
): Promise<string[]> {
  let q = ex.selectFrom('bank_accounts').select(['id']);
  if (scope.integrationId !== undefined) {
    q = q.where('integration_id', '=', scope.integrationId);
  }
  if (scope.accountId !== undefined) {
    q = q.where('id', '=', scope.accountId);
  }
  return (await q.execute()).map((r) => r.id);
}

/** The active accounts among `accountIds`, with their time zone and last sync (null: never), in account-number order. */
export async function listActiveSyncTimes(
  ex: Executor,
  accountIds: readonly string[],
): Promise<{ id: string; time_zone: string; last_synced_at: Date | null }[]> {
  const active = await sql<{ id: string; time_zone: string; last_synced_at: Date | null }>`
    select id, time_zone, last_synced_at from bank_accounts
    where id = any(${accountIds}::uuid[]) and status = 'active'
    order by jpm_account_id`.execute(ex);
  return active.rows;
}

/** What the bank last said of each of `accountIds`' business day (`estimateBusinessDay` reads it), by account id. */
export async function listBankCalendarFacts(
  ex: Executor,
  accountIds: readonly string[],
): Promise<{ id: string; time_zone: string; bank_business_day: string | null; bank_calendar_at: Date | null }[]> {
  if (accountIds.length === 0) {
    return [];
  }
  return ex
    .selectFrom('bank_accounts')
    .select(['id', 'time_zone', 'bank_business_day', 'bank_calendar_at'])
    .where('id', 'in', accountIds)
    .orderBy('id')
    .execute();
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
