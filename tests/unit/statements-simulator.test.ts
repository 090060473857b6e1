import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import type { WireTransaction } from '../../src/jpm/wire.schemas.ts';
import { parseJsonLossless } from '../../src/shared/json.ts';
import { eachDay, type IsoDate } from '../../src/shared/time.ts';
import { buildAccounts } from '../../src/simulator/accounts.ts';
import { Ledger } from '../../src/simulator/ledger.ts';
import { DEFAULT_QUIRKS, type Quirks } from '../../src/simulator/quirks.ts';
import { renderTransaction } from '../../src/simulator/render.ts';
import { renderBai2, renderCamt053 } from '../../src/simulator/statements.ts';
import { postedReported } from '../../src/simulator/views.ts';
import { normalizeStatementAccount, parseBai2, parseCamt, parseStatement } from '../../src/statements/index.ts';

const FIRST: IsoDate = '2026-09-01';
const seed = 'statements-unit';
const ledger = new Ledger({
  seed,
  accounts: buildAccounts(seed, 8),
  firstDate: FIRST,
  txPerDay: 30,
  quirks: DEFAULT_QUIRKS,
});
const today: IsoDate = '2026-10-01';
const window = { from: '2026-09-14', to: '2026-09-25', clock: { today, progress: 0.5 } };

/** What the API path makes of the same days: normalized records of the history view, per account. */
function apiRecords(accountId: string) {
  const account = ledger.account(accountId)!;
  const days = eachDay(window.from, window.to);
  const wire = days
    .flatMap((d) => postedReported(ledger, account, d, today))
    .map((r) => parseJsonLossless(JSON.stringify(renderTransaction(r))) as WireTransaction);
  return normalizeTransactions(wire, new OccurrenceCounter(), 0, { requested: 'history' }).records;
}

describe('statement files rendered from the simulator ledger', () => {
  for (const account of ledger.accounts.slice(0, 4)) {
    it(`BAI2 and camt.053 give the API's identity for every item (${account.currency.code} ****${account.accountId.slice(-4)})`, () => {
      const api = apiRecords(account.accountId);
      expect(api.length).toBeGreaterThan(100);
      const files = [
        renderBai2(ledger, { ...window, accountIds: [account.accountId] }),
        renderCamt053(ledger, { ...window, accountIds: [account.accountId] }),
        renderCamt053(ledger, { ...window, accountIds: [account.accountId] }, { version: '02' }),
      ];
      const hashes: string[][] = [];
      for (const text of files) {
        const parsed = parseStatement(text);
        expect(parsed.accounts.map((a) => a.accountNumber)).toEqual([account.accountId]);
        const batch = normalizeStatementAccount(parsed, parsed.accounts[0]!, account.accountId);
        expect(batch.rejects).toEqual([]);
        expect(batch.records.map((r) => r.fingerprintKey).sort()).toEqual(api.map((r) => r.fingerprintKey).sort());
        expect(batch.records.map((r) => `${r.direction}:${r.amountMinor}`).sort()).toEqual(
          api.map((r) => `${r.direction}:${r.amountMinor}`).sort(),
        );
        hashes.push(batch.records.map((r) => r.contentHash).sort());
        // Every business day of the window has its final balance, and the ledger's proof holds on it.
        expect(batch.balances.map((b) => b.asOfDate)).toEqual(batch.postedDates);
        for (const b of batch.balances) {
          const day = batch.records.filter((r) => r.bookingDate === b.asOfDate);
          const net = day.reduce((s, r) => s + (r.direction === 'credit' ? r.amountMinor : -r.amountMinor), 0n);
          expect(b.openingLedgerMinor! + net).toBe(b.endingLedgerMinor);
        }
      }
      // The same items in both formats hash alike: importing the second file changes nothing.
      expect(hashes[1]).toEqual(hashes[0]);
      expect(hashes[2]).toEqual(hashes[0]);
    });
  }

  it('a file of several accounts holds each of them, and the parsers are told apart by content', () => {
    const ids = ledger.accounts.slice(0, 3).map((a) => a.accountId);
    expect(parseBai2(renderBai2(ledger, { ...window, accountIds: ids })).accounts.map((a) => a.accountNumber)).toEqual(
      ids,
    );
    expect(
      parseCamt(renderCamt053(ledger, { ...window, accountIds: ids })).accounts.map((a) => a.accountNumber),
    ).toEqual(ids);
  });

  it('three identical fees stay three occurrences', () => {
    const account = ledger.accounts[0]!;
    const parsed = parseBai2(renderBai2(ledger, { ...window, accountIds: [account.accountId] }));
    const batch = normalizeStatementAccount(parsed, parsed.accounts[0]!, account.accountId);
    const groups = Map.groupBy(batch.records, (r) => r.fingerprintKey.slice(0, r.fingerprintKey.lastIndexOf(':')));
    const repeated = [...groups.values()].filter((g) => g.length > 1);
    expect(repeated.length).toBeGreaterThan(0);
    for (const g of repeated) {
      expect(g.map((r) => r.fingerprintKey.split(':')[2]).sort()).toEqual(g.map((_, i) => String(i + 1)));
    }
  });
});

describe('statement files of any simulated ledger (fast-check over seeds)', () => {
  /** Odd references (padded, zero-led, re-cased) and hostile narratives (NUL, CJK, RTL, 16k characters) included. */
  const quirks: Quirks = { ...DEFAULT_QUIRKS, oddReferences: true, hostileNarratives: true };
  it("BAI2 and camt.053 give the API's fingerprint keys and amounts, and the same content hashes", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 12 }), fc.nat({ max: 7 }), (s, k) => {
        const l = new Ledger({ seed: s, accounts: buildAccounts(s, 8), firstDate: FIRST, txPerDay: 12, quirks });
        const account = l.accounts[k]!;
        const w = {
          accountIds: [account.accountId],
          from: '2026-09-21',
          to: '2026-09-25',
          clock: { today, progress: 0.5 },
        };
        const wire = eachDay(w.from, w.to)
          .flatMap((d) => postedReported(l, account, d, today))
          .map((r) => parseJsonLossless(JSON.stringify(renderTransaction(r))) as WireTransaction);
        const api = normalizeTransactions(wire, new OccurrenceCounter(), 0, { requested: 'history' }).records;
        const batches = [renderBai2(l, w), renderCamt053(l, w)].map((text) => {
          const parsed = parseStatement(text);
          return normalizeStatementAccount(parsed, parsed.accounts[0]!, account.accountId);
        });
        for (const b of batches) {
          expect(b.rejects).toEqual([]);
          expect(b.records.map((r) => `${r.fingerprintKey}|${r.amountMinor}`).sort()).toEqual(
            api.map((r) => `${r.fingerprintKey}|${r.amountMinor}`).sort(),
          );
        }
        expect(batches[1]!.records.map((r) => r.contentHash).sort()).toEqual(
          batches[0]!.records.map((r) => r.contentHash).sort(),
        );
      }),
      { numRuns: 12 },
    );
  });
});
