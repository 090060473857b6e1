import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTransactionRecords } from '../../src/jpm/records.ts';
import { importStatementFile } from '../../src/main/statement-import.ts';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import { parseJsonLossless } from '../../src/shared/json.ts';
import type { WireTransaction } from '../../src/jpm/wire.schemas.ts';
import { lockAccountForWrite } from '../../src/storage/transactions.repo.ts';
import { ingestTransactionPage, type AccountRef } from '../../src/sync/ingest.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction, type WireOptions } from '../factories/transactions.ts';
import { bai2File, type Bai2Item } from '../factories/bai2.ts';

/**
 * A page reads what the account holds (open transaction rejects, any alias, any row of another channel than the API:
 * `accountWriteState`) in a statement of its own after the account's write lock, and skips the reject resolve, the
 * alias lookup and the loose-match candidates when the account has none. Correct only because that statement's
 * snapshot is taken after the lock is granted: read before it, a page waiting for the lock misses what the page
 * holding it wrote. Each test queues page A, then page B, behind a transaction holding the lock (both confirmed
 * waiting in pg_locks, no timing); A writes the reject, the aliases or the other channel's row and commits, then B
 * must see it. Each fails with the state read before the lock.
 */
const DAY = '2026-11-02';
const FIXTURES = join(import.meta.dirname, '../fixtures/jpm/ok');

type Json = Record<string, unknown>;

const fee = (custRef: string): Bai2Item => ({
  type: '698',
  amount: 2500n,
  bankRef: '6680134283FA',
  custRef,
  text: 'SERVICE FEE',
});

/** The API's record of a $25.00 fee without the customer reference the file carries. */
function apiFee(jpmAccountId: string, o: Partial<WireOptions> = {}): WireTransaction {
  return wireTransaction({
    transactionId: 'FEE-1',
    jpmAccountId,
    asOfDate: DAY,
    valueDate: null,
    direction: 'DEBIT',
    amount: '25.00',
    baiTypeCode: '698',
    bankReference: '6680134283FA',
    customerReference: '',
    shortDescription: 'SERVICE FEE',
    ...o,
  });
}

