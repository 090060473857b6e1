import { requestScheduleReconcile, type Queues } from '../scheduler/index.ts';
import { ConflictError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import {
  getAccount,
  setAccountScheduleOverride,
  setAccountStatus,
  upsertAccount,
  type AccountRow,
} from '../storage/accounts.repo.ts';
import { inTransaction, type BeforeCommit, type Database } from '../storage/db.ts';
import { findIntegrationLifecycle } from '../storage/integration-lifecycle.repo.ts';

/**
 * What the accounts service needs. Every state change asks a worker to reconcile the account's job
 * schedulers (`requestScheduleReconcile`), so a paused account stops being synced on schedule.
 */
export interface AccountServiceDeps {
  db: Database;
  queues: Queues;
  /**
   * Asks J.P. Morgan which accounts the integration's certificate sees and registers new ones
   * (main/ wires src/sync/discover-accounts.ts with the integration's bank client).
   */
  discoverAccounts(
    integration: { id: string; organizationId: string },
    timeZone: string,
    beforeCommit?: BeforeCommit<{ accounts: AccountRow[]; added: number }>,
  ): Promise<{ accounts: AccountRow[]; added: number }>;
}

/** The time zone discovered accounts get when the caller names none (J.P. Morgan does not report one). */
export const DEFAULT_TIME_ZONE = 'America/New_York';

interface RegisterAccountInput {
  organizationId: string;
  integrationId: string;
  jpmAccountId: string;
  bankId: string;
  accountName?: string | undefined;
  currency: string;
  /** Default: the currency's minor-unit digits. */
  decimalLocation?: number | undefined;
  timeZone: string;
}

/** The currency's minor-unit digits per ISO 4217 (as Intl knows them), when the caller does not say. */
function currencyDigits(currency: string): number {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

/**
 * A cancelled integration is final: it gets no new account (409 `integration_cancelled`, as for key pairs and
 * certificates). An integration that vanished is left to the caller's own 404.
 */
function refuseCancelled(integration: { stage: string } | undefined, integrationId: string, what: string): void {
  if (integration?.stage === 'cancelled') {
    throw new ConflictError(
      `integration ${integrationId} is cancelled, which is final; cannot ${what} for it. Create a new integration instead`,
      'integration_cancelled',
      { integrationId },
    );
  }
}

/**
 * Registers an account (an account the integration already has is returned unchanged) and asks for
 * its schedules. `stored` hears of the account before that request, so an audit row names the
 * account even when the request fails.
 */
export async function registerAccount(
  deps: Pick<AccountServiceDeps, 'db' | 'queues'>,
  input: RegisterAccountInput,
  stored?: (account: AccountRow) => void,
  beforeCommit?: BeforeCommit<AccountRow>,
): Promise<AccountRow> {
  const account = await inTransaction(deps.db, async (trx) => {
    // Under the integration's row lock, so a cancel cannot commit between the check and the insert.
    refuseCancelled(
      await findIntegrationLifecycle(trx, input.integrationId, { forUpdate: true }),
      input.integrationId,
      'register an account',
    );
    const row = await upsertAccount(trx, {
      id: uuidv7(),
      organizationId: input.organizationId,
      integrationId: input.integrationId,
      jpmAccountId: input.jpmAccountId,
      bankId: input.bankId,
      accountName: input.accountName ?? '',
      currency: input.currency,
      decimalLocation: input.decimalLocation ?? currencyDigits(input.currency),
      timeZone: input.timeZone,
    });
    await beforeCommit?.(trx, row);
    return row;
  });
  stored?.(account);
  await requestScheduleReconcile(deps.queues, { accountId: account.id });
  return account;
}

/** Registers the accounts J.P. Morgan reports for the integration and asks for the integration's schedules. */
export async function discoverIntegrationAccounts(
  deps: AccountServiceDeps,
  integration: { id: string; organizationId: string },
  timeZone: string = DEFAULT_TIME_ZONE,
  beforeCommit?: BeforeCommit<{ accounts: AccountRow[]; added: number }>,
): Promise<{ accounts: AccountRow[]; added: number }> {
  // Before the bank is asked: a cancelled integration's certificate is not used any more.
  refuseCancelled(await findIntegrationLifecycle(deps.db, integration.id), integration.id, 'discover accounts');
  const found = await deps.discoverAccounts(integration, timeZone, beforeCommit);
  await requestScheduleReconcile(deps.queues, { integrationId: integration.id });
  return found;
}

/** Moves an account to `to` (no-op when it is there already); a removed account stays removed. */
async function setStatus(
  deps: Pick<AccountServiceDeps, 'db' | 'queues'>,
  account: AccountRow,
  to: 'active' | 'paused',
  reason: string | null,
  beforeCommit?: BeforeCommit<AccountRow>,
): Promise<AccountRow> {
  const removed = () =>
    new ConflictError(`account ${account.id} was removed; register it again instead`, 'account_removed');
  if (account.status === 'removed') {
    throw removed();
  }
  const changed = await inTransaction(deps.db, async (trx) => {
    // The row read before may be stale: a removal that committed since must win (never reactivated).
    if (account.status !== to && !(await setAccountStatus(trx, account.id, to, reason))) {
      throw removed();
    }
    const row = (await getAccount(trx, account.id)) ?? account;
    await beforeCommit?.(trx, row);
    return row;
  });
  await requestScheduleReconcile(deps.queues, { accountId: account.id });
  return changed;
}

/**
 * No scheduled syncs (its job schedulers are removed) and no manual ones until resumed; a run requested before stops
 * before its next window (sync/sync-run.ts). 409 when removed.
 */
export async function pauseAccount(
  deps: Pick<AccountServiceDeps, 'db' | 'queues'>,
  account: AccountRow,
  reason = 'paused by an operator',
  beforeCommit?: BeforeCommit<AccountRow>,
): Promise<AccountRow> {
  return setStatus(deps, account, 'paused', reason, beforeCommit);
}

/** Back to active (also after a permanent failure); its schedules are restored. 409 when removed. */
export async function resumeAccount(
  deps: Pick<AccountServiceDeps, 'db' | 'queues'>,
  account: AccountRow,
  beforeCommit?: BeforeCommit<AccountRow>,
): Promise<AccountRow> {
  return setStatus(deps, account, 'active', null, beforeCommit);
}

/** The account's own intraday runs per day (null: its integration's), then its schedules are reconciled. */
export async function setAccountSchedule(
  deps: Pick<AccountServiceDeps, 'db' | 'queues'>,
  account: AccountRow,
  intradayRunsPerDay: number | null,
): Promise<AccountRow> {
  const updated = await setAccountScheduleOverride(
    deps.db,
    account.id,
    intradayRunsPerDay === null ? null : { intradayRunsPerDay },
  );
  await requestScheduleReconcile(deps.queues, { accountId: account.id });
  return updated ?? account;
}
