import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { bai2Groups, type Bai2Item } from '../factories/bai2.ts';
import { wireTransaction } from '../factories/transactions.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { syncOnePageWalks } from '../helpers/scripted-bank.ts';

/**
 * A day stored by the API (a complete prior-day walk), then an operator's upload of an interim previous-day BAI2 report
 * of the same account and day (as-of-date modifier 1) whose items leave out a reference the API's records carry. The
 * interim report adds nothing to the complete one stored, so it is read and writes nothing: no second row of an item,
 * the day's fetch evidence and live set as the API left them. Through the real sync (a bank scripted page by page)
 * and the admin API's upload into real Postgres.
 */
const DAY = '2026-11-30';

describe('an interim previous-day BAI2 file of a day the API stored in full', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await createTestApi();
  });
  afterAll(async () => {
    await api.close();
  });

  /** An account whose day DAY the API stored from a complete prior-day walk of $200.00 debits (id, bank and customer reference). */
  async function storedByApi(items: readonly [string, string, string][]) {
    const account = await createAccount(api.t.db, await createTenancy(api.t.db));
    const rec = ([id, bankReference, customerReference]: [string, string, string]) =>
      JSON.stringify(
        wireTransaction({
          transactionId: id,
          jpmAccountId: account.jpmAccountId,
          asOfDate: DAY,
          direction: 'DEBIT',
          amount: '200.00',
          baiTypeCode: '495',
          bankReference,
          customerReference,
          shortDescription: `ITEM ${bankReference}`,
        }),
      ).replace('"amount":"200.00"', '"amount":200.00');
    await syncOnePageWalks(api.t.db, account, { bankDay: DAY, today: '2026-12-01', mode: 'prior_day' }, [
      items.map(rec),
    ]);
    const upload = (file: string) =>
      request(api.app)
        .post(`/v1/accounts/${account.id}/statements`)
        .set(bearer(api.adminKey))
        .set('Content-Type', 'text/plain')
        .send(file);
    const interim = (lines: Bai2Item[]) =>
      bai2Groups([{ date: '261130', modifier: '1', account: account.jpmAccountId, items: lines }]);
    const stored = async () =>
      (
        await api.t.db
          .selectFrom('transactions')
          .select(['jpm_transaction_id', 'bank_reference', 'customer_reference', 'status', 'source'])
          .where('account_id', '=', account.id)
          .orderBy('jpm_transaction_id')
          .execute()
      ).map((r) => `${r.jpm_transaction_id} ${r.bank_reference}/${r.customer_reference} ${r.status} ${r.source}`);
    const evidence = () =>
      api.t.db
        .selectFrom('bank_day_fetches')
        .select(['record_count', 'debits_minor', 'sync_run_id', 'read_at'])
        .where('account_id', '=', account.id)
        .where('booking_date', '=', DAY)
        .executeTakeFirstOrThrow();
    return { upload, interim, stored, evidence };
  }
  const debit = (bankRef: string, custRef: string): Bai2Item => ({
    type: '495',
    amount: 20_000n,
    bankRef,
    custRef,
    text: 'ITEM',
  });

  it('an item without the bank reference the two API look-alikes carry writes nothing', async () => {
    const { upload, interim, stored, evidence } = await storedByApi([
      ['API-2', 'B2', ''],
      ['API-3', 'B3', ''],
    ]);
    const [rowsBefore, evidenceBefore] = [await stored(), await evidence()];
    expect(rowsBefore).toEqual(['API-2 B2/ posted jpm_api', 'API-3 B3/ posted jpm_api']);
    const res = await upload(interim([debit('', '')])).expect(201);
    expect(res.body).toMatchObject({ days: [], run: { status: 'succeeded', counts: { inserted: 0, updated: 0 } } });
    expect(await stored()).toEqual(rowsBefore);
    expect(await evidence()).toEqual(evidenceBefore);
  });

  it('items the file tells apart by customer reference, the API by bank reference, write nothing', async () => {
    const { upload, interim, stored, evidence } = await storedByApi([
      ['API-2', 'B2', ''],
      ['API-3', 'B3', ''],
    ]);
    const [rowsBefore, evidenceBefore] = [await stored(), await evidence()];
    await upload(interim([debit('', 'C1'), debit('', 'C2')])).expect(201);
    expect(await stored()).toEqual(rowsBefore);
    expect(await evidence()).toEqual(evidenceBefore);
  });

  it('an item beyond the stored ones (a third $200.00 debit) is still refused (409), nothing written', async () => {
    const { upload, interim, stored } = await storedByApi([
      ['API-2', 'B2', ''],
      ['API-3', 'B3', ''],
    ]);
    const rowsBefore = await stored();
    const refused = expectProblem(
      await upload(interim([debit('', ''), debit('', ''), debit('', '')])),
      409,
      'statement_interim_conflict',
    );
    expect(refused.detail).toContain(DAY);
    expect(await stored()).toEqual(rowsBefore);
  });
});
