import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WireTransaction } from '../../src/jpm/wire.schemas.ts';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import type { Database } from '../../src/storage/db.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { BankClient, TransactionPage } from '../../src/sync/bank-client.ts';
import {
  ingestTransactionPage,
  storeHeldRecords,
  type AccountRef,
  type HeldRecords,
  type WalkClaims,
} from '../../src/sync/ingest.ts';
import { syncAccountWindow, type WindowJob } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import {
  currentDayBalance,
  recordJson,
  scriptedBank as scriptedJsonBank,
  scriptedDeps,
  scriptedPage,
} from '../helpers/scripted-bank.ts';

/**
 * Identity across the pages of one walk, through the real path (normalization → ingestTransactionPage into
 * Postgres): a page cuts a day anywhere, so what one page matched or stored is known to the next one.
 */
const DAY = '2026-10-05';

/** One of a day's identical $25.00 fees (same amount, reference and BAI code), each with its own id. */
const fee = (jpmAccountId: string, transactionId: string): WireTransaction =>
  wireTransaction({
    transactionId,
    jpmAccountId,
    asOfDate: DAY,
    amount: '25.00',
    direction: 'DEBIT',
    baiTypeCode: '698',
    bankReference: 'FEE',
    shortDescription: 'SERVICE FEE',
  });

/**
 * Stores one walk of the bank's pages as a sync does: one occurrence count, one set of claims and one set of held
 * records for the walk, the held records stored once its pages are all in.
 */
async function walk(db: Database, account: AccountRef, pages: readonly (readonly WireTransaction[])[]) {
  const occurrences = new OccurrenceCounter();
  const claims: WalkClaims = new Set();
  const held: HeldRecords = [];
  const total = { inserted: 0, updated: 0, unchanged: 0, rejected: 0 };
  const add = (counts: typeof total) => {
    for (const k of Object.keys(total) as (keyof typeof total)[]) {
      total[k] += counts[k];
    }
  };
  for (const records of pages) {
    const page = normalizeTransactions(records, occurrences, 0, { requested: 'prior_day' });
    add(await ingestTransactionPage(db, account, { ...page, fetched: records.length }, null, claims, undefined, held));
  }
  add(await storeHeldRecords(db, account, held, null, claims));
  return total;
}

type Pages = readonly (readonly WireTransaction[])[];

/**
 * The bank's side of the sync port answering each transactions call with the next scripted walk (its pages as the
 * J.P. Morgan client yields them after parsing): the page cuts of a day are what these tests are about.
 */
function scriptedBank(walks: readonly Pages[]): BankClient {
  return walkingBank(walks.map((pages) => [{ slice: 0, pages }]));
}

/**
 * As `scriptedBank`, each call answered by several walks, numbered as the J.P. Morgan client numbers them (jpm-bank.ts
 * `bankClientOf`): a walk of the slice before it is a restart (the bank's pages shifted), a walk of another slice the
 * request's next sub-range.
 */
function walkingBank(requests: readonly (readonly { slice: number; pages: Pages }[])[]): BankClient {
  let call = 0;
  return {
    async *transactionPages() {
      const walks = requests[call++] ?? [];
      for (const [n, { slice, pages }] of walks.entries()) {
        const totalRecords = pages.reduce((k, p) => k + p.length, 0);
        const answers = pages.map((records, i): TransactionPage => ({
          walk: slice * 1_000 + n + 1,
          slice,
          pageNumber: i + 1,
          totalPages: pages.length,
          totalRecords,
          records: [...records],
          rejects: [],
        }));
        for (const page of answers) {
          // Each page is its own answer, as a bank call's is.
          yield await Promise.resolve(page);
        }
      }
    },
    getBalances: () => Promise.resolve({ accounts: [] }),
  };
}

