import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSyncRun, getSyncRun } from '../../src/storage/sync-runs.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { accountRecords, statusesOf, syncOnePageWalks } from '../helpers/scripted-bank.ts';

/**
 * The current-day snapshot of a later business day lists intraday items under an earlier day whose prior-day data is
 * stored already (a late listing under a closed date). The closed day's live set stays its final data: an item that
 * is a posting of that day is linked to it at once, one the day's final data lacks leaves the live set as not in the
 * prior day (a decision naming the late listing); real money is still linked when the look-back finds it posted.
 * Through the real sync into real Postgres, with a bank scripted page by page.
 */
const D1 = '2026-11-19';
const D2 = '2026-11-20';
const D3 = '2026-11-23';
const JPM_ACCOUNT = '000000011116621';

describe('an intraday item listed under a closed business day', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it("never reopens the closed day's live set, and is linked once it posts", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const rec = accountRecords(JPM_ACCOUNT);
    const sync = (mode: 'intraday' | 'prior_day', bankDay: string, today: string, ...walks: string[][]) =>
      syncOnePageWalks(t.db, account, { bankDay, today, mode }, walks);
    const statuses = () => statusesOf(t.db, account.id, true);
    const decisions = async (jpmId: string) =>
      t.db
        .selectFrom('transaction_decisions as d')
        .innerJoin('transactions as t', 't.id', 'd.transaction_id')
        .select(['d.decision', 'd.rule', 'd.evidence', 'd.related_transaction_id'])
        .where('t.account_id', '=', account.id)
        .where('t.jpm_transaction_id', '=', jpmId)
        .orderBy('d.id')
        .execute();

    await sync('intraday', D1, D1, [rec('C-A', D1, 'I', 'RA'), rec('C-B', D1, 'I', 'RB')]);
    // D1 closes: A posts, B does not; X posts without having been listed intraday.
    await sync('prior_day', D1, D2, [rec('P-A', D1, 'P', 'RA'), rec('P-X', D1, 'P', 'RX')]);
    expect(await statuses()).toMatchObject({ 'C-A': `superseded ${D1}`, 'C-B': `removed ${D1}` });

    // D2's snapshot lists, under D1: B again, X under an intraday id, and N never seen; C is D2's own.
    const d2 = [
      rec('C-B', D1, 'I', 'RB'),
      rec('C-X', D1, 'I', 'RX'),
      rec('C-N', D1, 'I', 'RN'),
      rec('C-C', D2, 'I', 'RC'),
    ];
    const counts = await sync('intraday', D2, D2, d2, d2);
    expect(counts).toMatchObject({ inserted: 3, superseded: 1, removed: 1 });
    expect(await statuses()).toEqual({
      'C-A': `superseded ${D1}`,
      'C-B': `removed ${D1}`,
      'C-X': `superseded ${D1}`,
      'C-N': `removed ${D1}`,
      'C-C': `pending ${D2}`,
      'P-A': `posted ${D1}`,
      'P-X': `posted ${D1}`,
    });
    const x = await decisions('C-X');
    expect(x.map((d) => [d.decision, d.rule])).toEqual([['superseded', 'exact']]);
    expect(x[0]!.evidence).toMatchObject({ bookingDate: D1, listedAfterClose: { businessDay: D2 } });
    const n = await decisions('C-N');
    expect(n.map((d) => [d.decision, d.rule])).toEqual([['removed', 'not_in_prior_day']]);
    expect(n[0]!.evidence).toMatchObject({ bookingDate: D1, listedAfterClose: { businessDay: D2 } });
    // B's removal stands: no new decision.
    expect((await decisions('C-B')).map((d) => d.rule)).toEqual(['not_in_prior_day']);

    // Another snapshot listing them again changes nothing.
    expect(await sync('intraday', D2, D2, d2, d2)).toMatchObject({
      inserted: 0,
      superseded: 0,
      removed: 0,
      updated: 0,
    });

    // D2 closes; its look-back finds N posted late under D1 (real money): N is linked to it.
    await sync('prior_day', D2, D3, [
      rec('P-A', D1, 'P', 'RA'),
      rec('P-X', D1, 'P', 'RX'),
      rec('P-N', D1, 'P', 'RN'),
      rec('P-C', D2, 'P', 'RC'),
    ]);
    expect(await statuses()).toMatchObject({
      'C-N': `superseded ${D1}`,
      'C-B': `removed ${D1}`,
      'C-C': `superseded ${D2}`,
      'P-N': `posted ${D1}`,
    });
  });

  it('keeps an item listed under a closed day pending while that day holds a posted record we could not read, and says so', async () => {
    const tenancy = await createTenancy(t.db);
    const account = await createAccount(t.db, tenancy, { jpmAccountId: '000000011116622' });
    const rec = accountRecords('000000011116622');
    const sync = async (mode: 'intraday' | 'prior_day', bankDay: string, today: string, ...walks: string[][]) => {
      const runId = await createSyncRun(t.db, {
        organizationId: tenancy.organizationId,
        integrationId: tenancy.integrationId,
        accountId: account.id,
        trigger: 'manual',
        mode,
      });
      const counts = await syncOnePageWalks(t.db, account, { bankDay, today, mode, runId }, walks);
      return { counts, warnings: (await getSyncRun(t.db, runId))?.warnings };
    };
    // D1's prior-day data holds a record whose amount cannot be read: it may be the posting of what is listed later.
    await sync('prior_day', D1, D2, [rec('P-A', D1, 'P', 'RA'), rec('P-U', D1, 'P', 'RN', '"1,00"')]);
    const d2 = [rec('C-N', D1, 'I', 'RN'), rec('C-C', D2, 'I', 'RC')];
    const listed = await sync('intraday', D2, D2, d2, d2);
    expect(listed.counts).toMatchObject({ inserted: 2, superseded: 0, removed: 0 });
    expect(await statusesOf(t.db, account.id, true)).toMatchObject({ 'C-N': `pending ${D1}`, 'C-C': `pending ${D2}` });
    // Pending under a closed day: counted in its live set, and in a later day's too should the bank post it there. The
    // operator is told which day holds it and why, rather than read that every listed item was resolved.
    expect(listed.warnings).toEqual([
      expect.objectContaining({ code: 'listed_after_close', dates: [D1] }),
      expect.objectContaining({ code: 'pending_held_unreadable', dates: [D1] }),
    ]);
  });
});
