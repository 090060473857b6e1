import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CursorExpiredError,
  currentFeedCursor,
  purgeChangeFeed,
  readChanges,
  resetChangeFeed,
  type ChangeFeedEvent,
} from '../../src/events/change-feed.ts';
import { getTransactionsByIds, type TransactionReadRow } from '../../src/storage/read.repo.ts';
import { resolvePending } from '../../src/sync/supersede.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, seeded, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { catchUpFeedReaders, catchUpSearch, catchUpWebhookProducer } from '../helpers/search-step.ts';

/**
 * Waits a moment before polling again. Events appear once every older write transaction of the
 * whole Postgres cluster has ended, and other test files (and people) share the cluster.
 */
async function settle(waiting: boolean): Promise<void> {
  if (waiting) {
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Reads the whole feed from `cursor` until it reports nothing more. */
async function drain(
  t: TestDb,
  cursor: string | null,
  organizationId: string | null = null,
): Promise<{ events: ChangeFeedEvent[]; cursor: string }> {
  const events: ChangeFeedEvent[] = [];
  let c = cursor;
  for (;;) {
    const page = await readChanges(t.db, { organizationId, cursor: c, limit: 100 });
    events.push(...page.events);
    c = page.nextCursor;
    if (!page.hasMore) {
      return { events, cursor: c };
    }
  }
}

describe('change feed', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('does not return an event while an older transaction that wrote a lower id is still open', async () => {
    const tenancy = await createTenancy(t.db);
    const account = await createAccount(t.db, tenancy);
    const start = await currentFeedCursor(t.db);
    // Writer A: its own connection, takes the LOWER sequence number and stays open.
    const a = new pg.Client({ connectionString: t.url });
    await a.connect();
    try {
      await a.query('begin');
      await a.query(
        `insert into change_events (organization_id, account_id, entity_id, kind) values ($1, $2, gen_random_uuid(), 'added') returning id`,
        [tenancy.organizationId, account.id],
      );
      // Writer B: the real ingest path, a HIGHER sequence number, commits first.
      await ingestWire(t.db, account, [wireTransaction({ transactionId: 'B-1', jpmAccountId: account.jpmAccountId })]);
      const whileOpen = await drain(t, start);
      expect(whileOpen.events).toEqual([]);
      await a.query('commit');
    } finally {
      await a.end();
    }
    // Both now: A's (lower xid) first. Other test files share the cluster and may briefly hold xmin back.
    let after: ChangeFeedEvent[] = [];
    for (let i = 0; i < 400 && after.length < 2; i++) {
      after = (await drain(t, start)).events;
      await settle(after.length < 2);
    }
    expect(after.map((e) => e.kind)).toEqual(['added', 'added']);
    expect(BigInt(after[0]!.sequence)).toBeLessThan(BigInt(after[1]!.sequence));
    expect(after[1]!.transaction?.jpm_transaction_id).toBe('B-1');
  });

  it('4 concurrent writers in overlapping transactions: a polling consumer ends with exactly the database state', async () => {
    const tenancy = await createTenancy(t.db);
    // Test-only: every statement that writes change events sleeps a random moment inside its
    // transaction, so writers hold sequence numbers uncommitted while others commit around them.
    await sql`create or replace function test_random_sleep() returns trigger language plpgsql as $$
      begin perform pg_sleep(random() * 0.03); return null; end $$`.execute(t.db);
    await sql`create trigger change_events_random_sleep after insert on change_events for each statement execute function test_random_sleep()`.execute(
      t.db,
    );
    await sql`create trigger transactions_random_sleep before insert or update on transactions for each statement execute function test_random_sleep()`.execute(
      t.db,
    );
    const start = await currentFeedCursor(t.db);
    const accounts = await Promise.all([0, 1, 2, 3].map(() => createAccount(t.db, tenancy)));
    const ROUNDS = 12;

    async function writer(w: number): Promise<void> {
      const account = accounts[w]!;
      const rnd = seeded(100 + w);
      for (let round = 0; round < ROUNDS; round++) {
        const date = `2026-11-${String(2 + (round % 20)).padStart(2, '0')}`;
        // New pending (intraday) items and new posted items.
        const fresh = Array.from({ length: 1 + Math.floor(rnd() * 6) }, (_, i) =>
          wireTransaction({
            transactionId: `W${w}-R${round}-${i}`,
            jpmAccountId: account.jpmAccountId,
            asOfDate: date,
            postCode: i % 2 === 0 ? 'I' : 'P',
            amount: `${1 + Math.floor(rnd() * 9000)}.${String(Math.floor(rnd() * 100)).padStart(2, '0')}`,
          }),
        );
        await ingestWire(t.db, account, fresh);
        // The bank corrects an earlier posted record (modified).
        if (round > 0) {
          const prev = `W${w}-R${round - 1}-1`;
          await ingestWire(t.db, account, [
            wireTransaction({
              transactionId: prev,
              jpmAccountId: account.jpmAccountId,
              asOfDate: `2026-11-${String(2 + ((round - 1) % 20)).padStart(2, '0')}`,
              postCode: 'P',
              amount: '1.00',
              remark: `corrected in round ${round}`,
            }),
          ]);
        }
        // The day closes: pending items are superseded or removed.
        if (round % 3 === 2) {
          await resolvePending(t.db, { id: account.id, organizationId: account.organizationId }, [date], null);
        }
      }
    }

    const state = new Map<string, TransactionReadRow>();
    const seen = new Set<string>();
    let duplicates = 0;
    let cursor = start;
    let writing = true;
    const consumer = (async () => {
      // After the writers finish, keep polling until the feed has delivered every event; the bound
      // only turns a feed that lost an event into an assertion failure instead of a hang.
      for (let idleAfterDone = 0; idleAfterDone < 2_000;) {
        const done = !writing;
        const page = await readChanges(t.db, { organizationId: tenancy.organizationId, cursor, limit: 7 });
        for (const e of page.events) {
          if (seen.has(e.sequence)) {
            duplicates++;
          }
          seen.add(e.sequence);
          if (e.transaction) {
            state.set(e.entityId, e.transaction);
          }
        }
        cursor = page.nextCursor;
        if (done && !page.hasMore) {
          const total = await t.db
            .selectFrom('change_events')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('organization_id', '=', tenancy.organizationId)
            .executeTakeFirstOrThrow();
          if (seen.size === Number(total.n)) {
            return;
          }
          idleAfterDone++;
        }
        if (page.events.length === 0) {
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    })();
    await Promise.all([0, 1, 2, 3].map(writer));
    writing = false;
    await consumer;
    await sql`drop trigger change_events_random_sleep on change_events`.execute(t.db);
    await sql`drop trigger transactions_random_sleep on transactions`.execute(t.db);

    expect(duplicates).toBe(0);
    const eventIds = await t.db
      .selectFrom('change_events')
      .select('id')
      .where('organization_id', '=', tenancy.organizationId)
      .execute();
    expect([...seen].sort()).toEqual(eventIds.map((r) => r.id).sort());
    const ids = (
      await t.db.selectFrom('transactions').select('id').where('organization_id', '=', tenancy.organizationId).execute()
    ).map((r) => r.id);
    const truth = await getTransactionsByIds(t.db, ids);
    expect(state.size).toBe(truth.length);
    for (const row of truth) {
      expect(state.get(row.id)).toEqual(row);
    }
    const kinds = await t.db
      .selectFrom('change_events')
      .select('kind')
      .distinct()
      .where('organization_id', '=', tenancy.organizationId)
      .execute();
    expect(kinds.map((k) => k.kind).sort()).toEqual(['added', 'modified', 'removed']);
  });

  it('scopes the feed to one organization', async () => {
    const mine = await createTenancy(t.db);
    const other = await createTenancy(t.db);
    const start = await currentFeedCursor(t.db);
    const a = await createAccount(t.db, mine);
    const b = await createAccount(t.db, other);
    await ingestWire(t.db, a, [wireTransaction({ transactionId: 'MINE-1', jpmAccountId: a.jpmAccountId })]);
    await ingestWire(t.db, b, [wireTransaction({ transactionId: 'OTHER-1', jpmAccountId: b.jpmAccountId })]);
    let events: ChangeFeedEvent[] = [];
    for (let i = 0; i < 400 && events.length === 0; i++) {
      events = (await drain(t, start, mine.organizationId)).events;
      await settle(events.length === 0);
    }
    expect(events.map((e) => e.transaction?.jpm_transaction_id)).toEqual(['MINE-1']);
    expect(events.every((e) => e.organizationId === mine.organizationId)).toBe(true);
  });

  it('does not purge change events the webhook producer has not read yet (workers down longer than the retention)', async () => {
    const tenancy = await createTenancy(t.db);
    const account = await createAccount(t.db, tenancy);
    await catchUpFeedReaders(t.db);
    await ingestWire(t.db, account, [wireTransaction({ transactionId: 'W-1', jpmAccountId: account.jpmAccountId })]);
    await catchUpSearch(t.db);
    const future = new Date(Date.now() + 10 * 86_400_000);
    await purgeChangeFeed(t.db, { retentionDays: 7, now: future });
    const mine = () =>
      t.db
        .selectFrom('change_events as e')
        .innerJoin('transactions as x', 'x.id', 'e.entity_id')
        .select('x.jpm_transaction_id')
        .where('x.account_id', '=', account.id)
        .execute();
    expect((await mine()).map((r) => r.jpm_transaction_id)).toEqual(['W-1']);
    await catchUpWebhookProducer(t.db);
    await purgeChangeFeed(t.db, { retentionDays: 7, now: future });
    expect(await mine()).toEqual([]);
  });

  it('purges by retention and answers an expired cursor with 410 and how to resync', async () => {
    const tenancy = await createTenancy(t.db);
    const account = await createAccount(t.db, tenancy);
    const old = await drain(t, null);
    await ingestWire(t.db, account, [wireTransaction({ transactionId: 'P-1', jpmAccountId: account.jpmAccountId })]);
    const future = new Date(Date.now() + 10 * 86_400_000);
    // The purge stops at the search step's and the webhook producer's positions (events they have not read stay).
    await catchUpFeedReaders(t.db);
    const purged = await purgeChangeFeed(t.db, { retentionDays: 7, now: future, batchSize: 3 });
    expect(purged.deleted).toBeGreaterThan(0);
    const err = await readChanges(t.db, {
      organizationId: null,
      cursor: old.cursor,
      limit: 10,
      retentionDays: 7,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CursorExpiredError);
    expect((err as CursorExpiredError).httpStatus).toBe(410);
    expect((err as CursorExpiredError).message).toMatch(/GET \/v1\/changes\/cursor/);
    // A fresh cursor works, and a consumer that starts without one begins after the horizon.
    const fresh = await currentFeedCursor(t.db);
    expect((await readChanges(t.db, { organizationId: null, cursor: fresh, limit: 10 })).events).toEqual([]);
    expect((await readChanges(t.db, { organizationId: null, cursor: null, limit: 10 })).events).toEqual([]);
    // Young events are kept: nothing is purged with the real clock.
    await ingestWire(t.db, account, [wireTransaction({ transactionId: 'P-2', jpmAccountId: account.jpmAccountId })]);
    expect((await purgeChangeFeed(t.db, { retentionDays: 7 })).deleted).toBe(0);
    let kept: ChangeFeedEvent[] = [];
    for (let i = 0; i < 400 && kept.length === 0; i++) {
      kept = (await drain(t, fresh)).events;
      await settle(kept.length === 0);
    }
    expect(kept.map((e) => e.transaction?.jpm_transaction_id)).toEqual(['P-2']);
  });

  it('a reset invalidates every earlier cursor', async () => {
    const before = await currentFeedCursor(t.db);
    await resetChangeFeed(t.db);
    const err = await readChanges(t.db, { organizationId: null, cursor: before, limit: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CursorExpiredError);
    expect((err as CursorExpiredError).details).toEqual({ reason: 'reset' });
  });

  it('answers a cursor never issued (an epoch the feed never had, a position past its end) with 400, an older epoch with 410', async () => {
    const before = await currentFeedCursor(t.db);
    await resetChangeFeed(t.db);
    const issued = await currentFeedCursor(t.db);
    const fields = JSON.parse(Buffer.from(issued, 'base64url').toString('utf8')) as {
      v: number;
      e: number;
      x: string;
      i: string;
    };
    expect(fields.e).toBeGreaterThan(1);
    const forge = (f: Partial<typeof fields>) =>
      Buffer.from(JSON.stringify({ ...fields, ...f }), 'utf8').toString('base64url');
    const outcome = async (cursor: string) => {
      const err = await readChanges(t.db, { organizationId: null, cursor, limit: 10 }).then(
        () => undefined,
        (e: unknown) => e as { code?: string; httpStatus?: number },
      );
      return err === undefined ? 'ok' : `${err.httpStatus} ${err.code}`;
    };
    const cases: [string, string][] = [
      ['issued', issued],
      ['an epoch it had before', before],
      ['the first epoch', forge({ e: 1 })],
      ['the number before the current epoch', forge({ e: fields.e - 1 })],
      ['an epoch after the current one', forge({ e: fields.e + 1 })],
      ['a far epoch', forge({ e: 987_654 })],
      ['an epoch past 2^53', forge({ e: 2 ** 53 + 2 })],
      ['epoch 0', forge({ e: 0 })],
      ['a negative epoch', forge({ e: -3 })],
      ['a position past the end of the feed', forge({ x: (BigInt(fields.x) + 1_000_000n).toString() })],
    ];
    const answers: Record<string, string> = {};
    for (const [name, cursor] of cases) {
      answers[name] = await outcome(cursor);
    }
    expect(answers).toEqual({
      issued: 'ok',
      'an epoch it had before': '410 cursor_expired',
      'the first epoch': '410 cursor_expired',
      'the number before the current epoch': '400 invalid_cursor',
      'an epoch after the current one': '400 invalid_cursor',
      'a far epoch': '400 invalid_cursor',
      'an epoch past 2^53': '400 invalid_cursor',
      'epoch 0': '400 invalid_cursor',
      'a negative epoch': '400 invalid_cursor',
      'a position past the end of the feed': '400 invalid_cursor',
    });
  });

  it('rejects a malformed cursor with 400', async () => {
    const err = await readChanges(t.db, { organizationId: null, cursor: 'not-a-cursor', limit: 10 }).catch(
      (e: unknown) => e,
    );
    expect((err as { code?: string }).code).toBe('invalid_cursor');
  });
});