describe('records with their own ids among look-alikes on several pages of one walk', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  async function setUp() {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const ref: AccountRef = { id: account.id, organizationId: account.organizationId };
    return { ref, f: (id: string) => fee(account.jpmAccountId, id) };
  }

  async function stored(accountId: string) {
    const rows = await t.db
      .selectFrom('transactions')
      .select(['id', 'jpm_transaction_id'])
      .where('account_id', '=', accountId)
      .orderBy('jpm_transaction_id')
      .execute();
    const decisions = await t.db
      .selectFrom('transaction_decisions')
      .select(['transaction_id', 'decision', 'evidence'])
      .where('account_id', '=', accountId)
      .execute();
    return { rows, decisions };
  }

  it('a walk stopped part way numbered look-alikes from a partial view: the complete walk gives each its own key', async () => {
    const { ref, f } = await setUp();
    // The first walk's page 1 came short (F-1 cut), so F-2 and F-3 were numbered 1 and 2; the walk was then walked again.
    await walk(t.db, ref, [[f('F-2')], [f('F-3')]]);
    await walk(t.db, ref, [[f('F-1'), f('F-2')], [f('F-3')]]);
    const rows = await t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id', 'fingerprint_key', 'version'])
      .where('account_id', '=', ref.id)
      .orderBy('jpm_transaction_id')
      .execute();
    expect(rows.map((r) => [r.jpm_transaction_id, r.fingerprint_key.split(':').at(-1), r.version])).toEqual([
      ['F-1', '1', 1],
      ['F-2', '2', 1],
      ['F-3', '3', 1],
    ]);
    // Nothing a ledger reads changed for F-2 and F-3: no new version, no change event beyond their `added`.
    const events = await t.db.selectFrom('change_events').select('kind').where('account_id', '=', ref.id).execute();
    expect(events.map((e) => e.kind)).toEqual(['added', 'added', 'added']);
    // A third, complete walk changes nothing.
    expect(await walk(t.db, ref, [[f('F-1'), f('F-2')], [f('F-3')]])).toMatchObject({ inserted: 0, updated: 0 });
  });

  it('a new look-alike on page 2 never takes the row a record on page 1 matched by its id', async () => {
    const { ref, f } = await setUp();
    await walk(t.db, ref, [[f('TXN-A'), f('TXN-B')]]);
    const before = await stored(ref.id);
    // A late fee C of the same day; the bank's pages now cut the day [B] | [C, A].
    expect(await walk(t.db, ref, [[f('TXN-B')], [f('TXN-C'), f('TXN-A')]])).toEqual({
      inserted: 1,
      updated: 0,
      unchanged: 2,
      rejected: 0,
    });
    const after = await stored(ref.id);
    expect(after.rows.map((r) => r.jpm_transaction_id)).toEqual(['TXN-A', 'TXN-B', 'TXN-C']);
    // A and B keep their rows; C is a row of its own; nobody was re-identified.
    expect(after.rows.filter((r) => r.jpm_transaction_id !== 'TXN-C')).toEqual(before.rows);
    expect(after.decisions).toEqual([]);
  });

  it('a new look-alike on page 1 never takes the row of a record whose id comes on a later page', async () => {
    const { ref, f } = await setUp();
    await walk(t.db, ref, [[f('TXN-A'), f('TXN-B')]]);
    const before = await stored(ref.id);
    // A late fee C first; A and B, each with its id, on the next page: C's fingerprint key is A's of the last sync.
    expect(await walk(t.db, ref, [[f('TXN-C')], [f('TXN-A'), f('TXN-B')]])).toEqual({
      inserted: 1,
      updated: 0,
      unchanged: 2,
      rejected: 0,
    });
    const after = await stored(ref.id);
    expect(after.rows.map((r) => r.jpm_transaction_id)).toEqual(['TXN-A', 'TXN-B', 'TXN-C']);
    expect(after.rows.filter((r) => r.jpm_transaction_id !== 'TXN-C')).toEqual(before.rows);
    expect(after.decisions).toEqual([]);
  });

  it('re-identifies a row whose id no page of the walk sent, when its new id came on an earlier page', async () => {
    const { ref, f } = await setUp();
    await walk(t.db, ref, [[f('TXN-A'), f('TXN-B')]]);
    const before = await stored(ref.id);
    // The bank re-issued A's id as X; B, still B, on the next page.
    expect(await walk(t.db, ref, [[f('TXN-X')], [f('TXN-B')]])).toEqual({
      inserted: 0,
      updated: 1,
      unchanged: 1,
      rejected: 0,
    });
    const after = await stored(ref.id);
    const rowA = before.rows.find((r) => r.jpm_transaction_id === 'TXN-A')!;
    expect(after.rows.map((r) => r.jpm_transaction_id)).toEqual(['TXN-B', 'TXN-X']);
    expect(after.rows.find((r) => r.jpm_transaction_id === 'TXN-X')!.id).toBe(rowA.id);
    expect(after.decisions).toMatchObject([
      {
        transaction_id: rowA.id,
        decision: 're_identified',
        evidence: { previousJpmTransactionId: 'TXN-A', newJpmTransactionId: 'TXN-X' },
      },
    ]);
  });

  it('a sync whose walk sends the new look-alike first keeps every fee on its own row', async () => {
    const { ref, f } = await setUp();
    const bank = scriptedBank([[[f('TXN-A'), f('TXN-B')]], [[f('TXN-C')], [f('TXN-A')], [f('TXN-B')]]]);
    const deps = {
      db: t.db,
      clientFor: () => Promise.resolve(bank),
      now: () => new Date('2026-10-07T17:00:00Z'),
      logger: createLogger('sync'),
      lookbackDays: 5,
    };
    const job = {
      runId: null,
      accountId: ref.id,
      mode: 'range' as const,
      from: DAY,
      to: DAY,
      kinds: ['transactions' as const],
    };
    await syncAccountWindow(deps, job);
    const before = await stored(ref.id);
    expect(await syncAccountWindow(deps, job)).toMatchObject({ fetched: 3, inserted: 1, updated: 0, unchanged: 2 });
    const after = await stored(ref.id);
    expect(after.rows.map((r) => r.jpm_transaction_id)).toEqual(['TXN-A', 'TXN-B', 'TXN-C']);
    expect(after.rows.filter((r) => r.jpm_transaction_id !== 'TXN-C')).toEqual(before.rows);
    expect(after.decisions).toEqual([]);
  });

  /** Two syncs of the day through the real sync (`syncAccountWindow`), the bank answering each with `bank`. */
  function syncs(ref: AccountRef, bank: BankClient) {
    const deps = {
      db: t.db,
      clientFor: () => Promise.resolve(bank),
      now: () => new Date('2026-10-07T17:00:00Z'),
      logger: createLogger('sync'),
      lookbackDays: 5,
    };
    const job = {
      runId: null,
      accountId: ref.id,
      mode: 'range' as const,
      from: DAY,
      to: DAY,
      kinds: ['transactions' as const],
    };
    return () => syncAccountWindow(deps, job);
  }

  it('a walk the client restarted re-identifies no row whose id it stopped before reaching', async () => {
    const { ref, f } = await setUp();
    // Sync 2: a late fee C first; the bank's pages shift after page 1, so the client walks the slice again from
    // page 1, where A and B, each with its id, follow C. The stopped walk never reached A's id.
    const sync = syncs(
      ref,
      walkingBank([
        [{ slice: 0, pages: [[f('TXN-A'), f('TXN-B')]] }],
        [
          { slice: 0, pages: [[f('TXN-C')]] },
          { slice: 0, pages: [[f('TXN-C')], [f('TXN-A'), f('TXN-B')]] },
        ],
      ]),
    );
    await sync();
    const before = await stored(ref.id);
    expect(await sync()).toMatchObject({ fetched: 4, inserted: 1, updated: 0, unchanged: 2 });
    const after = await stored(ref.id);
    expect(after.rows.map((r) => r.jpm_transaction_id)).toEqual(['TXN-A', 'TXN-B', 'TXN-C']);
    // A and B keep their rows (uuid, versions, decisions); C is a row of its own; nobody was re-identified.
    expect(after.rows.filter((r) => r.jpm_transaction_id !== 'TXN-C')).toEqual(before.rows);
    expect(after.decisions).toEqual([]);
  });

  it("a walk that moves on to the request's next slice stores the held records of the slice it finished", async () => {
    const { ref, f } = await setUp();
    // Sync 2: the bank re-issued A's id as X; B, still B, on the next page; then the request's next slice.
    const sync = syncs(
      ref,
      walkingBank([
        [{ slice: 0, pages: [[f('TXN-A'), f('TXN-B')]] }],
        [
          { slice: 0, pages: [[f('TXN-X')], [f('TXN-B')]] },
          { slice: 1, pages: [[]] },
        ],
      ]),
    );
    await sync();
    const before = await stored(ref.id);
    expect(await sync()).toMatchObject({ fetched: 2, inserted: 0, updated: 1, unchanged: 1 });
    const after = await stored(ref.id);
    const rowA = before.rows.find((r) => r.jpm_transaction_id === 'TXN-A')!;
    expect(after.rows.map((r) => r.jpm_transaction_id)).toEqual(['TXN-B', 'TXN-X']);
    expect(after.rows.find((r) => r.jpm_transaction_id === 'TXN-X')!.id).toBe(rowA.id);
    expect(after.decisions).toMatchObject([
      { transaction_id: rowA.id, evidence: { previousJpmTransactionId: 'TXN-A', newJpmTransactionId: 'TXN-X' } },
    ]);
  });
});

