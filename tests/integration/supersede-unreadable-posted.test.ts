import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSyncRun, getSyncRun } from '../../src/storage/sync-runs.repo.ts';
import { syncAccountWindow, type WindowJob } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { onePageWalk, recordJson, scriptedBank, scriptedDeps } from '../helpers/scripted-bank.ts';

/**
 * Pending → posted when the prior-day answer holds the posted counterpart in a form we cannot read (its amount
 * `"12,50"`): the pending item is not declared absent from the prior day while its day holds an unreadable record,
 * and is superseded once the posted record is stored. A pending item removed as not in the prior day is still
 * linked to a posted record of its day stored later. A pending item kept only because its day holds an unreadable
 * record is named in the run's warnings (`pending_held_unreadable`): the bank may have posted it under a later day.
 */
const DAY = '2026-10-05';
const TODAY = '2026-11-20';
const JPM_ACCOUNT = '000000011116605';

describe('pending → posted when the posted counterpart could not be read', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  async function setUp() {
    const tenancy = await createTenancy(t.db);
    const account = await createAccount(t.db, tenancy, { jpmAccountId: JPM_ACCOUNT });
    const record = (id: string, postCode: 'I' | 'P', amount: string, date = DAY, bankReference = 'W1') =>
      recordJson({ id, account: JPM_ACCOUNT, date, amount, postCode, bankReference });
    const newRun = (mode: 'intraday' | 'range') =>
      createSyncRun(t.db, {
        organizationId: tenancy.organizationId,
        integrationId: tenancy.integrationId,
        accountId: account.id,
        trigger: 'manual',
        mode,
      });
    /** Each call syncs one window against a bank that answers it with `records`. */
    const syncDay = async (day: string, mode: 'intraday' | 'range', ...records: string[]) => {
      const runId = await newRun(mode);
      const job: WindowJob =
        mode === 'intraday'
          ? { runId, accountId: account.id, mode, kinds: ['transactions'] }
          : { runId, accountId: account.id, mode, from: day, to: day, kinds: ['transactions'] };
      const counts = await syncAccountWindow(scriptedDeps(t.db, scriptedBank([onePageWalk(records)]), TODAY), job);
      return { runId, counts };
    };
    const sync = (mode: 'intraday' | 'range', ...records: string[]) => syncDay(DAY, mode, ...records);
    const rows = () =>
      t.db
        .selectFrom('transactions')
        .select(['id', 'jpm_transaction_id', 'status', 'superseded_by'])
        .where('account_id', '=', account.id)
        .orderBy('jpm_transaction_id')
        .execute();
    const live = async () =>
      (await rows()).filter((r) => r.status === 'pending' || r.status === 'posted').map((r) => r.jpm_transaction_id);
    const decisions = () =>
      t.db
        .selectFrom('transaction_decisions as d')
        .innerJoin('transactions as t', 't.id', 'd.transaction_id')
        .select(['t.jpm_transaction_id', 'd.decision', 'd.rule', 'd.related_transaction_id', 'd.evidence'])
        .where('d.account_id', '=', account.id)
        .orderBy('d.id')
        .execute();
    const events = (entityId: string) =>
      t.db
        .selectFrom('change_events')
        .select('kind')
        .where('entity_id', '=', entityId)
        .orderBy('id')
        .execute()
        .then((r) => r.map((e) => e.kind));
    return { record, sync, syncDay, rows, live, decisions, events };
  }

  it('the pending item stays pending while its day holds an unreadable record, and is superseded once the posted record is stored', async () => {
    const { record, sync, rows, live, decisions } = await setUp();
    await sync('intraday', record('TXN-C-1', 'I', '12.50'));
    expect(await live()).toEqual(['TXN-C-1']);

    const rejected = await sync('range', record('TXN-P-1', 'P', '"12,50"'));
    expect(rejected.counts).toMatchObject({ rejected: 1, removed: 0, superseded: 0 });
    expect(await getSyncRun(t.db, rejected.runId)).toMatchObject({ removed: 0 });
    // Still live: the bank's answer for its day holds a record we could not read, perhaps its posted counterpart.
    expect(await live()).toEqual(['TXN-C-1']);
    expect(await decisions()).toEqual([]);

    const readable = await sync('range', record('TXN-P-1', 'P', '12.50'));
    expect(readable.counts).toMatchObject({ inserted: 1, superseded: 1, removed: 0 });
    const [pending, posted] = await rows();
    expect(pending).toMatchObject({ jpm_transaction_id: 'TXN-C-1', status: 'superseded', superseded_by: posted!.id });
    expect(posted).toMatchObject({ jpm_transaction_id: 'TXN-P-1', status: 'posted' });
    expect(await live()).toEqual(['TXN-P-1']);
    expect((await decisions()).map((d) => [d.jpm_transaction_id, d.decision, d.rule])).toEqual([
      ['TXN-C-1', 'superseded', 'exact'],
    ]);
  });

  it('an item the bank posts under the next business day, while its own day holds an unreadable record, stays pending there and the runs say so', async () => {
    const { record, syncDay, live, decisions } = await setUp();
    const NEXT = '2026-10-06';
    const warnings = async (runId: string) => (await getSyncRun(t.db, runId))?.warnings ?? [];
    await syncDay(DAY, 'intraday', record('TXN-C-5', 'I', '40.00'));
    // DAY's final data lacks the item (it posts the next business day) and holds another item we cannot read.
    const held = await syncDay(DAY, 'range', record('TXN-P-U', 'P', '"3,00"', DAY, 'OTHER'));
    expect(held.counts).toMatchObject({ rejected: 1, removed: 0 });
    expect(await live()).toEqual(['TXN-C-5']);
    // Kept, as the unreadable record may be its posting; never silently: the run names the day.
    expect(await warnings(held.runId)).toEqual([
      expect.objectContaining({ code: 'pending_held_unreadable', dates: [DAY] }),
    ]);
    // The bank posts it under the next business day, its business date for it, with a new id: counted there as well
    // while the reject stands, as the warning said.
    const next = await syncDay(NEXT, 'range', record('TXN-P-5', 'P', '40.00', NEXT));
    expect(next.counts).toMatchObject({ inserted: 1, superseded: 0, removed: 0 });
    expect(await live()).toEqual(['TXN-C-5', 'TXN-P-5']);
    // Once DAY's record is read, the pending item leaves DAY's live set: the money counts once, on the next day.
    const read = await syncDay(DAY, 'range', record('TXN-P-U', 'P', '3.00', DAY, 'OTHER'));
    expect(read.counts).toMatchObject({ inserted: 1, removed: 1 });
    expect(await warnings(read.runId)).toEqual([]);
    expect(await live()).toEqual(['TXN-P-5', 'TXN-P-U']);
    expect((await decisions()).map((d) => [d.jpm_transaction_id, d.decision, d.rule])).toEqual([
      ['TXN-C-5', 'removed', 'not_in_prior_day'],
    ]);
  });

  it('an unreadable record without a readable date keeps every pending item of the window', async () => {
    const { record, sync, live, decisions } = await setUp();
    await sync('intraday', record('TXN-C-2', 'I', '7.00'));
    // Its date cannot be read, so it may belong to any day of the window.
    const rejected = await sync('range', record('TXN-P-2', 'P', '7.00', '05/10/2026'));
    expect(rejected.counts).toMatchObject({ rejected: 1, removed: 0 });
    expect(await live()).toEqual(['TXN-C-2']);
    expect(await decisions()).toEqual([]);
    // A complete answer that reads every record and lacks the item does remove it.
    expect((await sync('range')).counts).toMatchObject({ removed: 1 });
    expect(await live()).toEqual([]);
  });

  it('a pending item removed as not in the prior day is linked to a posted record of its day stored later', async () => {
    const { record, sync, rows, live, decisions, events } = await setUp();
    await sync('intraday', record('TXN-C-3', 'I', '9.00'));
    // The prior day shows nothing for the item: it leaves the live set.
    expect((await sync('range')).counts).toMatchObject({ removed: 1 });
    const [removed] = await rows();
    expect(removed).toMatchObject({ jpm_transaction_id: 'TXN-C-3', status: 'removed', superseded_by: null });

    // A later look-back finds it posted (a late posting): the removed row takes its link, once.
    const late = await sync('range', record('TXN-P-3', 'P', '9.00'));
    expect(late.counts).toMatchObject({ inserted: 1, superseded: 1, removed: 0 });
    const after = await rows();
    expect(after[0]).toMatchObject({
      jpm_transaction_id: 'TXN-C-3',
      status: 'superseded',
      superseded_by: after[1]!.id,
    });
    expect(await live()).toEqual(['TXN-P-3']);
    const decided = await decisions();
    expect(decided.map((d) => [d.jpm_transaction_id, d.decision, d.rule])).toEqual([
      ['TXN-C-3', 'removed', 'not_in_prior_day'],
      ['TXN-C-3', 'superseded', 'exact'],
    ]);
    expect(decided[1]!.evidence).toMatchObject({ previousStatus: 'removed', previousRule: 'not_in_prior_day' });
    // It had left the live set already: the feed says it changed (its link), not that it left again.
    expect(await events(removed!.id)).toEqual(['added', 'removed', 'modified']);

    expect((await sync('range', record('TXN-P-3', 'P', '9.00'))).counts).toMatchObject({ superseded: 0, removed: 0 });
    expect(await decisions()).toHaveLength(2);
  });
});
