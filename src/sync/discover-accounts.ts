import { uuidv7 } from '../shared/ids.ts';
import { listAccountsOfIntegration, upsertAccount, type AccountRow } from '../storage/accounts.repo.ts';
import type { Database } from '../storage/db.ts';
import type { BankClient } from './bank-client.ts';

export interface DiscoveredAccounts {
  accounts: AccountRow[];
  /** Accounts registered by this call (the rest were known already). */
  added: number;
}

/**
 * Asks J.P. Morgan which accounts the integration's certificate is entitled to (an empty balance
 * request returns every cash-reporting account, API-NOTES §3.1) and registers the ones we do not
 * know yet. The bank does not report an account's time zone: new accounts get `timeZone`, which an
 * operator can change per account.
 */
export async function discoverAccounts(
  db: Database,
  bank: BankClient,
  integration: { id: string; organizationId: string },
  timeZone = 'America/New_York',
): Promise<DiscoveredAccounts> {
  const response = await bank.getBalances({ relativeDateType: 'CURRENT_DAY' });
  const known = new Set((await listAccountsOfIntegration(db, integration.id)).map((a) => a.jpm_account_id));
  const accounts: AccountRow[] = [];
  let added = 0;
  for (const a of response.accounts) {
    const row = await upsertAccount(db, {
      id: uuidv7(),
      organizationId: integration.organizationId,
      integrationId: integration.id,
      jpmAccountId: a.accountId,
      bankId: a.bankId ?? '',
      accountName: (a as { accountName?: string }).accountName ?? '',
      currency: a.currency.code,
      decimalLocation: Number(a.currency.decimalLocation),
      timeZone,
    });
    added += known.has(a.accountId) ? 0 : 1;
    accounts.push(row);
  }
  return { accounts, added };
}
