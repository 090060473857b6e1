import type { Executor } from './db.ts';

export const ACCOUNT_COLUMNS = [
  'id', 'organization_id', 'integration_id', 'jpm_account_id', 'bank_id', 'account_name', 'currency', 'decimal_location',
  'time_zone', 'status', 'status_reason', 'schedule_override', 'last_synced_at', 'created_at', 'updated_at',
] as const;

export async function getAccount(ex: Executor, id: string) {
  return ex.selectFrom('bank_accounts').select(ACCOUNT_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export type AccountRow = NonNullable<Awaited<ReturnType<typeof getAccount>>>;

export async function listAccountsOfIntegration(ex: Executor, integrationId: string) {
  return ex.selectFrom('bank_accounts').select(ACCOUNT_COLUMNS).where('integration_id', '=', integrationId).orderBy('jpm_account_id').execute();
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
  await ex
    .insertInto('bank_accounts')
    .values({
      id: a.id,
      organization_id: a.organizationId,
      integration_id: a.integrationId,
      jpm_account_id: a.jpmAccountId,
      bank_id: a.bankId,
      account_name: a.accountName,
      currency: a.currency,
      decimal_location: a.decimalLocation,
      time_zone: a.timeZone,
    })
    .onConflict((oc) => oc.columns(['integration_id', 'jpm_account_id']).doNothing())
    .execute();
  return ex
    .selectFrom('bank_accounts')
    .select(ACCOUNT_COLUMNS)
    .where('integration_id', '=', a.integrationId)
    .where('jpm_account_id', '=', a.jpmAccountId)
    .executeTakeFirstOrThrow();
}

export async function setAccountStatus(ex: Executor, id: string, status: 'active' | 'paused' | 'removed' | 'failed', reason: string | null): Promise<void> {
  await ex.updateTable('bank_accounts').set({ status, status_reason: reason, updated_at: new Date() }).where('id', '=', id).execute();
}

export async function touchAccountSynced(ex: Executor, id: string, at: Date): Promise<void> {
  await ex.updateTable('bank_accounts').set({ last_synced_at: at }).where('id', '=', id).execute();
}
