import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importStatementFile } from '../../src/main/statement-import.ts';
import { setAccountStatus } from '../../src/storage/accounts.repo.ts';
import { lockAccountForWrite } from '../../src/storage/transactions.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { bai2Groups } from '../factories/bai2.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/**
 * A statement import is a sync run: an account that takes no sync (paused, removed or failed) or whose integration is
 * paused or cancelled (final) takes no import either, refused as a sync trigger is (409, the same codes), nothing
 * written. Also when the account is paused while the import waits to store its first page: the import is queued
 * behind a transaction holding the account's write lock (confirmed waiting in pg_locks, no timing), the account is
 * paused, then the lock is let go.
 */
let api: TestApi;
beforeAll(async () => {
  api = await createTestApi();
});
afterAll(async () => {
  await api?.close();
});

const finalReport = (acct: string) =>
  bai2Groups([
    {
      date: '261130',
      modifier: '2',
      account: acct,
      items: [{ type: '495', amount: 20_000n, bankRef: 'B2', custRef: '', text: 'ITEM B2' }],
    },
  ]);

async function stored(accountId: string) {
  const [rows, balances, runs] = await Promise.all([
    api.t.db.selectFrom('transactions').select('id').where('account_id', '=', accountId).execute(),
    api.t.db.selectFrom('balances').select('id').where('account_id', '=', accountId).execute(),
    api.t.db.selectFrom('sync_runs').select(['status', 'error_code']).where('account_id', '=', accountId).execute(),
  ]);
  return { rows: rows.length, balances: balances.length, runs };
}

const upload = (accountId: string, file: string) =>
  request(api.app)
    .post(`/v1/accounts/${accountId}/statements`)
    .set(bearer(api.adminKey))
    .set('Content-Type', 'text/plain')
    .send(file);

describe('a statement file for an account that takes no sync', () => {
  it('409 account_not_active for a paused account, naming its pause; nothing written, no run', async () => {
    const account = await createAccount(api.t.db, await createTenancy(api.t.db));
    await setAccountStatus(api.t.db, account.id, 'paused', 'customer asked to hold');
    const problem = expectProblem(
      await upload(account.id, finalReport(account.jpmAccountId)),
      409,
      'account_not_active',
    );
    expect(problem.detail).toContain('paused (customer asked to hold)');
    expect(problem.detail).toContain('resume');
    expect(await stored(account.id)).toEqual({ rows: 0, balances: 0, runs: [] });
    // Resumed, the same file is imported.
    await setAccountStatus(api.t.db, account.id, 'active', null);
    await upload(account.id, finalReport(account.jpmAccountId)).expect(201);
    expect((await stored(account.id)).rows).toBe(1);
  });

  it('409 integration_paused / integration_cancelled for an account of a paused or cancelled integration', async () => {
    for (const [stage, code] of [
      ['paused', 'integration_paused'],
      ['cancelled', 'integration_cancelled'],
    ] as const) {
      const tenancy = await createTenancy(api.t.db);
      const account = await createAccount(api.t.db, tenancy);
      await sql`update integrations set stage = ${stage} where id = ${tenancy.integrationId}`.execute(api.t.db);
      expectProblem(await upload(account.id, finalReport(account.jpmAccountId)), 409, code);
      expect(await stored(account.id)).toEqual({ rows: 0, balances: 0, runs: [] });
    }
  });
});

/** Transactions of this database waiting for the account's write lock. */
async function waiting(accountId: string): Promise<number> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from pg_locks l, (select hashtextextended(${`account-write:${accountId}`}, 0) as k) key
    where l.locktype = 'advisory' and not l.granted and l.database = (select oid from pg_database where datname = current_database())
      and l.classid::bigint = (key.k >> 32) & 4294967295 and l.objid::bigint = key.k & 4294967295`.execute(api.t.db);
  return r.rows[0]!.n;
}

describe('a statement import when the account is paused while it waits to store its first page', () => {
  it('is refused (409 account_not_active), nothing written, its run failed with that code', async () => {
    const account = await createAccount(api.t.db, await createTenancy(api.t.db));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const holding = new Promise<void>((r) => (locked = r));
    const holder = api.t.db.transaction().execute(async (trx) => {
      await lockAccountForWrite(trx, account.id);
      locked();
      await released;
    });
    let imported: Promise<unknown> | undefined;
    try {
      await Promise.race([holding, holder]);
      imported = importStatementFile(api.t.db, {
        accountId: account.id,
        text: finalReport(account.jpmAccountId),
        trigger: 'manual',
      });
      const ended = imported.then(
        () => new Error('the import ended before it waited for the account lock'),
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      );
      for (const deadline = Date.now() + 30_000; (await waiting(account.id)) === 0;) {
        if (Date.now() > deadline) {
          throw new Error('the import never waited for the account lock');
        }
        const tick = Symbol('tick');
        const err = await Promise.race([ended, new Promise<typeof tick>((r) => setTimeout(r, 10, tick))]);
        if (err !== tick) {
          throw err;
        }
      }
      await setAccountStatus(api.t.db, account.id, 'paused', 'paused by an operator');
    } finally {
      release();
    }
    await holder;
    await expect(imported).rejects.toMatchObject({ httpStatus: 409, code: 'account_not_active' });
    expect(await stored(account.id)).toEqual({
      rows: 0,
      balances: 0,
      runs: [{ status: 'failed', error_code: 'account_not_active' }],
    });
  });
});
