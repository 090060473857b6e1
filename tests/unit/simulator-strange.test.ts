import { describe, expect, it } from 'vitest';
import { parseJsonLossless } from '../../src/shared/json.ts';
import { toMinorUnits } from '../../src/shared/money.ts';
import { eachDay, type IsoDate } from '../../src/shared/time.ts';
import { buildAccounts } from '../../src/simulator/accounts.ts';
import { accountDayView } from '../../src/simulator/bank-view.ts';
import { BankCalendar } from '../../src/simulator/calendar.ts';
import { isQuietDay, type DayItem } from '../../src/simulator/day.ts';
import { Ledger } from '../../src/simulator/ledger.ts';
import { ALL_QUIRKS, DEFAULT_QUIRKS, NO_QUIRKS, type Quirks } from '../../src/simulator/quirks.ts';
import { codePoints, rawControlCharacters } from '../../src/simulator/strange.ts';
import { handleTransactions, RecordsMemo } from '../../src/simulator/bank.ts';
import { intradayReported, postedReported } from '../../src/simulator/views.ts';

const FIRST: IsoDate = '2026-10-01';
const LAST: IsoDate = '2026-11-27';
const HOLIDAYS = ['2026-11-11', '2026-11-26'];

function makeLedger(quirks: Quirks, holidays: string[] = []): Ledger {
  return new Ledger({
    seed: 'strange',
    accounts: buildAccounts('strange', 4),
    firstDate: FIRST,
    txPerDay: 30,
    quirks,
    calendar: new BankCalendar(holidays),
  });
}

function items(ledger: Ledger): { key: string; date: IsoDate; item: DayItem }[] {
  const days = eachDay(FIRST, LAST).filter((d) => ledger.calendar.isBusinessDay(d));
  return ledger.accounts.flatMap((a) =>
    days.flatMap((date) =>
      (ledger.day(a, date)?.items ?? []).map((item) => ({ key: `${a.accountId}|${date}|${item.seq}`, date, item })),
    ),
  );
}