describe('the same transactionId twice in one walk', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  async function setUp() {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const ref: AccountRef = { id: account.id, organizationId: account.organizationId };
    const first = wireTransaction({ transactionId: 'TXN-7', jpmAccountId: account.jpmAccountId, asOfDate: DAY });
    // The same id, other money facts: another day, direction and amount.
    const other = wireTransaction({
      transactionId: 'TXN-7',
      jpmAccountId: account.jpmAccountId,
      asOfDate: '2026-10-06',
      amount: '999.00',
      direction: 'DEBIT',
    });
    return { ref, first, other };
  }

  async function outcome(accountId: string) {
    const rows = await t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id', 'booking_date', 'amount_minor', 'direction'])
      .where('account_id', '=', accountId)
      .execute();
    const rejects = await t.db
      .selectFrom('sync_rejects')
      .select(['jpm_transaction_id', 'booking_date', 'fields', 'reason', 'seen_count', 'resolved_at'])
      .where('account_id', '=', accountId)
      .execute();
    return { rows, rejects };
  }

  const FIRST_STORED = [{ jpm_transaction_id: 'TXN-7', booking_date: DAY, amount_minor: '10000', direction: 'credit' }];
  const OTHER_REJECTED = {
    jpm_transaction_id: 'TXN-7',
    booking_date: '2026-10-06',
    fields: ['transactionId'],
    reason: expect.stringMatching(/^transactionId: sent again in the same walk with other content/) as unknown,
    resolved_at: null,
  };

  it('on one page with other content: the first copy is stored, the other is a reject naming the id', async () => {
    const { ref, first, other } = await setUp();
    expect(await walk(t.db, ref, [[first, other]])).toEqual({ inserted: 1, updated: 0, unchanged: 0, rejected: 1 });
    expect(await outcome(ref.id)).toEqual({ rows: FIRST_STORED, rejects: [{ ...OTHER_REJECTED, seen_count: 1 }] });
  });

  it('on two pages with other content: the same outcome as on one page', async () => {
    const { ref, first, other } = await setUp();
    expect(await walk(t.db, ref, [[first], [other]])).toEqual({ inserted: 1, updated: 0, unchanged: 0, rejected: 1 });
    expect(await outcome(ref.id)).toEqual({ rows: FIRST_STORED, rejects: [{ ...OTHER_REJECTED, seen_count: 1 }] });
    // The same walk again: the stored first copy does not resolve the other's reject; it is seen again, still open.
    expect(await walk(t.db, ref, [[first], [other]])).toEqual({ inserted: 0, updated: 0, unchanged: 1, rejected: 1 });
    expect(await outcome(ref.id)).toEqual({ rows: FIRST_STORED, rejects: [{ ...OTHER_REJECTED, seen_count: 2 }] });
  });

  // The first copy would re-identify the row of TXN-6 (its look-alike, whose id no page sends), so it waits for the
  // walk's end (`HeldRecords`); the other copy must not take its place.
  const held: Record<string, (first: WireTransaction, other: WireTransaction) => WireTransaction[][]> = {
    'on one page': (first, other) => [[first, other]],
    'on two pages': (first, other) => [[first], [other]],
  };
  for (const [name, pages] of Object.entries(held)) {
    it(`a first copy held for the walk's end is the copy stored, the other a reject (${name})`, async () => {
      const { ref, first, other } = await setUp();
      await walk(t.db, ref, [[{ ...first, transactionId: 'TXN-6' }]]);
      expect(await walk(t.db, ref, pages(first, other))).toEqual({
        inserted: 0,
        updated: 1,
        unchanged: 0,
        rejected: 1,
      });
      expect(await outcome(ref.id)).toEqual({ rows: FIRST_STORED, rejects: [{ ...OTHER_REJECTED, seen_count: 1 }] });
    });
  }

  it('an identical copy (the pages shifted under the walk) is the same record, unchanged, on one page or two', async () => {
    const { ref, first } = await setUp();
    expect(await walk(t.db, ref, [[first, first]])).toEqual({ inserted: 1, updated: 0, unchanged: 1, rejected: 0 });
    expect(await walk(t.db, ref, [[first], [first]])).toEqual({ inserted: 0, updated: 0, unchanged: 2, rejected: 0 });
    expect(await outcome(ref.id)).toEqual({ rows: FIRST_STORED, rejects: [] });
  });
});

