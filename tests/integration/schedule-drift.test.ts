import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileSchedules, scheduleId } from '../../src/scheduler/index.ts';
import { restoreLostSchedules } from '../../src/scheduler/recovery.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { obliterate, startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * A state change asks for its schedule reconcile after it committed. A process that dies in between (or a Redis away
 * at that moment) loses the request: the account's schedulers would follow its old state until the next daily
 * reconcile (a paused account synced on schedule, a resumed one not at all). The workers' recovery sweep finds such
 * accounts and reconciles them.
 */
const logger = createLogger('scheduler');
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ today: '2025-03-12', accounts: 2 });
});

afterAll(async () => {
  await obliterate(h.queues);
  await h?.stop();
});

const ids = async () => (await h.queues.queue('sync').getJobSchedulers(0, -1)).map((s) => s.key).sort();
const of = (accountId: string) => [scheduleId(accountId, 'intraday'), scheduleId(accountId, 'prior_day')];

describe('schedule reconcile requests lost after their change committed', () => {
  it('the recovery sweep removes a paused account schedulers and restores a resumed one', async () => {
    const [a, b] = h.accounts.map((x) => x.id) as [string, string];
    const deps = { db: h.t.db, queues: h.queues, logger };
    await reconcileSchedules(deps);
    expect(await ids()).toEqual([...of(a), ...of(b)].sort());

    // What a pause leaves when its process died after the commit, before its reconcile request reached Redis.
    await sql`update bank_accounts set status = 'paused', status_reason = 'paused by an operator' where id = ${a}`.execute(
      h.t.db,
    );
    expect(await ids()).toEqual([...of(a), ...of(b)].sort());

    expect(await restoreLostSchedules(deps)).toBe(false);
    expect(await ids()).toEqual(of(b).sort());

    // And a resume, or a new schedule override, lost the same way: restored by the next sweep.
    await sql`update bank_accounts set status = 'active', status_reason = null where id = ${a}`.execute(h.t.db);
    await sql`update bank_accounts set schedule_override = '{"intradayRunsPerDay": 2}' where id = ${b}`.execute(h.t.db);
    await restoreLostSchedules(deps);
    expect(await ids()).toEqual([...of(a), ...of(b)].sort());
    const intraday = await h.queues.queue('sync').getJobScheduler(scheduleId(b, 'intraday'));
    expect(intraday?.pattern).toMatch(/ 10,15 \* \* 1-5$/);
  });
});
