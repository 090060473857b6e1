import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JpmUnavailableError } from '../../src/jpm/errors.ts';
import type { FetchedTransactionPage, TransactionPageEvent, WalkRestart } from '../../src/jpm/transactions.ts';
import type { WireTransactionRecord } from '../../src/jpm/wire.schemas.ts';
import { normalizeBalances } from '../../src/normalization/balances.ts';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import { formatMinorUnits } from '../../src/shared/money.ts';
import { addDays, diffDays } from '../../src/shared/time.ts';
import { NO_QUIRKS } from '../../src/simulator/index.ts';
import type { TransactionPage } from '../../src/sync/bank-client.ts';
import { bankClientOf } from '../../src/sync/jpm-bank.ts';
import { caught, collect, startClientSim, UUID, type ClientSim } from '../helpers/jpm-client-sim.ts';

/** The client against the simulator over real mTLS: every endpoint, splitting, paging, restarts. */

const TODAY = '2025-03-12';
const QUIRKS = { ...NO_QUIRKS, extremeAmounts: true, identicalTransactions: true, reversals: true };

const pagesOf = (events: TransactionPageEvent[]) =>
  events.filter((e): e is FetchedTransactionPage => e.type === 'page');
const recordsOf = (events: TransactionPageEvent[]) => pagesOf(events).flatMap((p) => p.records);
const ids = (records: readonly WireTransactionRecord[]) => records.map((r) => String(r.transactionId)).sort();

