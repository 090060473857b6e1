import { describe, expect, it } from 'vitest';
import { parseJsonLossless } from '../../src/shared/json.ts';
import { toMinorUnits } from '../../src/shared/money.ts';
import { eachDay, type IsoDate } from '../../src/shared/time.ts';
import { buildAccounts } from '../../src/simulator/accounts.ts';
import { isBusinessDay, nextBusinessDay, addBusinessDays } from '../../src/simulator/calendar.ts';
import type { DayItem } from '../../src/simulator/day.ts';
import { Ledger, signed } from '../../src/simulator/ledger.ts';
import { DEFAULT_QUIRKS, NO_QUIRKS, type Quirks } from '../../src/simulator/quirks.ts';
import { renderBalanceAccount, renderTransaction } from '../../src/simulator/render.ts';
import { balanceFor, intradayReported, postedReported, type Reported } from '../../src/simulator/views.ts';

const FIRST: IsoDate = '2026-09-01';
const LAST: IsoDate = '2026-11-20';
const DAYS = eachDay(FIRST, LAST).filter(isBusinessDay);

function makeLedger(quirks: Quirks, seed = 'unit-seed', txPerDay = 25): Ledger {
  return new Ledger({ seed, accounts: buildAccounts(seed, 8), firstDate: FIRST, txPerDay, quirks });
}

/** Item content without bigint (for toEqual) and without seq (positions move when items are added). */
function content(item: DayItem) {
  const { seq: _seq, intradayMinor, postedMinor, ...rest } = item;
  return { ...rest, intradayMinor: intradayMinor?.toString() ?? null, postedMinor: postedMinor?.toString() ?? null };
}

function allItems(ledger: Ledger): { date: IsoDate; item: DayItem }[] {
  return ledger.accounts.flatMap((a) =>
    DAYS.flatMap((date) => (ledger.day(a, date)?.items ?? []).map((item) => ({ date, item }))),
  );
}

