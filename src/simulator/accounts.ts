import { CURRENCIES, DEFAULT_CURRENCY_CYCLE, SAMPLE_ACCOUNT_IDS, type CurrencyInfo } from './catalog.ts';
import { Prng } from './prng.ts';

/** An account the simulated credentials are entitled to. */
export interface AccountSpec {
  /** 15-digit zero-padded account number; default: J.P. Morgan's sample UAT numbers, then generated ones. */
  accountId?: string;
  /** ISO currency code from `CURRENCIES` (USD, EUR, GBP, JPY, KWD, BHD). */
  currency?: string;
  accountName?: string;
}

export interface SimAccount {
  accountId: string;
  accountName: string;
  currency: CurrencyInfo;
  /** Typical ledger balance in minor units; each day's opening balance varies around it. */
  baseMinor: bigint;
}

const NAMES = [
  'OPERATING ACCOUNT',
  'PAYROLL ACCOUNT',
  'TOKYO SUBSIDIARY',
  'COLLECTIONS',
  'KUWAIT BRANCH',
  'EUROPE TREASURY',
  'TEST ACCOUNT NAME',
  'LONDON OPERATIONS',
];

export const DEFAULT_ACCOUNT_COUNT = 8;

export function buildAccounts(seed: string, accounts: number | AccountSpec[] | undefined): SimAccount[] {
  const specs: AccountSpec[] = Array.isArray(accounts)
    ? accounts
    : Array.from({ length: accounts ?? DEFAULT_ACCOUNT_COUNT }, () => ({}));
  const used = new Set(specs.map((s) => s.accountId).filter((id): id is string => id !== undefined));
  const samples = SAMPLE_ACCOUNT_IDS.filter((id) => !used.has(id));
  const rng = new Prng(seed, 'accounts');
  return specs.map((spec, i) => {
    let accountId = spec.accountId ?? samples.shift();
    while (accountId === undefined || (spec.accountId === undefined && used.has(accountId))) {
      accountId = `0000000${rng.digits(8)}`;
    }
    used.add(accountId);
    if (!/^\d{1,35}$/.test(accountId)) {
      throw new Error(`simulator account id ${accountId} must be digits`);
    }
    const code = spec.currency ?? DEFAULT_CURRENCY_CYCLE[i % DEFAULT_CURRENCY_CYCLE.length] ?? 'USD';
    const currency = CURRENCIES[code];
    if (!currency) {
      throw new Error(`simulator currency ${code} is not one of ${Object.keys(CURRENCIES).join(', ')}`);
    }
    const boost = code === 'JPY' ? 2 : 0;
    const accountRng = new Prng(seed, 'account', accountId);
    return {
      accountId,
      accountName: spec.accountName ?? NAMES[i % NAMES.length] ?? '',
      currency,
      baseMinor: accountRng.bigint(6 + currency.decimalLocation + boost, 9 + currency.decimalLocation + boost),
    };
  });
}