describe('JpmClient against the simulator', () => {
  let env: ClientSim;
  beforeAll(async () => {
    env = await startClientSim({ today: TODAY, accounts: 12, historyDays: 45, quirks: QUIRKS });
  });
  afterAll(() => env.stop());

  it('discovers every entitled account with CURRENT_DAY balances in one call without an account list', async () => {
    const client = env.client();
    const result = await client.getBalances({ relativeDateType: 'CURRENT_DAY' });
    expect(result.accounts.map((a) => a.accountId).sort()).toEqual(env.sim.accounts.map((a) => a.accountId).sort());
    expect(result.accountErrors).toEqual([]);
    expect(result.requestIds).toHaveLength(1);
    expect(result.requestIds[0]).toMatch(UUID);
    expect(
      result.accounts.every(
        (a) => a.balanceList.length === 1 && a.balanceList[0]!.currentDay && a.balanceList[0]!.asOfDate === TODAY,
      ),
    ).toBe(true);
    expect(new Set(result.accounts.map((a) => a.currency.decimalLocation))).toEqual(new Set([0, 2, 3]));
  });

  it('splits a 40-day, 12-account balance history into 31-day × 10-account calls and matches the ground truth to the minor unit', async () => {
    const client = env.client();
    const before = env.calls.length;
    const startDate = addDays(TODAY, -40);
    const endDate = addDays(TODAY, -1);
    const accounts = env.sim.accounts.map((a) => ({ accountId: a.accountId, bankId: '02100002' }));
    const result = await client.getBalances({ startDate, endDate, accounts });
    expect(env.calls.slice(before).map((c) => c.endpoint)).toEqual(['balance', 'balance', 'balance', 'balance']);
    expect(result.requestIds).toHaveLength(4);

    const truth = env.sim.groundTruth();
    let compared = 0;
    for (const account of truth.accounts) {
      const ours = result.accounts.find((a) => a.accountId === account.accountId)!;
      const expected = account.balances.filter(
        (b) => diffDays(startDate, b.asOfDate) >= 0 && diffDays(b.asOfDate, endDate) >= 0,
      );
      expect(ours.balanceList.map((b) => b.asOfDate)).toEqual(expected.map((b) => b.asOfDate));
      const normalized = normalizeBalances([ours]);
      expect(normalized.rejects).toEqual([]);
      normalized.balances.forEach((minor, i) => {
        const text = (m: bigint | null) => (m === null ? null : formatMinorUnits(m, account.decimalLocation));
        const want = expected[i]!;
        expect([
          text(minor.openingLedgerMinor),
          text(minor.endingLedgerMinor),
          text(minor.openingAvailableMinor),
          text(minor.endingAvailableMinor),
        ]).toEqual([want.openingLedger, want.endingLedger, want.openingAvailable, want.endingAvailable]);
        compared++;
      });
    }
    expect(compared).toBeGreaterThan(12 * 20);
  });

  it('returns a per-account GCA-024 entry as data next to the other accounts', async () => {
    const client = env.client();
    const [failing, fine] = env.sim.accounts;
    env.sim.injectFaults([{ kind: 'account-error', accountId: failing!.accountId, count: 1 }]);
    const result = await client.getBalances({
      relativeDateType: 'PRIOR_DAY',
      accounts: [{ accountId: failing!.accountId }, { accountId: fine!.accountId }],
    });
    expect(result.accounts.map((a) => a.accountId)).toEqual([fine!.accountId]);
    expect(result.accountErrors).toHaveLength(1);
    const [error] = result.accountErrors;
    expect(error).toMatchObject({ window: { relativeDateType: 'PRIOR_DAY' }, requestId: result.requestIds[0] });
    expect(error!.entry).toMatchObject({
      accountId: failing!.accountId,
      errorCode: 'GCA-024',
      errorMsg: 'No transaction was found for this account on the requested day.',
    });
    expect(error!.entry).not.toHaveProperty('balanceList');
  });

  it('walks every v3 page of ≤ 10-account slices; records equal the ground truth', async () => {
    const client = env.client();
    const accountIds = env.sim.accounts.map((a) => a.accountId);
    const req = { accountIds, startDate: addDays(TODAY, -5), endDate: addDays(TODAY, -1) };
    const events = await collect(client.transactionPages(req));
    expect(events.some((e) => e.type === 'restart')).toBe(false);
    const pages = pagesOf(events);
    expect(pages.some((p) => p.totalPages > 1)).toBe(true);
    for (const slice of new Set(pages.map((p) => p.slice.index))) {
      const own = pages.filter((p) => p.slice.index === slice);
      expect(own.map((p) => p.pageNumber)).toEqual(Array.from({ length: own[0]!.totalPages }, (_, i) => i + 1));
      expect(own.reduce((n, p) => n + p.records.length, 0)).toBe(own[0]!.totalRecords);
      expect(own[0]!.slice.accountIds.length).toBeLessThanOrEqual(10);
    }
    expect(pages.flatMap((p) => p.rejects)).toEqual([]);
    const records = recordsOf(events);

    const truth = env.sim
      .groundTruth()
      .accounts.flatMap((a) => a.transactions.map((t) => ({ ...t, decimalLocation: a.decimalLocation })))
      .filter((t) => diffDays(req.startDate, t.asOfDate) >= 0 && diffDays(t.asOfDate, req.endDate) >= 0);
    expect(ids(records)).toEqual(truth.map((t) => t.transactionId).sort());
    const byId = new Map(truth.map((t) => [t.transactionId, t]));
    const normalized = normalizeTransactions(records, new OccurrenceCounter());
    expect(normalized.rejects).toEqual([]);
    records.forEach((record, i) => {
      const want = byId.get(String(record.transactionId))!;
      expect(formatMinorUnits(normalized.records[i]!.amountMinor, want.decimalLocation)).toBe(want.amount);
      expect(record.debitCreditCode).toBe(want.debitCreditCode);
    });
  });

  it('reads an answer the bank compressed (content-encoding gzip) exactly as the same answer sent plain', async () => {
    const client = env.client();
    const accountIds = env.sim.accounts.slice(0, 2).map((a) => a.accountId);
    const req = { accountIds, startDate: addDays(TODAY, -3), endDate: addDays(TODAY, -1) };
    const plainPages = pagesOf(await collect(client.transactionPages(req)));
    const plainBalances = await client.getBalances({
      relativeDateType: 'PRIOR_DAY',
      accounts: [{ accountId: accountIds[0]! }],
    });
    const fired = env.sim.stats().faultsInjected;
    env.sim.injectFaults([{ kind: 'compressed' }]);
    try {
      const pages = pagesOf(await collect(client.transactionPages(req)));
      const balances = await client.getBalances({
        relativeDateType: 'PRIOR_DAY',
        accounts: [{ accountId: accountIds[0]! }],
      });
      expect(env.sim.stats().faultsInjected - fired).toBe(pages.length + 1);
      expect(pages.map((p) => [p.pageNumber, p.totalRecords])).toEqual(
        plainPages.map((p) => [p.pageNumber, p.totalRecords]),
      );
      expect(recordsOf(pages).length).toBeGreaterThan(0);
      expect(recordsOf(pages)).toEqual(recordsOf(plainPages));
      expect(balances.accounts).toEqual(plainBalances.accounts);
    } finally {
      env.sim.clearFaults();
    }
  });

  it('holds a compressed answer to the size limit once decompressed: a permanent jpm_response_too_large', async () => {
    const plain = await env.client().getBalances({ relativeDateType: 'PRIOR_DAY' });
    const size = JSON.stringify(plain.accounts).length;
    env.sim.injectFaults([{ kind: 'compressed', count: 1 }]);
    try {
      const err = await caught(() =>
        env.client({ maxResponseBytes: Math.floor(size / 2) }).getBalances({ relativeDateType: 'PRIOR_DAY' }),
      );
      expect(err).toMatchObject({
        code: 'jpm_response_too_large',
        retryable: false,
        upstreamStatus: 200,
        message: expect.stringContaining('once decompressed') as unknown,
      });
    } finally {
      env.sim.clearFaults();
    }
  });

  it('cuts a 12-day range into 3 calls of at most 5 days', async () => {
    const client = env.client();
    const before = env.calls.length;
    const startDate = addDays(TODAY, -12);
    const events = await collect(
      client.transactionPages({ accountIds: [env.sim.accounts[0]!.accountId], startDate, endDate: addDays(TODAY, -1) }),
    );
    const calls = env.calls.slice(before);
    expect(calls.map((c) => c.endpoint)).toEqual(['transactions_v3', 'transactions_v3', 'transactions_v3']);
    expect(new Set(calls.map((c) => c.requestId)).size).toBe(3);
    const windows = pagesOf(events).map((p) => ('startDate' in p.slice ? [p.slice.startDate, p.slice.endDate] : []));
    expect(windows).toEqual([
      [startDate, addDays(startDate, 4)],
      [addDays(startDate, 5), addDays(startDate, 9)],
      [addDays(startDate, 10), addDays(TODAY, -1)],
    ]);
    for (const page of pagesOf(events)) {
      const slice = page.slice as { startDate: string; endDate: string };
      expect(
        page.records.every(
          (r) => diffDays(slice.startDate, r.asOfDate) >= 0 && diffDays(r.asOfDate, slice.endDate) >= 0,
        ),
      ).toBe(true);
    }
  });
});

