import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triggerSync } from '../../src/scheduler/index.ts';
import { recoverLostRuns } from '../../src/scheduler/recovery.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { getSyncRun } from '../../src/storage/sync-runs.repo.ts';
import { countOnRun, startStandaloneRun } from '../../src/sync/sync-run.ts';
import { obliterate, startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * Recovery after Redis lost its data re-enqueues the flows of unfinished run trees. A standalone run
 * (a statement import, a validation re-fetch) has no flow: the process that started it works it and
 * ends it. Re-enqueuing it would finalize it from its (absent) windows while it is still working, as
 * `succeeded` with every count zero, and a crashed import would read as a finished one.
 */
const TODAY = '2025-03-12';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ today: TODAY });
});

afterAll(async () => {
  await h?.stop();
});

describe('recovery of lost jobs', () => {
  it('re-enqueues a run tree whose flow is gone, and leaves a standalone run to the process working it', async () => {
    const a = h.accounts[0]!;
    const tree = await triggerSync(h.producer(), {
      accountId: a.id,
      request: { mode: 'range', from: '2025-03-03', to: '2025-03-07' },
      trigger: 'manual',
    });
    const treeRunId = tree.runs[0]!.runId;
    const standaloneId = await startStandaloneRun(h.t.db, {
      organizationId: h.tenancy.organizationId,
      integrationId: h.tenancy.integrationId,
      accountId: a.id,
      trigger: 'manual',
      mode: 'range',
      windowFrom: '2025-02-03',
      windowTo: '2025-02-07',
      source: 'bai2',
    });
    await countOnRun(h.t.db, standaloneId, { fetched: 40, inserted: 40 });
    await obliterate(h.queues);

    const result = await recoverLostRuns({ db: h.t.db, queues: h.queues, logger: createLogger('scheduler') });

    expect(result.requeued).toEqual([treeRunId]);
    const standalone = await getSyncRun(h.t.db, standaloneId);
    expect(standalone).toMatchObject({ status: 'running', fetched: 40, inserted: 40, finished_at: null });
    // A second sweep finds the tree's flow in place and adds nothing.
    expect(
      (await recoverLostRuns({ db: h.t.db, queues: h.queues, logger: createLogger('scheduler') })).requeued,
    ).toEqual([]);
  });
});