describe('a page sees what the page before it wrote while it waited for the account lock', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  /** Transactions of this database waiting for the account's write lock (`lockAccountForWrite`'s key). */
  async function waiting(accountId: string): Promise<number> {
    const r = await sql<{ n: number }>`
      select count(*)::int as n from pg_locks l, (select hashtextextended(${`account-write:${accountId}`}, 0) as k) key
      where l.locktype = 'advisory' and not l.granted and l.database = (select oid from pg_database where datname = current_database())
        and l.classid::bigint = (key.k >> 32) & 4294967295 and l.objid::bigint = key.k & 4294967295`.execute(t.db);
    return r.rows[0]!.n;
  }

  /**
   * Until `n` transactions wait for the account's lock. A page that ends first (its error, or done without ever
   * waiting) fails the test with that error, not with a timeout; the wait is bounded all the same (30 s).
   */
  async function untilWaiting(
    accountId: string,
    n: number,
    page: string,
    pages: readonly Promise<unknown>[],
  ): Promise<void> {
    const tick = Symbol('tick');
    const ended = Promise.race(pages).then(
      () => new Error(`a page ended before ${page} waited for the account lock`),
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    for (const deadline = Date.now() + 30_000; ;) {
      const w = await waiting(accountId);
      if (w >= n) {
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(`${page} never waited for the account lock (${w} waiting)`);
      }
      const err = await Promise.race([ended, new Promise<typeof tick>((r) => setTimeout(r, 10, tick))]);
      if (err !== tick) {
        throw err;
      }
    }
  }

  /**
   * Runs page A, then page B, each queued behind a transaction holding the account's lock: the lock grants them in
   * that order once it is released, so B takes the lock after A committed, its waiting begun before A wrote anything.
   */
  async function raced<A, B>(account: AccountRef, a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let locked!: () => void;
    const holding = new Promise<void>((r) => {
      locked = r;
    });
    const holder = t.db.transaction().execute(async (trx) => {
      await lockAccountForWrite(trx, account.id);
      locked();
      await released;
    });
    // Whatever fails, the holder lets go, and the pages started end before this returns (their clients back in the
    // pool, nothing running on into the next test or afterAll); bounded, so a page that hangs anyway does not hide
    // the error that ended the wait.
    const pages: Promise<unknown>[] = [];
    let pageA: Promise<A>;
    let pageB: Promise<B>;
    try {
      await Promise.race([holding, holder]);
      pageA = a();
      pages.push(pageA);
      await untilWaiting(account.id, 1, 'page A', pages);
      pageB = b();
      pages.push(pageB);
      await untilWaiting(account.id, 2, 'page B', pages);
    } finally {
      release();
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([holder, ...pages]), new Promise((r) => (bound = setTimeout(r, 20_000)))]);
      clearTimeout(bound);
    }
    await holder;
    return Promise.all([pageA, pageB]);
  }

  it("open reject: the bad record's reject opened by page A is resolved as stored by page B, which has the record usable", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    // A record in the bank's JSON shape (what the wire check reads), its amount missing on page A.
    const base = (parseJsonLossless(readFileSync(join(FIXTURES, 'padded-references.json'), 'utf8')) as { record: Json })
      .record;
    const good = {
      ...base,
      transactionId: 'BAD-1',
      account: { ...(base.account as Json), accountId: account.jpmAccountId },
      postCode: 'P',
      asOfDate: DAY,
      debitCreditCode: 'CREDIT',
    };
    const bad = { ...good, amount: null };
    // As a sync reads a page: the wire check names the bad record, normalization the rest.
    const page = (records: readonly unknown[]) => {
      const wire = parseTransactionRecords(records);
      const p = normalizeTransactions(wire.records, new OccurrenceCounter(), 0, { requested: 'prior_day' });
      return ingestTransactionPage(
        t.db,
        account,
        { records: p.records, rejects: [...wire.rejects, ...p.rejects], fetched: records.length },
        null,
      );
    };
    const [a, b] = await raced(
      account,
      () => page([bad]),
      () => page([good]),
    );
    expect(a).toMatchObject({ inserted: 0, rejected: 1 });
    expect(b).toMatchObject({ inserted: 1, rejected: 0 });
    const rejects = await t.db
      .selectFrom('sync_rejects')
      .select(['jpm_transaction_id', 'resolution'])
      .where('account_id', '=', account.id)
      .execute();
    expect(rejects).toEqual([{ jpm_transaction_id: 'BAD-1', resolution: 'stored' }]);
  });

  it("alias: two API fees without ids that page A matched to the file's two rows; page B with one of them finds its alias, storing nothing", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    await importStatementFile(t.db, {
      accountId: account.id,
      text: bai2File(account.jpmAccountId, [fee('FEE-A'), fee('FEE-B')]),
      trigger: 'manual',
    });
    const idless = apiFee(account.jpmAccountId, { transactionId: '' });
    // A: 2 against 2, paired by the rule and recorded as aliases. B alone is 1 against 2, which the rule leaves
    // apart: only the alias of its key (occurrence 1) says which row it is.
    const [a, b] = await raced(
      account,
      () => ingestWire(t.db, account, [idless, idless]),
      () => ingestWire(t.db, account, [idless]),
    );
    expect(a).toMatchObject({ inserted: 0, unchanged: 2 });
    expect(b).toMatchObject({ inserted: 0, unchanged: 1 });
    const rows = await t.db
      .selectFrom('transactions')
      .select(['source', 'customer_reference'])
      .where('account_id', '=', account.id)
      .orderBy('customer_reference')
      .execute();
    expect(rows).toEqual([
      { source: 'bai2', customer_reference: 'FEE-A' },
      { source: 'bai2', customer_reference: 'FEE-B' },
    ]);
  });

  it("other channel: the file's row page A stored is taken over by the API's record of the item on page B, not stored twice", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const [a, b] = await raced(
      account,
      () =>
        importStatementFile(t.db, {
          accountId: account.id,
          text: bai2File(account.jpmAccountId, [fee('FEE-A')]),
          trigger: 'manual',
        }),
      () => ingestWire(t.db, account, [apiFee(account.jpmAccountId)]),
    );
    expect(a.counts).toMatchObject({ inserted: 1 });
    expect(b).toMatchObject({ inserted: 0, updated: 1 });
    const rows = await t.db
      .selectFrom('transactions')
      .select(['source', 'jpm_transaction_id', 'customer_reference'])
      .where('account_id', '=', account.id)
      .execute();
    expect(rows).toEqual([{ source: 'jpm_api', jpm_transaction_id: 'FEE-1', customer_reference: '' }]);
  });
});