describe('a day whose ids the bank re-issues after a new look-alike shifted the occurrence numbers', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  async function setUp() {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const ref: AccountRef = { id: account.id, organizationId: account.organizationId };
    return { ref, f: (id: string) => fee(account.jpmAccountId, id) };
  }

  async function rows(accountId: string) {
    return t.db
      .selectFrom('transactions')
      .select(['id', 'jpm_transaction_id', 'content_hash'])
      .where('account_id', '=', accountId)
      .orderBy('jpm_transaction_id')
      .execute();
  }

  async function reIdentified(accountId: string) {
    const decisions = await t.db
      .selectFrom('transaction_decisions')
      .select(['transaction_id', 'decision', 'rule', 'evidence'])
      .where('account_id', '=', accountId)
      .execute();
    return decisions.map((d) => ({
      transactionId: d.transaction_id,
      decision: d.decision,
      rule: d.rule,
      from: (d.evidence as { previousJpmTransactionId: string }).previousJpmTransactionId,
      to: (d.evidence as { newJpmTransactionId: string }).newJpmTransactionId,
    }));
  }

  // Sync 1 stores fees A and B (occurrences 1 and 2). Sync 2: a late fee C comes first, so C is occurrence 1 and A, B
  // (matched by id, unchanged) 2 and 3, while their rows keep keys 1 and 2. Sync 3: the bank re-issued every id of the
  // day (identical content otherwise), on one page or a page each.
  const second: Record<string, (f: (id: string) => WireTransaction) => WireTransaction[][]> = {
    'on one page': (f) => [[f('TXN-C'), f('TXN-A'), f('TXN-B')]],
    'on a page each': (f) => [[f('TXN-C')], [f('TXN-A')], [f('TXN-B')]],
  };
  const third: Record<string, (f: (id: string) => WireTransaction) => WireTransaction[][]> = {
    'on one page': (f) => [[f('TXN-X'), f('TXN-Y'), f('TXN-Z')]],
    'on a page each': (f) => [[f('TXN-X')], [f('TXN-Y')], [f('TXN-Z')]],
  };
  for (const [secondName, secondWalk] of Object.entries(second)) {
    for (const [thirdName, thirdWalk] of Object.entries(third)) {
      it(`each fee keeps its one row when the new look-alike came first (${secondName}) and the ids are re-issued (${thirdName})`, async () => {
        const { ref, f } = await setUp();
        await walk(t.db, ref, [[f('TXN-A'), f('TXN-B')]]);
        expect(await walk(t.db, ref, secondWalk(f))).toEqual({ inserted: 1, updated: 0, unchanged: 2, rejected: 0 });
        const before = await rows(ref.id);
        expect(before.map((r) => r.jpm_transaction_id)).toEqual(['TXN-A', 'TXN-B', 'TXN-C']);
        expect(await walk(t.db, ref, thirdWalk(f))).toEqual({ inserted: 0, updated: 3, unchanged: 0, rejected: 0 });
        const after = await rows(ref.id);
        // Three fees, three rows: the same rows, each with one of the new ids.
        expect(after.map((r) => r.jpm_transaction_id)).toEqual(['TXN-X', 'TXN-Y', 'TXN-Z']);
        expect(after.map((r) => r.id).sort()).toEqual(before.map((r) => r.id).sort());
        const decisions = await reIdentified(ref.id);
        expect(decisions.map((d) => d.decision)).toEqual(['re_identified', 're_identified', 're_identified']);
        expect(decisions.map((d) => d.from).sort()).toEqual(['TXN-A', 'TXN-B', 'TXN-C']);
        expect(decisions.map((d) => d.to).sort()).toEqual(['TXN-X', 'TXN-Y', 'TXN-Z']);
        expect(new Set(decisions.map((d) => d.transactionId)).size).toBe(3);
        // The second walk gave each row the key of its place in the day (the new look-alike 1, the others 2 and 3), so
        // no two rows share a key and each new id took the row of its own occurrence.
        expect(decisions.map((d) => d.rule)).toEqual([
          'same_fingerprint_and_occurrence',
          'same_fingerprint_and_occurrence',
          'same_fingerprint_and_occurrence',
        ]);
        // The same walk again: nothing to do.
        expect(await walk(t.db, ref, thirdWalk(f))).toEqual({ inserted: 0, updated: 0, unchanged: 3, rejected: 0 });
        expect(await rows(ref.id)).toEqual(after);
      });
    }
  }

  it('each fee keeps its one row when the new look-alike came first and the bank then drops the ids', async () => {
    const { ref, f } = await setUp();
    await walk(t.db, ref, [[f('TXN-A'), f('TXN-B')]]);
    await walk(t.db, ref, [[f('TXN-C'), f('TXN-A'), f('TXN-B')]]);
    const before = await rows(ref.id);
    // Without ids a record's identity is its fingerprint key: the third fee's key (occurrence 3) is no row's.
    expect(await walk(t.db, ref, [[f(''), f(''), f('')]])).toEqual({
      inserted: 0,
      updated: 3,
      unchanged: 0,
      rejected: 0,
    });
    const after = await rows(ref.id);
    expect(after.map((r) => r.id).sort()).toEqual(before.map((r) => r.id).sort());
    expect(after.map((r) => r.jpm_transaction_id)).toEqual(['', '', '']);
    expect((await reIdentified(ref.id)).map((d) => d.from).sort()).toEqual(['TXN-A', 'TXN-B', 'TXN-C']);
    expect(await walk(t.db, ref, [[f(''), f(''), f('')]])).toEqual({
      inserted: 0,
      updated: 0,
      unchanged: 3,
      rejected: 0,
    });
    expect(await rows(ref.id)).toEqual(after);
  });
});