describe('JpmClient reading an answer in another character set', () => {
  let env: ClientSim;
  beforeAll(async () => {
    env = await startClientSim({
      today: TODAY,
      accounts: [{ accountName: 'SOCIÉTÉ GÉNÉRALE – PARIS' }, { accountName: 'ZÜRICH ÆØÅ ½ ÿ' }],
      historyDays: 5,
      txPerDay: 5,
      quirks: NO_QUIRKS,
    });
  });
  afterAll(() => env.stop());

  it('reads an ISO-8859-1 answer (declared in content-type) to the exact characters, not U+FFFD', async () => {
    const client = env.client();
    const accountIds = env.sim.accounts.map((a) => a.accountId);
    const req = { accountIds, startDate: addDays(TODAY, -3), endDate: addDays(TODAY, -1) };
    env.sim.injectFaults([{ kind: 'latin1' }]);
    try {
      const balances = await client.getBalances({ relativeDateType: 'PRIOR_DAY' });
      expect(balances.accounts.map((a) => a.accountName)).toEqual(['SOCIÉTÉ GÉNÉRALE ? PARIS', 'ZÜRICH ÆØÅ ½ ÿ']);
      const records = recordsOf(await collect(client.transactionPages(req)));
      expect(records.length).toBeGreaterThan(0);
      expect(new Set(records.map((r) => (r.account as { accountName?: unknown }).accountName))).toEqual(
        new Set(['SOCIÉTÉ GÉNÉRALE ? PARIS', 'ZÜRICH ÆØÅ ½ ÿ']),
      );
    } finally {
      env.sim.clearFaults();
    }
  });

  it('reads an answer both in ISO-8859-1 (declared) and gzip-compressed: decompressed, then read in its charset', async () => {
    const client = env.client();
    const accountIds = env.sim.accounts.map((a) => a.accountId);
    const req = { accountIds, startDate: addDays(TODAY, -3), endDate: addDays(TODAY, -1) };
    const fired = env.sim.stats().faultsInjected;
    env.sim.injectFaults([{ kind: 'compressed-latin1' }]);
    try {
      const balances = await client.getBalances({ relativeDateType: 'PRIOR_DAY' });
      expect(balances.accounts.map((a) => a.accountName)).toEqual(['SOCIÉTÉ GÉNÉRALE ? PARIS', 'ZÜRICH ÆØÅ ½ ÿ']);
      const records = recordsOf(await collect(client.transactionPages(req)));
      expect(records.length).toBeGreaterThan(0);
      expect(new Set(records.map((r) => (r.account as { accountName?: unknown }).accountName))).toEqual(
        new Set(['SOCIÉTÉ GÉNÉRALE ? PARIS', 'ZÜRICH ÆØÅ ½ ÿ']),
      );
      expect(env.sim.stats().faultsInjected - fired).toBeGreaterThanOrEqual(2);
    } finally {
      env.sim.clearFaults();
    }
  });

  it('refuses an answer whose bytes are not UTF-8 when no charset is declared (retryable), never reads É as U+FFFD', async () => {
    const client = env.client();
    const accountIds = env.sim.accounts.map((a) => a.accountId);
    const req = { accountIds, startDate: addDays(TODAY, -3), endDate: addDays(TODAY, -1) };
    env.sim.injectFaults([{ kind: 'undeclared-latin1' }]);
    try {
      for (const call of [
        () => client.getBalances({ relativeDateType: 'PRIOR_DAY' }),
        () => client.transactionPages(req).next(),
      ]) {
        const err = await caught(call);
        expect(err).toBeInstanceOf(JpmUnavailableError);
        expect(err).toMatchObject({ code: 'jpm_malformed_response', upstreamStatus: 200 });
        expect(err.message).toContain('is not UTF-8 and declares no other charset');
      }
    } finally {
      env.sim.clearFaults();
    }
    // The same answers sent as UTF-8 are read with their characters.
    const balances = await client.getBalances({ relativeDateType: 'PRIOR_DAY' });
    expect(balances.accounts.map((a) => a.accountName)).toEqual(['SOCIÉTÉ GÉNÉRALE – PARIS', 'ZÜRICH ÆØÅ ½ ÿ']);
  });
});

