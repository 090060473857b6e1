import { describe, expect, it } from 'vitest';
import { buildAccounts } from '../../src/simulator/accounts.ts';
import { Ledger } from '../../src/simulator/ledger.ts';
import { NO_QUIRKS } from '../../src/simulator/quirks.ts';
import {
  GCA,
  parseBalanceRequest,
  parseTransactionsRequest,
  selectDates,
  SimRequestError,
} from '../../src/simulator/requests.ts';

const ledger = new Ledger({
  seed: 'req',
  accounts: buildAccounts('req', 12),
  firstDate: '2026-10-01',
  txPerDay: 5,
  quirks: NO_QUIRKS,
});
const ids = ledger.accounts.map((a) => a.accountId);

function errorOf(fn: () => unknown): { status: number; code: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof SimRequestError) {
      return { status: err.status, code: err.errorCode };
    }
    throw err;
  }
  throw new Error('expected a SimRequestError');
}

describe('simulator request rules', () => {
  it('applies the balance date rules of API-NOTES §3.1', () => {
    expect(selectDates(undefined, undefined, undefined, 31)).toEqual({ kind: 'relative', relative: 'CURRENT_DAY' });
    expect(selectDates('PRIOR_DAY', undefined, undefined, 31)).toEqual({ kind: 'relative', relative: 'PRIOR_DAY' });
    expect(selectDates(undefined, '2026-10-01', undefined, 31)).toEqual({
      kind: 'range',
      start: '2026-10-01',
      end: '2026-11-01',
    });
    expect(selectDates(undefined, undefined, '2026-11-01', 31)).toEqual({
      kind: 'range',
      start: '2026-10-01',
      end: '2026-11-01',
    });
    for (const [rel, start, end] of [
      ['CURRENT_DAY', '2026-10-01', undefined],
      ['PRIOR_DAY', undefined, '2026-10-01'],
      ['CURRENT_DAY', '2026-10-01', '2026-10-02'],
    ]) {
      expect(errorOf(() => selectDates(rel, start, end, 31))).toEqual({ status: 400, code: GCA.invalidDates });
    }
    expect(errorOf(() => selectDates(undefined, '2026-10-01', '2026-11-02', 31)).status).toBe(400);
    expect(errorOf(() => selectDates(undefined, '2026-10-05', '2026-10-01', 31)).status).toBe(400);
    expect(errorOf(() => selectDates(undefined, '2026-02-30', undefined, 31)).status).toBe(400);
    expect(errorOf(() => selectDates('YESTERDAY', undefined, undefined, 31)).status).toBe(400);
  });

  it('reads accountList (accountId or accountID), and an empty body means every entitled account', () => {
    expect(parseBalanceRequest(ledger, '').accounts).toHaveLength(12);
    expect(parseBalanceRequest(ledger, '{"accountList":[]}').accounts).toHaveLength(12);
    const body = JSON.stringify({
      relativeDateType: 'PRIOR_DAY',
      accountList: [{ accountId: ids[1] }, { accountID: ids[2], bankID: '02100002' }],
    });
    expect(parseBalanceRequest(ledger, body).accounts.map((a) => a.accountId)).toEqual([ids[1], ids[2]]);
    expect(errorOf(() => parseBalanceRequest(ledger, '{"accountList":[{"accountId":"999999999999999"}]}'))).toEqual({
      status: 403,
      code: GCA.notEntitled,
    });
    expect(errorOf(() => parseBalanceRequest(ledger, '{not json'))).toEqual({ status: 400, code: GCA.invalidRequest });
  });

  it('limits transaction queries to 10 accounts and 5 days, with 1-based pages of up to 1000', () => {
    const ok = parseTransactionsRequest(
      ledger,
      new URLSearchParams({
        accountIds: `${ids[0]},${ids[0]},${ids[1]}`,
        startDate: '2026-10-05',
        endDate: '2026-10-10',
        pageNumber: '2',
      }),
    );
    expect(ok.accounts).toHaveLength(2);
    expect(ok.pageNumber).toBe(2);
    expect(ok.pageSize).toBe(1000);
    expect(
      errorOf(() => parseTransactionsRequest(ledger, new URLSearchParams({ accountIds: ids.slice(0, 11).join(',') }))),
    ).toEqual({ status: 400, code: GCA.tooManyAccounts });
    expect(
      errorOf(() =>
        parseTransactionsRequest(
          ledger,
          new URLSearchParams({ accountIds: ids[0]!, startDate: '2026-10-05', endDate: '2026-10-11' }),
        ),
      ).status,
    ).toBe(400);
    expect(
      errorOf(() => parseTransactionsRequest(ledger, new URLSearchParams({ accountIds: ids[0]!, pageNumber: '0' })))
        .status,
    ).toBe(400);
    expect(
      errorOf(() => parseTransactionsRequest(ledger, new URLSearchParams({ accountIds: ids[0]!, pageSize: '1001' })))
        .status,
    ).toBe(400);
    expect(errorOf(() => parseTransactionsRequest(ledger, new URLSearchParams({})))).toEqual({
      status: 400,
      code: GCA.invalidRequest,
    });
  });
});