describe('simulator: a bank stranger than the real one', () => {
  it('keeps holidays out of its business days; PRIOR_DAY skips them and CURRENT_DAY has nothing on them', () => {
    const ledger = makeLedger(ALL_QUIRKS, HOLIDAYS);
    const account = ledger.accounts[0]!;
    expect(ledger.day(account, '2026-11-11')).toBeUndefined();
    expect(ledger.calendar.priorBusinessDay('2026-11-27')).toBe('2026-11-25');
    expect(ledger.calendar.priorBusinessDay('2026-11-12')).toBe('2026-11-10');
    expect(ledger.calendar.currentBusinessDay('2026-11-26')).toBeNull();
    expect(intradayReported(ledger, account, { today: '2026-11-26', progress: 0.5 })).toEqual([]);
    expect(accountDayView(ledger, { today: '2026-11-27', progress: 0.5 }, account.accountId, '2026-11-26').state).toBe(
      'closed-bank',
    );
    // Days still chain across a holiday: the day before it closes at the opening of the day after it.
    expect(ledger.finalBalances(account, '2026-11-10')!.endingLedger).toBe(ledger.openingLedger(account, '2026-11-12'));
  });

  it('withdraws intraday items during the day; some come back under the same id, the others never post', () => {
    const ledger = makeLedger({ ...NO_QUIRKS, growingSnapshot: true, withdrawals: true });
    const all = items(ledger).filter(({ item }) => item.withdrawal !== null);
    expect(all.some(({ item }) => item.marks.includes('withdrawn'))).toBe(true);
    expect(all.some(({ item }) => item.marks.includes('withdrawn-returned'))).toBe(true);
    const account = ledger.accounts[0]!;
    const date = eachDay(FIRST, LAST).find((d) =>
      ledger.day(account, d)?.items.some((i) => i.marks.includes('withdrawn-returned')),
    )!;
    const target = ledger.day(account, date)!.items.find((i) => i.marks.includes('withdrawn-returned'))!;
    const seen = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1].map((progress) =>
      intradayReported(ledger, account, { today: date, progress }).some((r) => r.item === target),
    );
    // Visible, then gone, then back: the pattern contains true → false → true.
    expect(seen.join('')).toMatch(/true.*false.*true/);
    const nextDay = ledger.calendar.nextBusinessDay(date);
    for (const { item } of all.filter((x) => x.item.marks.includes('withdrawn'))) {
      expect(item.postedMinor).toBeNull();
    }
    expect(postedReported(ledger, account, date, nextDay).some((r) => r.item === target)).toBe(true);
  });

  it('sends odd optional fields but never touches amount, direction, currency, asOfDate, account, id or postCode', () => {
    const ledger = makeLedger({ ...DEFAULT_QUIRKS, oddFields: true });
    const clock = { today: LAST, progress: 0.7 };
    const odd = new Set<string>();
    for (const account of ledger.accounts) {
      for (const date of eachDay('2026-11-16', LAST)) {
        for (const r of accountDayView(ledger, clock, account.accountId, date).records) {
          const wire = parseJsonLossless(r.wire) as Record<string, unknown> & {
            account: { accountId: string };
            currency: { code: string; decimalLocation: string };
          };
          expect(toMinorUnits(wire.amount as string, account.currency.decimalLocation)).toBe(BigInt(r.amountMinor));
          expect(wire.debitCreditCode).toBe(r.direction);
          expect([
            wire.asOfDate,
            wire.transactionId,
            wire.postCode,
            wire.account.accountId,
            wire.currency.code,
          ]).toEqual([date, r.transactionId, r.postCode, account.accountId, account.currency.code]);
          expect(Number(wire.currency.decimalLocation)).toBe(account.currency.decimalLocation);
          for (const field of [
            'customerReferenceSearchable',
            'bankReferenceSearchable',
            'narrativeText',
            'baiType',
            'valueDate',
          ]) {
            const v = wire[field];
            odd.add(
              `${field}:${v === undefined ? 'missing' : v === null ? 'null' : typeof v === 'object' && Object.keys(v).length === 0 ? '{}' : 'value'}`,
            );
          }
        }
      }
    }
    for (const shape of [
      'customerReferenceSearchable:null',
      'customerReferenceSearchable:{}',
      'customerReferenceSearchable:missing',
      'bankReferenceSearchable:{}',
      'narrativeText:null',
      'baiType:missing',
      'valueDate:null',
    ]) {
      expect(odd).toContain(shape);
    }
  });

  it('has padded and zero-led references and hostile narratives (16k+ code points, 30+ tags, NUL, RTL, ZWJ)', () => {
    const all = items(makeLedger({ ...DEFAULT_QUIRKS, oddReferences: true, hostileNarratives: true }));
    const refs = all.flatMap(({ item }) => [item.bankRef, item.customerRef]);
    expect(refs.some((r) => /\S {2,}$/.test(r))).toBe(true);
    expect(refs.some((r) => /^0\d+$/.test(r))).toBe(true);
    const values = all
      .flatMap(({ item }) => Object.values(item.narrative))
      .filter((v): v is string => typeof v === 'string');
    expect(values.some((v) => codePoints(v) >= 16_384)).toBe(true);
    expect(all.some(({ item }) => Object.keys(item.narrative).length >= 30)).toBe(true);
    for (const needle of ['\u0000', '\u2028', '\u200D', 'ش', '株', '\\', '"', '\t', '\n', '\u0301']) {
      expect(values.some((v) => v.includes(needle))).toBe(true);
    }
    expect(all.some(({ item }) => Object.values(item.narrative).includes(null))).toBe(true);
  });

  it('decides withdrawals at the clock setting, also for a page-shifted snapshot served from its memo', () => {
    const ledger = makeLedger({ ...NO_QUIRKS, growingSnapshot: true, withdrawals: true });
    const account = ledger.accounts.find((a) =>
      eachDay(FIRST, LAST).some((d) => ledger.day(a, d)?.items.some((i) => i.withdrawal !== null)),
    )!;
    const date = eachDay(FIRST, LAST).find((d) => ledger.day(account, d)?.items.some((i) => i.withdrawal !== null))!;
    const params = new URLSearchParams({ accountIds: account.accountId, relativeDateType: 'CURRENT_DAY' });
    const ids = (clock: { progress: number; withdrawalsAt?: number }, memo: RecordsMemo) =>
      (
        JSON.parse(handleTransactions(ledger, { today: date, ...clock }, params, 'v3', memo).response.body) as {
          data: { transactionId: string }[];
        }
      ).data.map((r) => r.transactionId);
    // The same progress with different withdrawal points must never share a memo entry.
    const memo = new RecordsMemo();
    const differing = [0.2, 0.4, 0.6, 0.8]
      .flatMap((early) => [0.3, 0.5, 0.7, 0.9].filter((late) => late > early).map((late) => ({ early, late })))
      .find(
        ({ early, late }) =>
          ids({ progress: 1, withdrawalsAt: early }, new RecordsMemo()).join() !==
          ids({ progress: 1, withdrawalsAt: late }, new RecordsMemo()).join(),
      )!;
    expect(differing).toBeDefined();
    const first = ids({ progress: 1, withdrawalsAt: differing.early }, memo);
    expect(ids({ progress: 1, withdrawalsAt: differing.late }, memo)).not.toEqual(first);
  });

  it('movedToNextDay: an item pending on its day misses its posting run and posts the next business day under a new id', () => {
    const ledger = makeLedger({ ...DEFAULT_QUIRKS, movedToNextDay: true }, HOLIDAYS);
    const plain = makeLedger(DEFAULT_QUIRKS, HOLIDAYS);
    const moved = items(ledger).filter(({ item }) => item.marks.includes('moved-next-day'));
    expect(moved.length).toBeGreaterThan(10);
    let changedAmounts = 0;
    for (const { date, item } of moved) {
      const account = ledger.accounts.find((a) => ledger.day(a, date)?.items.includes(item))!;
      const next = ledger.calendar.nextBusinessDay(date);
      const after = ledger.calendar.nextBusinessDay(next);
      // Day D: pending in its snapshot; not in its prior-day data nor in its final balances.
      const pending = intradayReported(ledger, account, { today: date, progress: 1 }).find((r) => r.item === item)!;
      expect(pending.postCode).toBe('I');
      expect(postedReported(ledger, account, date, after).some((r) => r.item.bankRef === item.bankRef)).toBe(false);
      expect(ledger.finalBalances(account, date)!.endingLedger).toBe(ledger.openingLedger(account, next));
      // Day D+1: never in its snapshot, posted under it (the bank's business date) with a new id.
      expect(
        intradayReported(ledger, account, { today: next, progress: 1 }).some((r) => r.item.bankRef === item.bankRef),
      ).toBe(false);
      const posted = postedReported(ledger, account, next, after).filter((r) => r.item.bankRef === item.bankRef);
      expect(posted).toHaveLength(1);
      expect(posted[0]!.item.movedFrom).toBe(date);
      expect(posted[0]!.item.marks).toContain('moved-in');
      expect(posted[0]!.transactionId).not.toBe(pending.transactionId);
      expect(posted[0]!.amount).toBe(item.moved!.postedMinor);
      expect(ledger.finalBalances(account, next)!.endingLedger).toBe(ledger.openingLedger(account, after));
      changedAmounts +=
        posted[0]!.amount === plain.day(account, date)!.items.find((i) => i.bankRef === item.bankRef)!.postedMinor
          ? 0
          : 1;
    }
    expect(changedAmounts).toBeGreaterThan(0);
  });

  it('quietDays: some business days have balances and no transaction at all; the next one opens where it closed', () => {
    const ledger = makeLedger({ ...DEFAULT_QUIRKS, movedToNextDay: true, quietDays: true }, HOLIDAYS);
    let quiet = 0;
    for (const account of ledger.accounts) {
      for (const date of eachDay(FIRST, LAST).filter((d) => ledger.calendar.isBusinessDay(d))) {
        if (!isQuietDay(ledger.seed, account.accountId, date, ledger.quirks)) {
          continue;
        }
        quiet++;
        const next = ledger.calendar.nextBusinessDay(date);
        expect(ledger.day(account, date)!.items).toEqual([]);
        expect(intradayReported(ledger, account, { today: date, progress: 1 })).toEqual([]);
        expect(postedReported(ledger, account, date, ledger.calendar.nextBusinessDay(next))).toEqual([]);
        const final = ledger.finalBalances(account, date)!;
        expect(final.endingLedger).toBe(final.openingLedger);
        expect(ledger.openingLedger(account, next)).toBe(final.endingLedger);
      }
    }
    expect(quiet).toBeGreaterThan(3);
    // Off, no day is quiet.
    const plain = makeLedger(DEFAULT_QUIRKS, HOLIDAYS);
    expect(items(plain).length).toBeGreaterThan(items(ledger).length);
    for (const account of plain.accounts) {
      for (const date of eachDay(FIRST, LAST).filter((d) => plain.calendar.isBusinessDay(d))) {
        expect(plain.day(account, date)!.items.length).toBeGreaterThan(0);
      }
    }
  });

  it('leaves every other item as it was when the strange quirks are switched on', () => {
    const plain = items(makeLedger(DEFAULT_QUIRKS));
    const strange = items(makeLedger({ ...ALL_QUIRKS, withdrawals: false }));
    // A moved item changes its day, the day it posts on and the sweeps that balance both (quirk movedToNextDay).
    const touched = new Set(['odd-reference', 'hostile-narrative', 'moved-next-day', 'moved-in', 'sweep']);
    const untouched = strange.filter(({ item }) => !item.marks.some((m) => touched.has(m)));
    const byKey = new Map(plain.map(({ key, item }) => [key, item]));
    expect(untouched.length).toBeGreaterThan(100);
    for (const { key, item } of untouched) {
      expect(byKey.get(key)).toEqual(item);
    }
  });
});

