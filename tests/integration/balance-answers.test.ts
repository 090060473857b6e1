import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeBalances } from '../../src/normalization/balances.ts';
import { classifyFailure } from '../../src/scheduler/retry-policy.ts';
import { addDays } from '../../src/shared/time.ts';
import { discoverAccounts } from '../../src/sync/discover-accounts.ts';
import { refetchRange } from '../../src/sync/refetch.ts';
import { createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { caught } from '../helpers/jpm-client-sim.ts';
import { startSimBank, type SimBank } from '../helpers/sim-bank.ts';

/**
 * Balance answers stranger than J.P. Morgan's samples, from the simulator over real mTLS into Postgres: a closing
 * ledger amount that comes back null, and a balance the answer gives twice.
 */
const TODAY = '2026-03-04';
const DAY = '2026-03-02';

describe('odd balance answers', () => {
  let t: TestDb;
  let env: SimBank;
  beforeAll(async () => {
    t = await createTestDb();
    env = await startSimBank(t.db, { today: TODAY, historyDays: 10, txPerDay: 3, accounts: 3 });
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  const finalBalances = (accountId: string) =>
    t.db
      .selectFrom('balances')
      .select(['as_of_date', 'opening_ledger_minor', 'ending_ledger_minor', 'updated_at'])
      .where('account_id', '=', accountId)
      .where('kind', '=', 'final')
      .execute();
  const rejects = (accountId: string) =>
    t.db.selectFrom('sync_rejects').select(['record_type', 'reason']).where('account_id', '=', accountId).execute();

  it('a closing ledger amount that comes back null is a balance reject and leaves the stored balance as it was', async () => {
    const account = env.accounts[0]!;
    await env.sync(account.id, { mode: 'range', from: DAY, to: DAY, kinds: ['balances'] });
    const before = await finalBalances(account.id);
    expect(before).toHaveLength(1);
    expect(before[0]!.ending_ledger_minor).not.toBeNull();

    // Every balance answer for the account in this window (the window may ask the bank's business days first).
    env.sim.injectFaults([{ kind: 'null-ledger', accountId: account.jpmAccountId }]);
    const counts = await env.sync(account.id, { mode: 'range', from: DAY, to: DAY, kinds: ['balances'] });
    expect(env.sim.stats().faultsInjected).toBeGreaterThan(0);
    env.sim.clearFaults();
    expect(counts).toMatchObject({ balances: 0, rejected: 1 });
    expect(await finalBalances(account.id)).toEqual(before);
    expect(await rejects(account.id)).toEqual([
      { record_type: 'balance', reason: 'endingLedgerAmount: is required but null' },
    ]);
  });

  it("validation's re-fetch of a day it could not store whole ends partial (records_rejected), as a run tree would", async () => {
    const account = env.accounts[2]!;
    env.sim.injectFaults([{ kind: 'null-ledger', accountId: account.jpmAccountId }]);
    const counts = await refetchRange(t.db, env.deps, {
      accountId: account.id,
      from: DAY,
      to: DAY,
      trigger: 'validation',
    });
    env.sim.clearFaults();
    expect(counts).toMatchObject({ rejected: 1 });
    const runs = await t.db
      .selectFrom('sync_runs')
      .select(['status', 'error_code', 'rejected'])
      .where('account_id', '=', account.id)
      .where('trigger', '=', 'validation')
      .execute();
    // Recorded `succeeded`, it would mark the day's earlier failed or partial runs recovered in the coverage report.
    expect(runs).toEqual([{ status: 'partial', error_code: 'records_rejected', rejected: 1 }]);
  });

  it('a balance the answer gives twice is stored once, not a failed window', async () => {
    const account = env.accounts[1]!;
    const fired = env.sim.stats().faultsInjected;
    env.sim.injectFaults([{ kind: 'repeated-balance', accountId: account.jpmAccountId }]);
    const counts = await env.sync(account.id, { mode: 'range', from: DAY, to: DAY, kinds: ['balances'] });
    expect(env.sim.stats().faultsInjected).toBeGreaterThan(fired);
    env.sim.clearFaults();
    expect(counts).toMatchObject({ balances: 1, rejected: 0 });
    expect((await finalBalances(account.id)).map((b) => b.as_of_date)).toEqual([DAY]);
    expect(await rejects(account.id)).toEqual([]);
  });

  it('an account whose name, bank, branch or currency description is odd still has its balances stored, not a failed window', async () => {
    const account = env.accounts[2]!;
    // The re-fetch test above left a reject on this account; this answer must add none.
    const rejectsBefore = await rejects(account.id);
    const fired = env.sim.stats().faultsInjected;
    env.sim.injectFaults([{ kind: 'odd-account', accountId: account.jpmAccountId }]);
    const counts = await env.sync(account.id, { mode: 'range', from: DAY, to: DAY, kinds: ['balances'] });
    expect(env.sim.stats().faultsInjected).toBeGreaterThan(fired);
    env.sim.clearFaults();
    expect(counts).toMatchObject({ balances: 1, rejected: 0 });
    const stored = await finalBalances(account.id);
    expect(stored.map((b) => b.as_of_date)).toEqual([DAY]);
    const truth = env.sim.view(account.jpmAccountId, DAY).final!;
    expect(stored[0]).toMatchObject({
      opening_ledger_minor: truth.openingLedgerMinor.toString(),
      ending_ledger_minor: truth.endingLedgerMinor.toString(),
    });
    expect(await rejects(account.id)).toEqual(rejectsBefore);
  });

  it("an account whose currency is unusable ('usd') has its balances as rejects naming the field, not a failed answer", async () => {
    const account = env.accounts[1]!;
    const before = await finalBalances(account.id);
    const rejectsBefore = (await rejects(account.id)).length;
    env.sim.injectFaults([{ kind: 'odd-currency', accountId: account.jpmAccountId }]);
    const counts = await env.sync(account.id, { mode: 'range', from: DAY, to: DAY, kinds: ['balances'] });
    env.sim.clearFaults();
    expect(counts).toMatchObject({ balances: 0, rejected: 1 });
    expect(await finalBalances(account.id)).toEqual(before);
    expect((await rejects(account.id)).slice(rejectsBefore)).toEqual([
      {
        record_type: 'balance',
        reason: expect.stringMatching(/^currency\.code: must be a 3-letter ISO 4217 code, got "usd"/) as string,
      },
    ]);
  });

  it('one account with an unusable currency in the answer for every account leaves the others readable and registrable', async () => {
    // No account named: the fault changes the first account of the answer.
    env.sim.injectFaults([{ kind: 'odd-currency', path: '/accessapi/balance' }]);
    const answer = await env.client.getBalances({ relativeDateType: 'PRIOR_DAY' });
    const normalized = normalizeBalances(answer.accounts);
    const odd = answer.accounts[0]!.accountId;
    expect(normalized.balances.map((b) => b.jpmAccountId).sort()).toEqual(
      env.accounts
        .map((a) => a.jpmAccountId)
        .filter((id) => id !== odd)
        .sort(),
    );
    expect(normalized.rejects).toEqual([
      expect.objectContaining({ jpmAccountId: odd, reason: expect.stringContaining('currency.code') as string }),
    ]);

    const tenancy = await createTenancy(t.db);
    const found = await discoverAccounts(t.db, env.bank, {
      id: tenancy.integrationId,
      organizationId: tenancy.organizationId,
    });
    env.sim.clearFaults();
    expect(found.added).toBe(env.accounts.length - 1);
    expect(found.accounts.map((a) => a.jpm_account_id)).not.toContain(odd);
  });

  it('a balance the bank gives in another currency or scale than the account is a reject naming the mismatch, never stored', async () => {
    env.sim.clearFaults();
    const account = env.accounts[0]!;
    const before = await finalBalances(account.id);
    const rejectsBefore = (await rejects(account.id)).length;
    env.sim.injectFaults([{ kind: 'other-currency', accountId: account.jpmAccountId }]);
    const counts = await env.sync(account.id, { mode: 'range', from: DAY, to: DAY, kinds: ['balances'] });
    env.sim.clearFaults();
    expect(counts).toMatchObject({ balances: 0, rejected: 1 });
    expect(await finalBalances(account.id)).toEqual(before);
    const after = await rejects(account.id);
    expect(after.slice(rejectsBefore)).toEqual([
      {
        record_type: 'balance',
        reason: expect.stringContaining(
          `in EUR with 3 decimal places, the account is in ${account.currency} with 2`,
        ) as string,
      },
    ]);
  });

  it("members written as null (an account's errorCode and errorMsg, a GCA-024 entry's balanceList) are read as absent, not a failed answer", async () => {
    env.sim.clearFaults();
    const account = env.accounts[2]!;
    const rejectsBefore = (await rejects(account.id)).length;
    const fired = env.sim.stats().faultsInjected;
    env.sim.injectFaults([{ kind: 'null-members', path: '/accessapi/balance' }]);
    const counts = await env.sync(account.id, { mode: 'range', from: DAY, to: DAY, kinds: ['balances'] });
    expect(counts).toMatchObject({ rejected: 0 });
    // Days before the simulator's history: each account is a GCA-024 entry, its balanceList written as null.
    const early = addDays(TODAY, -20);
    const ids = env.accounts.map((a) => ({ accountId: a.jpmAccountId }));
    const answer = await env.client.getBalances({ startDate: early, endDate: early, accounts: ids });
    expect(env.sim.stats().faultsInjected).toBeGreaterThan(fired + 1);
    env.sim.clearFaults();

    const stored = await finalBalances(account.id);
    expect(stored.map((b) => b.as_of_date)).toEqual([DAY]);
    const truth = env.sim.view(account.jpmAccountId, DAY).final!;
    expect(stored[0]).toMatchObject({
      opening_ledger_minor: truth.openingLedgerMinor.toString(),
      ending_ledger_minor: truth.endingLedgerMinor.toString(),
    });
    expect((await rejects(account.id)).length).toBe(rejectsBefore);

    expect(answer.accounts).toEqual([]);
    expect(answer.accountErrors.map((e) => [e.entry.accountId, e.entry.errorCode]).sort()).toEqual(
      env.accounts.map((a) => [a.jpmAccountId, 'GCA-024']).sort(),
    );
  });

  it('a balance whose recordTimestamp names no instant (30 February, minute 60, offset +25:00) is stored without one, not a failed window', async () => {
    env.sim.clearFaults();
    const account = env.accounts[0]!;
    const rejectsBefore = (await rejects(account.id)).length;
    const fired = env.sim.stats().faultsInjected;
    env.sim.injectFaults([{ kind: 'odd-timestamp', accountId: account.jpmAccountId }]);
    const counts = await env.sync(account.id, { mode: 'range', from: DAY, to: DAY, kinds: ['balances'] });
    expect(env.sim.stats().faultsInjected).toBeGreaterThan(fired);
    env.sim.clearFaults();
    expect(counts).toMatchObject({ rejected: 0 });
    const stored = await t.db
      .selectFrom('balances')
      .select([
        'as_of_date',
        'ending_ledger_minor',
        'record_timestamp',
        sql<string>`raw->>'recordTimestamp'`.as('sent'),
      ])
      .where('account_id', '=', account.id)
      .where('kind', '=', 'final')
      .execute();
    const truth = env.sim.view(account.jpmAccountId, DAY).final!;
    expect(stored).toEqual([
      {
        as_of_date: DAY,
        ending_ledger_minor: truth.endingLedgerMinor.toString(),
        record_timestamp: null,
        sent: '2026-02-30T14:60:00+25:00',
      },
    ]);
    expect((await rejects(account.id)).length).toBe(rejectsBefore);
  });

  it('a per-account GCA-099 (System is Unavailable) inside the 200 fails the window retryably, never the account for good', async () => {
    env.sim.clearFaults();
    const account = env.accounts[1]!;
    env.sim.injectFaults([{ kind: 'account-unavailable', accountId: account.jpmAccountId }]);
    const err = await caught(() => env.sync(account.id, { mode: 'range', from: DAY, to: DAY, kinds: ['balances'] }));
    env.sim.clearFaults();
    expect(err).toMatchObject({ code: 'jpm_unavailable', retryable: true, bankErrorCode: 'GCA-099' });
    expect(classifyFailure(err)).toMatchObject({ kind: 'retryable', code: 'jpm_unavailable', bank: true });
    // The next attempt, the bank answering again, stores the day.
    const counts = await env.sync(account.id, { mode: 'range', from: DAY, to: DAY, kinds: ['balances'] });
    expect(counts).toMatchObject({ rejected: 0 });
    expect((await finalBalances(account.id)).map((b) => b.as_of_date)).toEqual([DAY]);
  });

  it('a per-account GCA-099 fails intraday and prior-day syncs retryably too', async () => {
    env.sim.clearFaults();
    const account = env.accounts[1]!;
    env.sim.injectFaults([{ kind: 'account-unavailable', accountId: account.jpmAccountId }]);
    for (const mode of ['intraday', 'prior_day'] as const) {
      const err = await caught(() => env.sync(account.id, { mode }));
      expect(err, mode).toMatchObject({ code: 'jpm_unavailable', retryable: true, bankErrorCode: 'GCA-099' });
    }
    env.sim.clearFaults();
  });
});

describe('a balance range longer than one call (31 days)', () => {
  let t: TestDb;
  let env: SimBank;
  beforeAll(async () => {
    t = await createTestDb();
    env = await startSimBank(t.db, { today: TODAY, historyDays: 45, txPerDay: 1, accounts: 1 });
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  it("keeps each window's own currency and scale: a later window in another currency is never scaled by the first's", async () => {
    const account = env.accounts[0]!;
    const from = addDays(DAY, -40);
    // The first window answers as usual, every later one in EUR with 3 decimal places (amounts as sent).
    env.sim.injectFaults([{ kind: 'other-currency', path: '/accessapi/balance', after: 1 }]);
    const answer = await env.client.getBalances({
      startDate: from,
      endDate: DAY,
      accounts: [{ accountId: account.jpmAccountId }],
    });
    env.sim.clearFaults();
    expect(answer.requestIds.length).toBeGreaterThan(1);
    const { balances } = normalizeBalances(answer.accounts);
    const firstWindowEnd = addDays(from, 30);
    expect(balances.length).toBeGreaterThan(0);
    for (const b of balances) {
      const truth = env.sim.view(account.jpmAccountId, b.asOfDate).final!;
      if (b.asOfDate <= firstWindowEnd) {
        expect(b).toMatchObject({ currency: account.currency, decimalLocation: 2 });
        expect(b.endingLedgerMinor).toBe(BigInt(truth.endingLedgerMinor));
      } else {
        expect(b).toMatchObject({ currency: 'EUR', decimalLocation: 3 });
        expect(b.endingLedgerMinor).toBe(BigInt(truth.endingLedgerMinor) * 10n);
      }
    }
    expect(balances.some((b) => b.asOfDate > firstWindowEnd)).toBe(true);
  });
});