describe('JpmClient page walk over a shifting current day', () => {
  let env: ClientSim;
  beforeAll(async () => {
    // All quirks on: the intraday snapshot grows while we page through it.
    env = await startClientSim({ today: TODAY, accounts: 10, txPerDay: 250, historyDays: 3, progress: 0.5 });
  });
  afterAll(() => env.stop());

  it('restarts the walk from page 1 when totalRecords changes, and ends with one complete, consistent walk', async () => {
    const client = env.client();
    const req = { accountIds: env.sim.accounts.map((a) => a.accountId), relativeDateType: 'CURRENT_DAY' as const };
    const events = await collect(client.transactionPages(req));
    const restarts = events.filter((e): e is WalkRestart => e.type === 'restart');
    expect(restarts.length).toBeGreaterThanOrEqual(1);
    for (const r of restarts) {
      expect(r.totalRecords).not.toBe(r.previousTotalRecords);
      // The marker comes before any page of the new walk.
      const idx = events.indexOf(r);
      expect(events.slice(0, idx).some((e) => e.type === 'page' && e.walk === r.walk)).toBe(false);
    }
    const last = pagesOf(events).filter((p) => p.walk === restarts.at(-1)!.walk);
    expect(last.map((p) => p.pageNumber)).toEqual(Array.from({ length: last[0]!.totalPages }, (_, i) => i + 1));
    expect(last[0]!.totalPages).toBeGreaterThan(1);
    const final = last.flatMap((p) => p.records);
    expect(final).toHaveLength(last[0]!.totalRecords);
    expect(pagesOf(events).flatMap((p) => p.rejects)).toEqual([]);
    expect(final.every((r) => r.postCode === 'I')).toBe(true);
  });

  it("tells sync a restart (another walk of the slice) from the request's next slice (another slice)", async () => {
    env.sim.setClock({ progress: 0.5 });
    const bank = bankClientOf(env.client());
    const accounts = env.sim.accounts.map((a) => ({ accountId: a.accountId }));
    const pagesOfPort = async (q: Parameters<typeof bank.transactionPages>[0]) => {
      const out: TransactionPage[] = [];
      for await (const p of bank.transactionPages(q)) {
        out.push(p);
      }
      return out;
    };
    const firstPages = (pages: TransactionPage[]) => pages.filter((p, i) => i === 0 || p.walk !== pages[i - 1]!.walk);
    // The growing current day: the client restarts its one slice, so every walk is of slice 0.
    const current = firstPages(await pagesOfPort({ relativeDateType: 'CURRENT_DAY', accounts }));
    expect(current.length).toBeGreaterThan(1);
    expect(current.map((p) => [p.slice, p.pageNumber])).toEqual(current.map(() => [0, 1]));
    // Three ≤ 5-day windows of history (the data holds still): one walk per slice, each of its own slice.
    const history = firstPages(
      await pagesOfPort({
        startDate: addDays(TODAY, -12),
        endDate: addDays(TODAY, -1),
        accounts: accounts.slice(0, 1),
      }),
    );
    expect(history.map((p) => p.slice)).toEqual([0, 1, 2]);
  });

  it('gives up with a retryable jpm_unstable_pages after the restart budget', async () => {
    env.sim.setClock({ progress: 0.5 });
    const client = env.client({ maxWalkRestarts: 0 });
    const err = await caught(() =>
      collect(
        client.transactionPages({
          accountIds: env.sim.accounts.map((a) => a.accountId),
          relativeDateType: 'CURRENT_DAY',
        }),
      ),
    );
    expect(err).toBeInstanceOf(JpmUnavailableError);
    expect(err).toMatchObject({ code: 'jpm_unstable_pages', retryable: true });
  });
});

describe('JpmClient call stopped by its caller', () => {
  let env: ClientSim;
  beforeAll(async () => {
    env = await startClientSim({ today: TODAY, accounts: 1, historyDays: 5, txPerDay: 2, latencyMs: 2_000 });
  });
  afterAll(() => env.stop());

  it('fails a call whose signal fires with a retryable jpm_aborted, whatever reason the signal gives', async () => {
    const client = env.client();
    for (const reason of [undefined, new Error('worker stopping')]) {
      const stop = new AbortController();
      setTimeout(() => stop.abort(reason), 200);
      const err = await caught(() => client.getBalances({ relativeDateType: 'CURRENT_DAY', signal: stop.signal }));
      expect(err).toBeInstanceOf(JpmUnavailableError);
      expect({ code: err.code, retryable: err.retryable }).toEqual({ code: 'jpm_aborted', retryable: true });
    }
  });
});
