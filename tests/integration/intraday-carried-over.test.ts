import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WindowJob } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { accountRecords, statusesOf, syncOnePageWalks } from '../helpers/scripted-bank.ts';

/**
 * An intraday item that did not post on its day (removed as not in the prior day) and that the bank's current-day
 * snapshot of a later business day shows again under the same id: one id is one row, so the row moves to the day the
 * bank now dates it, and it must be live there (pending), as the bank shows it, until that day's posting resolves it.
 * Through the real sync into real Postgres, with a bank scripted page by page (the simulator never carries an item
 * over).
 */
const D1 = '2026-11-19';
const D2 = '2026-11-20';
const JPM_ACCOUNT = '000000011116605';

describe('an intraday item the bank shows again on a later business day', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  async function setUp() {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const rec = accountRecords(JPM_ACCOUNT);
    /** One window against a bank answering two walks of `records`, its balance answers naming `bankDay`. */
    const sync = (mode: WindowJob['mode'], bankDay: string, today: string, records: string[]) =>
      syncOnePageWalks(t.db, account, { bankDay, today, mode }, [records, records]);
    const rows = () => statusesOf(t.db, account.id, true);
    const idOf = async (jpmId: string) =>
      (
        await t.db
          .selectFrom('transactions')
          .select('id')
          .where('account_id', '=', account.id)
          .where('jpm_transaction_id', '=', jpmId)
          .executeTakeFirstOrThrow()
      ).id;

    return { rec, sync, rows, idOf, account };
  }

  it('is pending on the later day (restored, with a decision and an event), and superseded once it posts there', async () => {
    const { rec, sync, rows, idOf } = await setUp();
    await sync('intraday', D1, D1, [rec('C-A', D1, 'I', 'RA'), rec('C-B', D1, 'I', 'RB')]);
    // D1 closes: A posts, B does not.
    await sync('prior_day', D1, D2, [rec('P-A', D1, 'P', 'RA')]);
    expect(await rows()).toEqual({
      'C-A': `superseded ${D1}`,
      'C-B': `removed ${D1}`,
      'P-A': `posted ${D1}`,
    });
    const lastEvent = await t.db
      .selectFrom('change_events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirstOrThrow();

    // D2's snapshot shows B again, dated D2, under its id.
    const counts = await sync('intraday', D2, D2, [rec('C-B', D2, 'I', 'RB'), rec('C-C', D2, 'I', 'RC')]);
    expect(await rows()).toEqual({
      'C-A': `superseded ${D1}`,
      'C-B': `pending ${D2}`,
      'C-C': `pending ${D2}`,
      'P-A': `posted ${D1}`,
    });
    expect(counts).toMatchObject({ inserted: 1, removed: 0 });
    const b = await idOf('C-B');
    const decided = await t.db
      .selectFrom('transaction_decisions')
      .select(['decision', 'rule', 'evidence'])
      .where('transaction_id', '=', b)
      .orderBy('id')
      .execute();
    expect(decided.map((d) => [d.decision, d.rule])).toEqual([
      ['removed', 'not_in_prior_day'],
      ['restored', 'shown_again_intraday'],
    ]);
    expect(decided[1]!.evidence).toMatchObject({ bookingDate: D2, previousRule: 'not_in_prior_day' });
    const events = await t.db
      .selectFrom('change_events')
      .select('kind')
      .where('entity_id', '=', b)
      .where('id', '>', String(lastEvent.id))
      .execute();
    expect(events.map((e) => e.kind)).toContain('modified');

    // D2 closes with B posted: its pending row is superseded, never a second live row.
    await sync('prior_day', D2, '2026-11-23', [rec('P-B', D2, 'P', 'RB'), rec('P-C', D2, 'P', 'RC')]);
    expect(await rows()).toEqual({
      'C-A': `superseded ${D1}`,
      'C-B': `superseded ${D2}`,
      'C-C': `superseded ${D2}`,
      'P-A': `posted ${D1}`,
      'P-B': `posted ${D2}`,
      'P-C': `posted ${D2}`,
    });
  });
  it('is pending on the later day when it had been linked to a posted look-alike, which a look-alike then takes', async () => {
    const { rec, sync, rows, idOf } = await setUp();
    // Two identical pending items on D1 (same reference and amount); D1 posts one of them.
    await sync('intraday', D1, D1, [rec('C-A1', D1, 'I', 'RA'), rec('C-A2', D1, 'I', 'RA')]);
    await sync('prior_day', D1, D2, [rec('P-A', D1, 'P', 'RA')]);
    expect(await rows()).toEqual({
      'C-A1': `superseded ${D1}`,
      'C-A2': `removed ${D1}`,
      'P-A': `posted ${D1}`,
    });
    const posted = await idOf('P-A');

    // The one we linked is the one the bank shows pending on D2: the link was the look-alike's.
    const counts = await sync('intraday', D2, D2, [rec('C-A1', D2, 'I', 'RA')]);
    expect(counts).toMatchObject({ removed: 0 });
    expect(await rows()).toEqual({
      'C-A1': `pending ${D2}`,
      'C-A2': `removed ${D1}`,
      'P-A': `posted ${D1}`,
    });
    const a1 = await idOf('C-A1');
    const link = await t.db
      .selectFrom('transactions')
      .select('superseded_by')
      .where('id', '=', a1)
      .executeTakeFirstOrThrow();
    expect(link.superseded_by).toBeNull();
    const decided = await t.db
      .selectFrom('transaction_decisions')
      .select(['decision', 'rule', 'related_transaction_id', 'evidence'])
      .where('transaction_id', '=', a1)
      .orderBy('id')
      .execute();
    expect(decided.map((d) => [d.decision, d.rule])).toEqual([
      ['superseded', 'exact'],
      ['restored', 'shown_again_intraday'],
    ]);
    expect(decided[1]!.related_transaction_id).toBe(posted);
    expect(decided[1]!.evidence).toMatchObject({ bookingDate: D2, previousRule: 'exact', previousBookingDate: D1 });
    // The posted row no longer names it (`supersedes`): it changed, with an event.
    const postedEvents = await t.db
      .selectFrom('change_events')
      .select('kind')
      .where('entity_id', '=', posted)
      .execute();
    expect(postedEvents.map((e) => e.kind)).toEqual(['added', 'modified', 'modified']);

    // D2 closes (its look-back covers D1): the look-alike takes the D1 posting, C-A1 its own D2 posting.
    await sync('prior_day', D2, '2026-11-23', [rec('P-A', D1, 'P', 'RA'), rec('P-A1', D2, 'P', 'RA')]);
    expect(await rows()).toEqual({
      'C-A1': `superseded ${D2}`,
      'C-A2': `superseded ${D1}`,
      'P-A': `posted ${D1}`,
      'P-A1': `posted ${D2}`,
    });
  });
  it("keeps an item removed as never posted when a snapshot naming the item's own, closed day shows it", async () => {
    const { rec, sync, rows } = await setUp();
    await sync('intraday', D1, D1, [rec('C-A', D1, 'I', 'RA'), rec('C-B', D1, 'I', 'RB')]);
    await sync('prior_day', D1, D2, [rec('P-A', D1, 'P', 'RA')]);
    // Answers that disagree: a current-day snapshot and balance still on D1 after its prior-day data was final. The
    // resolution of the closed day stands; only an item the bank dates on a later day is pending again.
    expect(await sync('intraday', D1, D2, [rec('C-A', D1, 'I', 'RA'), rec('C-B', D1, 'I', 'RB')])).toMatchObject({
      updated: 0,
    });
    expect(await rows()).toEqual({
      'C-A': `superseded ${D1}`,
      'C-B': `removed ${D1}`,
      'P-A': `posted ${D1}`,
    });
  });
});