describe('look-alike pending items of the current day when the client restarts its walk', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  const TODAY = '2026-11-20';
  const JPM_ACCOUNT = '000000011116605';

  it('a restarted current-day walk re-identifies no item whose id the stopped walk had not reached', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    // Identical pending fees, each with its own id.
    const item = (id: string) =>
      recordJson({ id, account: JPM_ACCOUNT, date: TODAY, amount: '25.00', postCode: 'I', bankReference: 'FEE' });
    const job: WindowJob = { runId: null, accountId: account.id, mode: 'intraday', kinds: ['transactions'] };
    const sync = (walks: TransactionPage[][]) =>
      syncAccountWindow(
        scriptedDeps(
          t.db,
          scriptedJsonBank(walks, () => currentDayBalance(JPM_ACCOUNT, TODAY)),
          TODAY,
        ),
        job,
      );
    const rows = () =>
      t.db
        .selectFrom('transactions')
        .select(['id', 'jpm_transaction_id', 'status'])
        .where('account_id', '=', account.id)
        .orderBy('jpm_transaction_id')
        .execute();
    await sync([[scriptedPage([item('A'), item('B')], { pageNumber: 1, totalPages: 1, totalRecords: 2 })]]);
    const before = await rows();
    // A new fee C comes first; the snapshot grows after page 1, so the client walks the day again from page 1.
    await sync([
      [
        scriptedPage([item('C')], { walk: 1, pageNumber: 1, totalPages: 2, totalRecords: 2 }),
        scriptedPage([item('C')], { walk: 2, pageNumber: 1, totalPages: 2, totalRecords: 3 }),
        scriptedPage([item('A'), item('B')], { walk: 2, pageNumber: 2, totalPages: 2, totalRecords: 3 }),
      ],
    ]);
    const after = await rows();
    expect(after.map((r) => [r.jpm_transaction_id, r.status])).toEqual([
      ['A', 'pending'],
      ['B', 'pending'],
      ['C', 'pending'],
    ]);
    expect(after.filter((r) => r.jpm_transaction_id !== 'C')).toEqual(before);
    const decisions = await t.db
      .selectFrom('transaction_decisions')
      .select('decision')
      .where('account_id', '=', account.id)
      .execute();
    expect(decisions).toEqual([]);
  });
});
