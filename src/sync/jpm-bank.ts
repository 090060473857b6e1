import type { JpmClient } from '../jpm/client.ts';
import type { WireBalanceAccount } from '../jpm/wire.schemas.ts';
import type { BankClient, TransactionQuery } from './bank-client.ts';

function window(q: Exclude<TransactionQuery, { empty: true }>) {
  return 'relativeDateType' in q
    ? { relativeDateType: q.relativeDateType }
    : { startDate: q.startDate, endDate: q.endDate };
}

/**
 * Adapts the J.P. Morgan client to the port `sync` asks for. A walk is identified per slice (the
 * client splits long ranges into ≤ 5-day slices), so a restart of one slice never resets another.
 * Per-account balance errors (GCA-024 …) come back as error entries, as the bank sends them.
 */
export function bankClientOf(client: JpmClient): BankClient {
  return {
    async *transactionPages(q) {
      for await (const e of client.transactionPages({
        ...window(q),
        accountIds: q.accounts.map((a) => a.accountId),
        ...(q.signal ? { signal: q.signal } : {}),
      })) {
        if (e.type === 'page') {
          yield {
            walk: e.slice.index * 1_000 + e.walk,
            slice: e.slice.index,
            pageNumber: e.pageNumber,
            totalPages: e.totalPages,
            totalRecords: e.totalRecords,
            records: e.records,
            rejects: e.rejects.map((r) => ({ index: r.index, reason: r.reason, raw: r.raw })),
          };
        }
      }
    },
    async getBalances(q) {
      const accounts = q.accounts?.map((a) => ({ accountId: a.accountId, ...(a.bankId ? { bankId: a.bankId } : {}) }));
      const r = await client.getBalances({
        ...window(q),
        ...(accounts ? { accounts } : {}),
        ...(q.signal ? { signal: q.signal } : {}),
      });
      const errors: WireBalanceAccount[] = r.accountErrors.map((e) => ({
        accountId: e.entry.accountId,
        currency: { code: e.entry.currency?.code ?? '', decimalLocation: e.entry.currency?.decimalLocation ?? 0 },
        errorCode: e.entry.errorCode,
        errorMsg: e.entry.errorMsg,
      }));
      return { accounts: [...r.accounts, ...errors] };
    },
  };
}
