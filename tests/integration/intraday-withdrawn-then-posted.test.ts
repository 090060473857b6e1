import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WindowJob } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { recordJson, statusesOf, syncOnePageWalks } from '../helpers/scripted-bank.ts';

/**
 * An intraday item the bank withdrew from its current-day view during the day (removed, `withdrawn_intraday`) that
 * posts all the same in the day's prior-day data: the posted item must name it (`supersedes`) as it names any pending
 * item it replaced, with a decision and change events, beside the live pending items of the day.
 * Through the real sync into real Postgres, with a bank scripted page by page.
 */
const D1 = '2026-11-19';
const D2 = '2026-11-20';
const JPM_ACCOUNT = '000000011116609';

describe('an intraday item withdrawn during its day that posts', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('is linked to its posted item (removed → superseded), beside the live pending items of the day', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const rec = (id: string, postCode: 'I' | 'P', ref: string, amount = '1.00') =>
      recordJson({ id, account: JPM_ACCOUNT, date: D1, amount, postCode, bankReference: ref });
    const sync = (mode: WindowJob['mode'], today: string, ...walks: string[][]) =>
      syncOnePageWalks(t.db, account, { bankDay: D1, today, mode }, walks);
    const rows = () => statusesOf(t.db, account.id);
    const row = (jpmId: string) =>
      t.db
        .selectFrom('transactions')
        .select(['id', 'superseded_by'])
        .where('account_id', '=', account.id)
        .where('jpm_transaction_id', '=', jpmId)
        .executeTakeFirstOrThrow();

    // W is withdrawn during D1 (two walks agree); L, pending, carries W's reference with another amount.
    await sync('intraday', D1, [rec('C-W', 'I', 'RW'), rec('C-L', 'I', 'RW', '2.00'), rec('C-K', 'I', 'RK')]);
    const after = [rec('C-L', 'I', 'RW', '2.00'), rec('C-K', 'I', 'RK')];
    expect(await sync('intraday', D1, after, after)).toMatchObject({ removed: 1 });
    expect(await rows()).toEqual({ 'C-W': 'removed', 'C-L': 'pending', 'C-K': 'pending' });
    const lastEvent = await t.db
      .selectFrom('change_events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirstOrThrow();

    // D1's prior-day data: W's item posted (same amount and reference), K posted, and one posting of 2.00 under RW.
    await sync('prior_day', D2, [rec('P-W', 'P', 'RW'), rec('P-K', 'P', 'RK'), rec('P-L', 'P', 'RW', '2.00')]);
    expect(await rows()).toEqual({
      'C-W': 'superseded',
      'C-L': 'superseded',
      'C-K': 'superseded',
      'P-W': 'posted',
      'P-K': 'posted',
      'P-L': 'posted',
    });
    const [w, pw, l, pl] = await Promise.all([row('C-W'), row('P-W'), row('C-L'), row('P-L')]);
    expect(w.superseded_by).toBe(pw.id);
    expect(l.superseded_by).toBe(pl.id);
    const decided = await t.db
      .selectFrom('transaction_decisions')
      .select(['decision', 'rule', 'related_transaction_id', 'evidence'])
      .where('transaction_id', '=', w.id)
      .orderBy('id')
      .execute();
    expect(decided.map((d) => [d.decision, d.rule, d.related_transaction_id])).toEqual([
      ['removed', 'withdrawn_intraday', null],
      ['superseded', 'exact', pw.id],
    ]);
    expect(decided[1]!.evidence).toMatchObject({ previousStatus: 'removed', previousRule: 'withdrawn_intraday' });
    const events = await t.db
      .selectFrom('change_events')
      .select(['entity_id', 'kind'])
      .where('entity_id', 'in', [w.id, pw.id])
      .where('id', '>', String(lastEvent.id))
      .execute();
    // W had left the live set already: it only gains its link; the posted row now names it.
    expect(events.filter((e) => e.entity_id === w.id).map((e) => e.kind)).toEqual(['modified']);
    expect(events.filter((e) => e.entity_id === pw.id).map((e) => e.kind)).toContain('modified');

    // The same prior-day data again changes nothing.
    const again = await sync('prior_day', D2, [
      rec('P-W', 'P', 'RW'),
      rec('P-K', 'P', 'RK'),
      rec('P-L', 'P', 'RW', '2.00'),
    ]);
    expect(again).toMatchObject({ superseded: 0, removed: 0 });
  });
});
