import { readFileSync } from 'node:fs';
import { parseTransactionRecords } from '../../src/jpm/records.ts';
import type { WireBalanceAccount } from '../../src/jpm/wire.schemas.ts';
import { parseJsonLossless } from '../../src/shared/json.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { Database } from '../../src/storage/db.ts';
import type { BankClient, TransactionPage } from '../../src/sync/bank-client.ts';
import { syncAccountWindow, type SyncDeps, type WindowJob } from '../../src/sync/sync-account.ts';

/*
 * A bank whose answers a test writes page by page, for orders of events the simulator does not produce (a
 * snapshot that changes between two pages of one walk without changing its totals; a record readable in one
 * answer and not in the next). Each page is the JSON text J.P. Morgan would send, read the way the client reads it
 * (lossless JSON, each record validated on its own), and goes through the real sync into real Postgres.
 */

/** A J.P. Morgan sample record (passes the full wire schema), the template of every scripted record. */
const SAMPLE = (
  JSON.parse(
    readFileSync(new URL('../fixtures/jpm/jpmorganchase-payments/uf-transactions.json', import.meta.url), 'utf8'),
  ) as { data: Record<string, unknown>[] }
).data[0]!;

interface ScriptedRecord {
  id: string;
  account: string;
  date: string;
  /** The amount as JSON text, exactly as the bank would write it (`12.50`, or `"12,50"` for an unreadable one). */
  amount: string;
  postCode: 'I' | 'P';
  bankReference: string;
}

/** The JSON text of one record: the sample with the given money facts and identity. */
export function recordJson(r: ScriptedRecord): string {
  const currency = { code: 'USD', description: 'US Dollar', decimalLocation: 2, currencySequence: 0 };
  const account = { ...(SAMPLE.account as Record<string, unknown>), accountId: r.account, currency };
  const o: Record<string, unknown> = {
    ...structuredClone(SAMPLE),
    account,
    asOfDate: r.date,
    valueDate: r.date,
    debitCreditCode: 'CREDIT',
    postCode: r.postCode,
    bankReferenceSearchable: { standardValue: r.bankReference, searchValue: r.bankReference },
    customerReferenceSearchable: { standardValue: '', searchValue: null },
    currency,
    transactionId: r.id,
    amount: '@@AMOUNT@@',
    immediateAvailable: 0,
  };
  return JSON.stringify(o).replace('"@@AMOUNT@@"', r.amount);
}

/**
 * The records of one account (`recordJson`) by id, date, post code and bank reference; the amount 1.00 unless given
 * (as JSON text).
 */
export function accountRecords(jpmAccountId: string) {
  return (id: string, date: string, postCode: 'I' | 'P', bankReference: string, amount = '1.00'): string =>
    recordJson({ id, account: jpmAccountId, date, amount, postCode, bankReference });
}

/**
 * One v3 page (its records' JSON texts) as the client yields it, `walk` as the client numbers walks (another walk of
 * the same `slice` is a restart).
 */
export function scriptedPage(
  records: readonly string[],
  p: { walk?: number; slice?: number; pageNumber: number; totalPages: number; totalRecords: number },
): TransactionPage {
  const text =
    `{"pagination":{"pageSize":${Math.max(1, records.length)},"totalPages":${p.totalPages},` +
    `"pageNumber":${p.pageNumber},"totalRecords":${p.totalRecords}},"data":[${records.join(',')}]}`;
  const env = parseJsonLossless(text) as { data: unknown[] };
  const { records: parsed, rejects } = parseTransactionRecords(env.data);
  return {
    walk: p.walk ?? 1,
    slice: p.slice ?? 0,
    pageNumber: p.pageNumber,
    totalPages: p.totalPages,
    totalRecords: p.totalRecords,
    records: parsed,
    rejects,
  };
}

/** A walk of one page holding `records`, its totals theirs (one page, `records.length` records). */
export function onePageWalk(records: readonly string[]): TransactionPage[] {
  return [scriptedPage(records, { pageNumber: 1, totalPages: 1, totalRecords: records.length })];
}

/**
 * A bank answering its n-th transactions request with the n-th scripted walk (its pages in order; no pages once
 * the script ran out), and every balance request with `balances`.
 */
export function scriptedBank(
  walks: readonly (readonly TransactionPage[])[],
  balances: () => WireBalanceAccount[] = () => [],
): BankClient & { transactionRequests(): number } {
  let n = 0;
  return {
    transactionRequests: () => n,
    transactionPages() {
      const pages = walks[n++] ?? [];
      return (async function* () {
        for (const page of pages) {
          yield await Promise.resolve(page);
        }
      })();
    },
    getBalances() {
      return Promise.resolve({ accounts: balances() });
    },
  };
}

/** A CURRENT_DAY balance answer naming `day` as the account's business day. */
export function currentDayBalance(jpmAccountId: string, day: string): WireBalanceAccount[] {
  return [
    {
      accountId: jpmAccountId,
      currency: { code: 'USD', decimalLocation: 2 },
      balanceList: [
        { asOfDate: day, currentDay: true, openingLedgerAmount: '0', endingLedgerAmount: '0', recordTimestamp: null },
      ],
    },
  ];
}

export function scriptedDeps(db: Database, bank: BankClient, today: string): SyncDeps {
  return {
    db,
    clientFor: () => Promise.resolve(bank),
    now: () => new Date(`${today}T17:00:00Z`),
    logger: createLogger('sync'),
    lookbackDays: 5,
  };
}

/**
 * A sync of one account (`syncAccountWindow`, transactions and balances) against a bank answering its n-th
 * transactions request with a walk of one page holding the n-th list of records (the page claims `totalPages`,
 * default 1: with more the client ends the walk at an empty page), and every balance request with a CURRENT_DAY
 * balance naming `bankDay`. The machine's day is `today` (default `bankDay`); the mode is `intraday` unless given; the
 * window belongs to run `runId` when given (its warnings are then noted on it).
 */
export function syncOnePageWalks(
  db: Database,
  account: { id: string; jpmAccountId: string },
  p: { bankDay: string; today?: string; mode?: WindowJob['mode']; totalPages?: number; runId?: string | null },
  walks: readonly (readonly string[])[],
) {
  const pages = walks.map((records) => [
    scriptedPage(records, { pageNumber: 1, totalPages: p.totalPages ?? 1, totalRecords: records.length }),
  ]);
  const bank = scriptedBank(pages, () => currentDayBalance(account.jpmAccountId, p.bankDay));
  return syncAccountWindow(scriptedDeps(db, bank, p.today ?? p.bankDay), {
    runId: p.runId ?? null,
    accountId: account.id,
    mode: p.mode ?? 'intraday',
    kinds: ['transactions', 'balances'],
  });
}

/** The account's rows by J.P. Morgan id: each row's status, and with `withBookingDate` its booking date after it. */
export async function statusesOf(
  db: Database,
  accountId: string,
  withBookingDate = false,
): Promise<Record<string, string>> {
  const rows = await db
    .selectFrom('transactions')
    .select(['jpm_transaction_id', 'status', 'booking_date'])
    .where('account_id', '=', accountId)
    .execute();
  return Object.fromEntries(
    rows.map((r) => [r.jpm_transaction_id, withBookingDate ? `${r.status} ${String(r.booking_date)}` : r.status]),
  );
}
