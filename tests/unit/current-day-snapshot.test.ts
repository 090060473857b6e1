import { describe, expect, it } from 'vitest';
import type { NormalizedTransaction } from '../../src/normalization/transactions.ts';
import { CurrentDaySnapshot, sameItems, type CompleteSnapshot } from '../../src/sync/day-tally.ts';

function rec(id: string, recordClass: 'I' | 'P' = 'I', bookingDate = '2026-03-04'): NormalizedTransaction {
  return {
    jpmTransactionId: id,
    identityById: id !== '',
    fingerprintKey: `${recordClass}:fp-${id}:1`,
    recordClass,
    bookingDate,
  } as NormalizedTransaction;
}
const page = (pageNumber: number, totalPages: number, totalRecords: number, fetched: number) => ({
  pageNumber,
  totalPages,
  totalRecords,
  fetched,
});

describe('CurrentDaySnapshot: only a complete last walk may remove anything', () => {
  it('a walk that saw every page and every record proves absence; its ids are the intraday ones', () => {
    const s = new CurrentDaySnapshot();
    s.add(1, page(1, 2, 3, 2), [rec('a'), rec('b')], []);
    s.add(1, page(2, 2, 3, 1), [rec('c')], []);
    expect(s.complete()).toMatchObject({ walk: 1, provesAbsence: true, totalRecords: 3, dates: ['2026-03-04'] });
    expect([...(s.complete()?.ids ?? [])]).toEqual(['a', 'b', 'c']);
  });

  it('an empty current day (one empty page) is a complete walk that shows nothing', () => {
    const s = new CurrentDaySnapshot();
    s.add(1, page(1, 1, 0, 0), [], []);
    expect(s.complete()).toMatchObject({ provesAbsence: true });
    expect(s.complete()?.ids.size).toBe(0);
  });

  it('a walk restarted after its first page is not complete until the new walk reaches its last page', () => {
    const s = new CurrentDaySnapshot();
    s.add(1, page(1, 2, 3, 2), [rec('a'), rec('b')], []);
    // The data shifted: the client starts walk 2 from page 1.
    s.add(2, page(1, 2, 4, 2), [rec('a'), rec('b')], []);
    expect(s.complete()).toBeUndefined();
    s.add(2, page(2, 2, 4, 2), [rec('c'), rec('d')], []);
    expect(s.complete()).toMatchObject({ walk: 2, provesAbsence: true });
    expect(s.complete()?.ids.size).toBe(4);
  });

  it('a walk that stopped early (failed page) is never complete', () => {
    const s = new CurrentDaySnapshot();
    s.add(1, page(1, 3, 5, 2), [rec('a'), rec('b')], []);
    s.add(1, page(3, 3, 5, 1), [rec('e')], []);
    expect(s.complete()).toBeUndefined();
  });

  it('a walk the client ended at an empty page once every record was in is complete', () => {
    const s = new CurrentDaySnapshot();
    // The bank claimed three pages; page 3 was empty, so the client ended the walk after page 2.
    s.add(1, page(1, 3, 3, 2), [rec('a'), rec('b')], []);
    expect(s.complete()).toBeUndefined();
    s.add(1, page(2, 3, 3, 1), [rec('c')], []);
    expect(s.complete()).toMatchObject({ walk: 1, provesAbsence: true, totalRecords: 3 });
  });

  it('a walk short of totalRecords, or with a record we cannot identify, may restore but not remove', () => {
    const short = new CurrentDaySnapshot();
    short.add(1, page(1, 1, 4, 2), [rec('a'), rec('b')], []);
    expect(short.complete()).toMatchObject({ provesAbsence: false });
    const unidentified = new CurrentDaySnapshot();
    unidentified.add(1, page(1, 1, 2, 2), [rec('a')], [{ raw: { amount: 'x' } }]);
    expect(unidentified.complete()).toMatchObject({ provesAbsence: false });
    const identified = new CurrentDaySnapshot();
    identified.add(1, page(1, 1, 2, 2), [rec('a')], [{ raw: { transactionId: 'b' } }]);
    expect(identified.complete()).toMatchObject({ provesAbsence: true });
    expect([...(identified.complete()?.ids ?? [])]).toEqual(['a', 'b']);
  });

  it('posted records in a current-day answer are not intraday items', () => {
    const s = new CurrentDaySnapshot();
    s.add(1, page(1, 1, 2, 2), [rec('a'), rec('p', 'P')], []);
    expect([...(s.complete()?.ids ?? [])]).toEqual(['a']);
  });

  it('a walk that saw an item twice, or a record of another account without an id, proves nothing absent', () => {
    const twice = new CurrentDaySnapshot();
    twice.add(1, page(1, 2, 4, 2), [rec('a'), rec('b')], []);
    twice.add(1, page(2, 2, 4, 2), [rec('b'), rec('c')], []);
    expect(twice.complete()).toMatchObject({ provesAbsence: false });
    const other = new CurrentDaySnapshot();
    other.add(1, page(1, 1, 2, 2), [rec('a')], [], [undefined]);
    expect(other.complete()).toMatchObject({ provesAbsence: false });
    const otherWithId = new CurrentDaySnapshot();
    otherWithId.add(1, page(1, 1, 2, 2), [rec('a')], [], ['0001 x']);
    expect(otherWithId.complete()).toMatchObject({ provesAbsence: true });
    expect([...(otherWithId.complete()?.ids ?? [])]).toEqual(['a']);
  });

  it('two walks agree when they show the same items, whatever the pages they were on', () => {
    const walk = (n: number, pages: NormalizedTransaction[][]): CompleteSnapshot => {
      const s = new CurrentDaySnapshot();
      const total = pages.reduce((k, p) => k + p.length, 0);
      pages.forEach((p, i) => s.add(n, page(i + 1, pages.length, total, p.length), p, []));
      return s.complete()!;
    };
    const shifted = walk(1, [
      [rec('a'), rec('b')],
      [rec('d'), rec('e')],
    ]);
    const settled = walk(2, [
      [rec('b'), rec('c')],
      [rec('d'), rec('e')],
    ]);
    const again = walk(3, [
      [rec('b'), rec('d')],
      [rec('c'), rec('e')],
    ]);
    expect(sameItems(shifted, settled)).toBe(false);
    expect(sameItems(settled, again)).toBe(true);
    // An id-less item is one by its fingerprint and occurrence; a posted record is not the intraday one of its id.
    expect(sameItems(walk(4, [[rec(''), rec('a')]]), walk(5, [[rec(''), rec('a')]]))).toBe(true);
    expect(sameItems(walk(6, [[rec('a', 'P')]]), walk(7, [[rec('a')]]))).toBe(false);
  });
});