describe('simulator ledger', () => {
  it('is a pure function of the seed', () => {
    const a = makeLedger(DEFAULT_QUIRKS);
    const b = makeLedger(DEFAULT_QUIRKS);
    const c = makeLedger(DEFAULT_QUIRKS, 'another-seed');
    const acct = a.accounts[0]!;
    for (const date of DAYS.slice(0, 10)) {
      expect(a.day(acct, date)!.items.map(content)).toEqual(b.day(b.accounts[0]!, date)!.items.map(content));
    }
    expect(a.day(acct, DAYS[3]!)!.items.map(content)).not.toEqual(c.day(c.accounts[0]!, DAYS[3]!)!.items.map(content));
    expect(a.accounts.map((x) => x.accountId)).toEqual(b.accounts.map((x) => x.accountId));
  });

  it('has no postings and no balances on weekends or before the first day', () => {
    const ledger = makeLedger(DEFAULT_QUIRKS);
    const acct = ledger.accounts[0]!;
    expect(ledger.day(acct, '2026-11-21')).toBeUndefined(); // Saturday
    expect(ledger.day(acct, '2026-08-31')).toBeUndefined();
    expect(ledger.finalBalances(acct, '2026-11-22')).toBeUndefined();
  });

  it('balances agree with the posted transactions to the minor unit, for every currency and day', () => {
    const ledger = makeLedger(DEFAULT_QUIRKS);
    expect(new Set(ledger.accounts.map((a) => a.currency.decimalLocation))).toEqual(new Set([0, 2, 3]));
    for (const account of ledger.accounts) {
      for (const date of DAYS) {
        const day = ledger.day(account, date)!;
        const final = ledger.finalBalances(account, date)!;
        const net = day.items.reduce(
          (sum, i) => (i.postedMinor === null ? sum : sum + signed(i.direction, i.postedMinor)),
          0n,
        );
        expect(final.endingLedger).toBe(final.openingLedger + net);
        // Days chain: tonight's ending ledger is the next business day's opening.
        expect(final.endingLedger).toBe(ledger.openingLedger(account, nextBusinessDay(date)));
        expect(final.endingAvailable <= final.endingLedger).toBe(true);
        expect(final.openingAvailable <= final.openingLedger).toBe(true);
      }
      const today = DAYS.at(-1)!;
      for (const progress of [0, 0.3, 1]) {
        const shown = intradayReported(ledger, account, { today, progress });
        const view = balanceFor(ledger, account, today, { today, progress })!;
        const net = shown.reduce((sum, r) => sum + signed(r.item.direction, r.amount), 0n);
        expect(view.currentDay).toBe(true);
        expect(view.amounts.endingLedger).toBe(view.amounts.openingLedger + net);
      }
    }
  });

  it('renders amounts as exact JSON numbers with the currency scale and consistent availability', () => {
    const ledger = makeLedger(DEFAULT_QUIRKS);
    for (const account of ledger.accounts) {
      const dl = account.currency.decimalLocation;
      for (const date of DAYS.slice(-5, -1)) {
        for (const r of postedReported(ledger, account, date, DAYS.at(-1)!)) {
          const rec = parseJsonLossless(JSON.stringify(renderTransaction(r))) as Record<string, string>;
          expect(toMinorUnits(rec.amount!, dl)).toBe(r.amount);
          const parts = ['immediateAvailable', 'day1Available', 'day2Available'].map((k) => toMinorUnits(rec[k]!, dl));
          expect(parts.reduce((s, p) => s + p, 0n)).toBe(r.amount);
          expect(rec.amount!.split('.')[1]?.length ?? 0).toBeLessThanOrEqual(dl);
        }
        const view = balanceFor(ledger, account, date, { today: DAYS.at(-1)!, progress: 0.5 })!;
        const body = parseJsonLossless(JSON.stringify(renderBalanceAccount(account, [view], 0.5))) as {
          balanceList: Record<string, string>[];
        };
        const bal = body.balanceList[0]!;
        expect(toMinorUnits(bal.endingLedgerAmount!, dl)).toBe(view.amounts.endingLedger);
        expect(bal.endingLedgerAmount!.split('.')[1]?.length ?? 0).toBe(dl);
      }
    }
  });

  it('uses J.P. Morgan BAI codes, summary codes and 12-character narrative tags', () => {
    const summary: Record<string, string> = {
      '195': '190',
      '216': '190',
      '354': '390',
      '399': '390',
      '249': '230',
      '495': '490',
      '516': '490',
      '549': '530',
      '698': '690',
      '699': '690',
    };
    const items = allItems(makeLedger(DEFAULT_QUIRKS));
    for (const { item } of items.slice(0, 3000)) {
      expect(summary[item.kind.typeCode]).toBe(item.kind.summaryTypeCode);
      const code = Number(item.kind.typeCode);
      expect(item.direction === 'CREDIT' ? code >= 100 && code < 400 : code >= 400 && code < 700).toBe(true);
      for (const key of Object.keys(item.narrative)) {
        expect(key).toHaveLength(12);
      }
    }
    expect(items.some(({ date, item }) => item.valueDate.slice(0, 7) !== date.slice(0, 7))).toBe(true);
  });

  it('with NO_QUIRKS is a tidy bank: full snapshot, stable ids, every item posts unchanged', () => {
    const ledger = makeLedger(NO_QUIRKS);
    expect(allItems(ledger).every(({ item }) => item.marks.every((m) => m === 'sweep'))).toBe(true);
    const account = ledger.accounts[1]!;
    const date = DAYS.at(-2)!;
    const intraday = intradayReported(ledger, account, { today: date, progress: 0.1 });
    const posted = postedReported(ledger, account, date, nextBusinessDay(date));
    expect(intraday).toHaveLength(ledger.day(account, date)!.items.length);
    expect(posted.map((r) => [r.transactionId, r.amount])).toEqual(intraday.map((r) => [r.transactionId, r.amount]));
  });

  const QUIRK_MARKS: [keyof Quirks, string][] = [
    ['amountChangesOnPosting', 'amount-changed'],
    ['unpostedIntraday', 'never-posted'],
    ['latePostings', 'late'],
    ['identicalTransactions', 'identical'],
    ['reversals', 'reversal'],
    ['extremeAmounts', 'extreme-large'],
    ['extremeAmounts', 'extreme-small'],
  ];
  it.each(QUIRK_MARKS)('switches %s on alone (%s items appear, nothing else unusual)', (quirk, mark) => {
    const items = allItems(makeLedger({ ...NO_QUIRKS, [quirk]: true }));
    expect(items.some(({ item }) => item.marks.includes(mark))).toBe(true);
    const own = new Set(
      QUIRK_MARKS.filter(([q]) => q === quirk)
        .map(([, m]) => m)
        .concat('sweep'),
    );
    expect(items.every(({ item }) => item.marks.every((m) => own.has(m)))).toBe(true);
  });

  it('leaves other items unchanged when one quirk is switched off', () => {
    const on = makeLedger(DEFAULT_QUIRKS);
    const off = makeLedger({ ...DEFAULT_QUIRKS, latePostings: false });
    const pick = (l: Ledger) =>
      allItems(l)
        .filter(({ item }) => !item.marks.includes('late') && !item.marks.includes('sweep'))
        .map(({ item }) => content(item));
    expect(pick(off)).toEqual(pick(on));
  });
});

