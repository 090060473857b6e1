import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resumeAccount } from '../../src/accounts/index.ts';
import { createQueues, type Queues } from '../../src/scheduler/index.ts';
import { getAccount } from '../../src/storage/accounts.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, testQueuePrefix, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';

/**
 * Pause and resume act on the account row the route read. A removal that commits after that read
 * must win: the stale row says "paused", but the account is removed and must stay so (409), never be
 * brought back to active with its schedules.
 */
let t: TestDb;
let queues: Queues;

beforeAll(async () => {
  t = await createTestDb();
  queues = createQueues({ redisUrl: REDIS_URL, prefix: testQueuePrefix() });
});

afterAll(async () => {
  await queues?.close();
  await t?.drop();
});

describe('account status', () => {
  it('a resume that read the account before its removal committed is a 409 and the account stays removed', async () => {
    const tenancy = await createTenancy(t.db);
    const { id } = await createAccount(t.db, tenancy);
    await t.db.updateTable('bank_accounts').set({ status: 'paused' }).where('id', '=', id).execute();
    const stale = (await getAccount(t.db, id))!;
    await t.db.updateTable('bank_accounts').set({ status: 'removed' }).where('id', '=', id).execute();

    await expect(resumeAccount({ db: t.db, queues }, stale)).rejects.toMatchObject({
      httpStatus: 409,
      code: 'account_removed',
    });
    expect((await getAccount(t.db, id))?.status).toBe('removed');
  });
});
