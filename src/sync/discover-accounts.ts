import { balanceCurrencyProblem } from '../jpm/wire.schemas.ts';
import { uuidv7 } from '../shared/ids.ts';
import { createLogger } from '../shared/logger.ts';
import { getAccountOfIntegration, insertAccountIfAbsent, type AccountRow } from '../storage/accounts.repo.ts';
import type { BeforeCommit, Database } from '../storage/db.ts';
import type { BankClient } from './bank-client.ts';

const log = createLogger('sync');

export interface DiscoveredAccounts {
  accounts: AccountRow[];
  /** Accounts registered by this call (the rest were known already). */
  added: number;
}

/**
 * Asks J.P. Morgan which accounts the integration's certificate is entitled to (an empty balance
 * request returns every cash-reporting account, API-NOTES §3.1) and registers the ones we do not
 * know yet, all in one transaction (after the bank's answer): a crash or a lost connection part-way registers none,
 * and `added` counts the accounts this call inserted, so two discoveries at once add each account once between them.
 * Inserted in account-id order, so two at once never deadlock. The bank does not report an account's time zone: new
 * accounts get `timeZone`, which an operator can change per account. An account whose currency is unusable (`"usd"`,
 * no decimal location) cannot be registered (its currency scales every amount): it is left out with a warning naming the
 * field, and the others are registered; a later discovery registers it once the bank reports it usable.
 */
export async function discoverAccounts(
  db: Database,
  bank: BankClient,
  integration: { id: string; organizationId: string },
  timeZone = 'America/New_York',
  beforeCommit?: BeforeCommit<DiscoveredAccounts>,
): Promise<DiscoveredAccounts> {
  const response = await bank.getBalances({ relativeDateType: 'CURRENT_DAY' });
  const reported = new Map<string, (typeof response.accounts)[number]>();
  for (const a of response.accounts) {
    // An error entry (GCA-024 …) registers as it always did; an account with balances needs a usable currency.
    const problem = a.errorCode ? undefined : balanceCurrencyProblem(a.currency);
    if (problem !== undefined) {
      log.warn(
        { account: `****${a.accountId.slice(-4)}`, problem },
        'J.P. Morgan reported an account with an unusable currency: not registered',
      );
      continue;
    }
    reported.set(a.accountId, a);
  }
  return db.transaction().execute(async (trx) => {
    let added = 0;
    for (const a of [...reported.values()].sort((x, y) => (x.accountId < y.accountId ? -1 : 1))) {
      const inserted = await insertAccountIfAbsent(trx, {
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
      added += inserted ? 1 : 0;
    }
    const accounts: AccountRow[] = [];
    for (const jpmAccountId of reported.keys()) {
      accounts.push(await getAccountOfIntegration(trx, integration.id, jpmAccountId));
    }
    await beforeCommit?.(trx, { accounts, added });
    return { accounts, added };
  });
}