describe('rawControlCharacters (the raw-controls fault)', () => {
  it('writes every control character of the strings raw and keeps every other escape', () => {
    const value = { n: 'a\tb\nc\r\u0000\u0001\u001f\b\f', k: 'back\\t slash \\u0000 "q" \u00e9 \ud83d', 'T\tK': 1.5 };
    const text = rawControlCharacters(JSON.stringify(value));
    expect(text).toBe(
      '{"n":"a\tb\nc\r\u0000\u0001\u001f\b\f","k":"back\\\\t slash \\\\u0000 \\"q\\" \u00e9 \\ud83d","T\tK":1.5}',
    );
    expect(() => parseJsonLossless(text)).toThrow(SyntaxError);
    expect(parseJsonLossless(text, [])).toEqual(parseJsonLossless(JSON.stringify(value)));
  });

  it('revisedIntraday: the same items at every progress, some at another amount first, each at its own amount by the end', () => {
    const plain = makeLedger({ ...NO_QUIRKS, growingSnapshot: true });
    const revised = makeLedger({ ...NO_QUIRKS, growingSnapshot: true, revisedIntraday: true });
    let changed = 0;
    for (const account of plain.accounts) {
      for (const today of eachDay('2026-11-02', '2026-11-06')) {
        for (const progress of [0.2, 0.5, 0.8, 1]) {
          const a = intradayReported(plain, account, { today, progress });
          const b = intradayReported(revised, account, { today, progress });
          expect(b.map((r) => r.transactionId)).toEqual(a.map((r) => r.transactionId));
          b.forEach((r, i) => {
            expect(r.amount >= a[i]!.amount).toBe(true);
            changed += r.amount === a[i]!.amount ? 0 : 1;
          });
          if (progress === 1) {
            expect(b.map((r) => r.amount)).toEqual(a.map((r) => r.amount));
          }
        }
      }
    }
    expect(changed).toBeGreaterThan(0);
  });

  it('dippingSnapshot: for part of some days the snapshot is the first half of what it would be, then all of it again', () => {
    const plain = makeLedger({ ...NO_QUIRKS, growingSnapshot: true });
    const dipping = makeLedger({ ...NO_QUIRKS, growingSnapshot: true, dippingSnapshot: true });
    let dips = 0;
    for (const account of plain.accounts) {
      for (const today of eachDay('2026-11-02', '2026-11-06')) {
        for (let progress = 0.05; progress <= 1; progress += 0.05) {
          const a = intradayReported(plain, account, { today, progress }).map((r) => r.transactionId);
          const b = intradayReported(dipping, account, { today, progress }).map((r) => r.transactionId);
          if (b.length === a.length) {
            expect(b).toEqual(a);
          } else {
            dips++;
            expect(b).toEqual(a.slice(0, Math.floor(a.length / 2)));
          }
        }
        expect(intradayReported(dipping, account, { today, progress: 1 })).toEqual(
          intradayReported(plain, account, { today, progress: 1 }),
        );
      }
    }
    expect(dips).toBeGreaterThan(0);
  });
});
