import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createContext, type AppContext } from '../../src/main/context.ts';
import { createDb } from '../../src/storage/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { testQueuePrefix } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { pgSwitch } from './support/pg-switch.ts';
import { migrate, startPostgresPair, type PostgresPair } from './support/postgres-replica.ts';

/**
 * The read replica after DATABASE_URL comes to lead to another cluster while the service runs (a name moved to a
 * database restored elsewhere): the replica, a standby of the former primary, must not serve reads for the new one.
 */
let a: PostgresPair | undefined;
let b: PostgresPair | undefined;

beforeAll(async () => {
  a = await startPostgresPair('jpm_sync_moved', migrate);
  b = await startPostgresPair('jpm_sync_moved', migrate);
}, 240_000);

afterAll(async () => {
  await a?.destroy();
  await b?.destroy();
});

describe('read replica: the primary moved to another cluster under the running service', () => {
  it('the standby of the former primary serves no read after the move (checked against the new primary)', async () => {
    const former = a!;
    const next = b!;
    const seed = createDb({ url: former.primaryUrl, poolMax: 2 });
    try {
      const tenancy = await createTenancy(seed);
      const account = await createAccount(seed, tenancy);
      await ingestWire(seed, account, [
        wireTransaction({ transactionId: 'FORMER-1', jpmAccountId: account.jpmAccountId }),
      ]);
    } finally {
      await seed.destroy();
    }
    // The former cluster's WAL well ahead of the new one's, replayed by its standby.
    await former.query('primary', 'select pg_switch_wal()');
    await former.query('primary', 'create table wal_filler as select generate_series(1, 10) as n');
    await former.query('primary', 'select pg_switch_wal()');
    const lsn = (await former.query<{ lsn: string }>('primary', 'select pg_current_wal_flush_lsn()::text as lsn'))[0]!
      .lsn;
    for (let i = 0; ; i++) {
      const [r] = await former.query<{ done: boolean }>(
        'standby',
        `select pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn as done`,
      );
      if (r?.done) {
        break;
      }
      if (i > 300) {
        throw new Error('the standby did not replay');
      }
      await new Promise((r2) => setTimeout(r2, 100));
    }

    const sw = await pgSwitch(former.primaryUrl);
    let ctx: AppContext | undefined;
    try {
      const { config, secrets } = loadConfig({
        NODE_ENV: 'test',
        DATABASE_URL: sw.url,
        DATABASE_READ_URL: former.standbyUrl,
        REDIS_URL,
        QUEUE_PREFIX: testQueuePrefix(),
        LOG_LEVEL: 'silent',
      });
      ctx = createContext(config, secrets);
      const ids = () =>
        ctx!.reads.run(async (db) =>
          (await db.selectFrom('transactions').select('jpm_transaction_id').execute()).map((r) => r.jpm_transaction_id),
        );
      expect(await ids()).toEqual(['FORMER-1']);
      expect(await ids()).toEqual(['FORMER-1']);

      // DATABASE_URL now leads to another cluster, which holds no transaction.
      sw.moveTo(next.primaryUrl);
      // The pool sees its sessions end (as after a failover) before the next read.
      await new Promise((r) => setTimeout(r, 300));
      expect(await ids()).toEqual([]);
      expect(await ids()).toEqual([]);
    } finally {
      await ctx?.close();
      await sw.close();
    }
  });
});
