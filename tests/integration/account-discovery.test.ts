import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverAccounts } from '../../src/sync/discover-accounts.ts';
import { NO_QUIRKS } from '../../src/simulator/index.ts';
import { createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startSimBank, type SimBank } from '../helpers/sim-bank.ts';

/**
 * Discovery registers every account the bank reports for an integration, or none: a connection lost part-way (a
 * crash, a failover) must not leave some registered, and two discoveries at once (two API processes, a double click)
 * add each account once between them.
 */
let t: TestDb;
let bank: SimBank;

beforeAll(async () => {
  t = await createTestDb();
  bank = await startSimBank(t.db, {
    today: '2025-03-12',
    accounts: [{ currency: 'USD' }, { currency: 'JPY' }, { currency: 'KWD' }],
    historyDays: 2,
    txPerDay: 1,
    quirks: NO_QUIRKS,
  });
});

afterAll(async () => {
  await bank?.stop();
  await t?.drop();
});

/** Read on a connection of its own, outside the pool under test. */
const accountsOf = async (integrationId: string) => {
  const c = new pg.Client({ connectionString: t.url });
  await c.connect();
  try {
    const r = await c.query<{ jpm_account_id: string }>(
      'select jpm_account_id from bank_accounts where integration_id = $1 order by jpm_account_id',
      [integrationId],
    );
    return r.rows.map((row) => row.jpm_account_id);
  } finally {
    await c.end();
  }
};

describe('account discovery', () => {
  it('a connection lost while registering the accounts registers none of them; discovering again registers all', async () => {
    const tenancy = await createTenancy(t.db, { baseUrl: bank.sim.url });
    const integration = { id: tenancy.integrationId, organizationId: tenancy.organizationId };
    const reported = bank.sim.accounts.map((a) => a.accountId).sort();
    // The backend serving the discovery terminates itself as the last account is inserted (what an operator's
    // pg_terminate_backend or a failover does to a write in flight). Set up and removed on a connection of its own.
    const fault = new pg.Client({ connectionString: t.url });
    await fault.connect();
    try {
      await fault.query(`
        create function test_die_at_insert() returns trigger language plpgsql as $$
        begin
          perform pg_terminate_backend(pg_backend_pid());
          return new;
        end $$`);
      await fault.query(
        `create trigger test_die_at_insert before insert on bank_accounts for each row
         when (new.jpm_account_id = '${reported[2]!}' and new.integration_id = '${tenancy.integrationId}')
         execute function test_die_at_insert()`,
      );
      await expect(discoverAccounts(t.db, bank.bank, integration)).rejects.toThrow();
    } finally {
      await fault.query('drop trigger if exists test_die_at_insert on bank_accounts');
      await fault.query('drop function if exists test_die_at_insert()');
      await fault.end();
    }
    expect(await accountsOf(tenancy.integrationId)).toEqual([]);

    const again = await discoverAccounts(t.db, bank.bank, integration);
    expect(again.added).toBe(3);
    expect(again.accounts.map((a) => a.jpm_account_id).sort()).toEqual(reported);
    expect(await accountsOf(tenancy.integrationId)).toEqual(reported);
  });

  it('two discoveries at once add each account once between them', async () => {
    const tenancy = await createTenancy(t.db, { baseUrl: bank.sim.url });
    const integration = { id: tenancy.integrationId, organizationId: tenancy.organizationId };
    // Both discoveries have asked the bank and reached their inserts before either commits: a session holds the
    // table's SHARE lock (reads go on, inserts wait) until both wait for it.
    const holder = new pg.Client({ connectionString: t.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('lock table bank_accounts in share mode');
      const both = Promise.all([
        discoverAccounts(t.db, bank.bank, integration),
        discoverAccounts(t.db, bank.bank, integration),
      ]);
      for (;;) {
        const waiting = await holder.query<{ n: string }>(
          `select count(*) as n from pg_locks where relation = 'bank_accounts'::regclass and not granted`,
        );
        if (Number(waiting.rows[0]!.n) >= 2) {
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      await holder.query('commit');
      const [a, b] = await both;
      expect(a.added + b.added).toBe(3);
      expect(a.accounts.map((x) => x.id).sort()).toEqual(b.accounts.map((x) => x.id).sort());
    } finally {
      await holder.end();
    }
    expect(await accountsOf(tenancy.integrationId)).toHaveLength(3);
  });
});
