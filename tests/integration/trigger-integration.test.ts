import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triggerSync } from '../../src/scheduler/index.ts';
import { ValidationError } from '../../src/shared/errors.ts';
import { addDays } from '../../src/shared/time.ts';
import { listAccountsOfIntegration } from '../../src/storage/accounts.repo.ts';
import { obliterate, startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * A sync of a whole integration plans every active account before it opens any run: each account has its own
 * business day (its zone, what the bank last reported), so one range can be refused for one account and not for
 * another, and a refusal must not leave the other accounts' runs queued behind a 400.
 */
const TODAY = '2025-03-12';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ today: TODAY, accounts: 2 });
});

afterAll(async () => {
  await h?.stop();
});

describe('a sync of a whole integration', () => {
  it('refused for one account opens no run for any, and names the account', async () => {
    await obliterate(h.queues);
    const listed = await listAccountsOfIntegration(h.t.db, h.tenancy.integrationId);
    expect(listed.length).toBe(2);
    // The account planned last last heard from the bank ten days ago that its business day was then: its estimate
    // stands ten days back, so a week-old range has no closed day for it yet. The first account plans it fine.
    const late = listed[1]!;
    await h.t.db
      .updateTable('bank_accounts')
      .set({ bank_business_day: addDays(TODAY, -10), bank_calendar_at: h.now() })
      .where('id', '=', late.id)
      .execute();
    const request = { mode: 'range' as const, from: '2025-03-07', to: '2025-03-07' };
    const runsOf = () =>
      h.t.db.selectFrom('sync_runs').select('id').where('integration_id', '=', h.tenancy.integrationId).execute();
    const before = await runsOf();

    const refused = await triggerSync(h.producer(), {
      integrationId: h.tenancy.integrationId,
      request,
      trigger: 'manual',
    }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as Error).message).toContain(`account ${late.id}:`);
    expect((refused as Error).message).toMatch(/holds no completed business day/);
    expect(await runsOf()).toEqual(before);
    expect(await h.queues.queue('sync').getJobCounts('waiting', 'waiting-children', 'delayed')).toEqual({
      waiting: 0,
      'waiting-children': 0,
      delayed: 0,
    });

    // The first account alone takes the same range.
    const { runs } = await triggerSync(h.producer(), { accountId: listed[0]!.id, request, trigger: 'manual' });
    expect(runs).toHaveLength(1);
  });
});