describe('simulator bank views', () => {
  const ledger = makeLedger(DEFAULT_QUIRKS);
  const account = ledger.accounts[0]!;

  it('grows the current day as a prefix with stable TXN-C ids', () => {
    const today = DAYS.at(-1)!;
    const total = ledger.day(account, today)!.items.filter((i) => i.intradayMinor !== null).length;
    let previous: Reported[] = [];
    for (const progress of [0.2, 0.6, 1]) {
      const shown = intradayReported(ledger, account, { today, progress });
      expect(shown).toHaveLength(Math.ceil(progress * total));
      expect(shown.slice(0, previous.length).map((r) => r.transactionId)).toEqual(previous.map((r) => r.transactionId));
      expect(shown.every((r) => r.postCode === 'I' && r.transactionId.startsWith('TXN-C-'))).toBe(true);
      previous = shown;
    }
  });

  it('reports the day again as posted records with new ids, final amounts and without unposted items', () => {
    const date = DAYS.find(
      (d) =>
        ledger.day(account, d)!.items.some((i) => i.marks.includes('amount-changed')) &&
        ledger.day(account, d)!.items.some((i) => i.marks.includes('never-posted')),
    )!;
    expect(date).toBeDefined();
    const intraday = intradayReported(ledger, account, { today: date, progress: 1 });
    const posted = postedReported(ledger, account, date, nextBusinessDay(date));
    expect(posted.every((r) => r.postCode === 'P' && r.transactionId.startsWith('TXN-P-'))).toBe(true);
    const ids = new Set(intraday.map((r) => r.transactionId));
    expect(posted.some((r) => ids.has(r.transactionId))).toBe(false);
    const changed = posted.find((r) => r.item.marks.includes('amount-changed'))!;
    expect(changed.amount).not.toBe(intraday.find((r) => r.item === changed.item)!.amount);
    expect(posted.some((r) => r.item.marks.includes('never-posted'))).toBe(false);
  });

  it('hides a late posting until its reveal date while balances include it, then re-issues the day ids', () => {
    const date = DAYS.slice(0, -5).find((d) => ledger.day(account, d)!.lateRevealDate !== null)!;
    const reveal = ledger.day(account, date)!.lateRevealDate!;
    expect(reveal).toBe(addBusinessDays(date, 3));
    const before = postedReported(ledger, account, date, addBusinessDays(date, 1));
    const after = postedReported(ledger, account, date, reveal);
    expect(before.some((r) => r.item.marks.includes('late'))).toBe(false);
    expect(after.some((r) => r.item.marks.includes('late'))).toBe(true);
    const final = ledger.finalBalances(account, date)!;
    const net = (rs: Reported[]) => rs.reduce((s, r) => s + signed(r.item.direction, r.amount), 0n);
    expect(final.openingLedger + net(before)).not.toBe(final.endingLedger); // the balance proof is broken until the reveal
    expect(final.openingLedger + net(after)).toBe(final.endingLedger);
    const beforeIds = new Set(before.map((r) => r.transactionId));
    expect(after.some((r) => beforeIds.has(r.transactionId))).toBe(false);
    expect(after.filter((r) => !r.item.marks.includes('late')).map((r) => r.item)).toEqual(before.map((r) => r.item));
  });

  it('has legitimately identical transactions that differ only in their ids', () => {
    const date = DAYS.find(
      (d) => ledger.day(account, d)!.items.filter((i) => i.marks.includes('identical')).length === 3,
    )!;
    const posted = postedReported(ledger, account, date, nextBusinessDay(date)).filter((r) =>
      r.item.marks.includes('identical'),
    );
    const records = posted.map((r) => ({ ...renderTransaction(r), transactionId: undefined }));
    expect(records).toHaveLength(3);
    expect(records[1]).toEqual(records[0]);
    expect(records[2]).toEqual(records[0]);
    expect(new Set(posted.map((r) => r.transactionId)).size).toBe(3);
  });

  it('has reversals and extreme amounts', () => {
    const items = allItems(ledger).map(({ item }) => item);
    const reversal = items.find((i) => i.reversal)!;
    expect(reversal.marks).toContain('reversal');
    expect(items.some((i) => i.marks.includes('extreme-large') && i.postedMinor!.toString().length === 15)).toBe(true);
    expect(items.some((i) => i.marks.includes('extreme-small') && i.postedMinor === 1n)).toBe(true);
  });
});
