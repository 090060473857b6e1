import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createIntegration,
  flagOverdue,
  getIntegration,
  listOverdue,
  recordEligibility,
  setExpectations,
  transition,
  type OnboardingOptions,
} from '../../src/onboarding/index.ts';
import type { OnboardingStage } from '../../src/domain/types.ts';
import { createOrganization, ELIGIBLE } from '../factories/onboarding.ts';
import { createDb } from '../../src/storage/db.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * Pausing stops the onboarding clock: the time an integration spends paused (the customer asked to wait) counts
 * neither against the step it was in nor against the whole process, and resuming continues the same step, so a step
 * that was late stays late (and is not announced late a second time) instead of getting a fresh due date.
 */
const DAY = 86_400_000;
const OPS = 'ops@jpm-sync.example';

describe('due dates across a pause (Postgres)', () => {
  let t: TestDb;
  let organizationId: string;
  beforeAll(async () => {
    t = await createTestDb();
    organizationId = await createOrganization(t.db, 'Pause Org');
  });
  afterAll(async () => t.drop());

  /** An integration in kickoff since `t0` (kickoff due after 7 days, the whole process after 42). */
  async function inKickoff(name: string, t0: Date) {
    let now = t0;
    const options: OnboardingOptions = { now: () => now };
    const { id } = await createIntegration(t.db, { organizationId, name, environment: 'cat', actor: OPS }, options);
    await recordEligibility(t.db, { integrationId: id, checklist: ELIGIBLE, actor: OPS });
    await transition(t.db, { integrationId: id, to: 'kickoff', actor: OPS }, options);
    const at = (days: number) => new Date(t0.getTime() + days * DAY);
    const move = async (to: OnboardingStage, day: number) => {
      now = at(day);
      return (await transition(t.db, { integrationId: id, to, actor: OPS }, options)).integration;
    };
    const overdue = async (day: number) =>
      (await listOverdue(t.db, at(day))).filter((o) => o.integrationId === id).flatMap((o) => o.overdue);
    const flags = async (day: number) =>
      (await flagOverdue(t.db, at(day))).flagged.filter((f) => f.integrationId === id).map((f) => f.kind);
    return { id, at, move, overdue, flags };
  }

  it('a pause moves the step and the process due dates by its length', async () => {
    const i = await inKickoff('Holiday Co', new Date('2031-05-05T09:00:00Z'));
    const paused = await i.move('paused', 5);
    expect(paused).toMatchObject({ stage: 'paused', stageDueAt: null });
    const resumed = await i.move('kickoff', 15);
    // Five days of kickoff were used before the pause: two are left after it.
    expect(resumed.stageDueAt).toEqual(i.at(17));
    expect(resumed.processDueAt).toEqual(i.at(52));
    expect(await i.overdue(16.5)).toEqual([]);
    expect(await i.overdue(17.5)).toEqual(['stage']);
  });

  it('a step that was late stays late after a pause and is announced once', async () => {
    const i = await inKickoff('Late Co', new Date('2031-06-02T09:00:00Z'));
    expect(await i.flags(8)).toEqual(['stage']);
    await i.move('paused', 9);
    const resumed = await i.move('kickoff', 10);
    expect(resumed.stageDueAt).toEqual(i.at(8));
    expect(await i.overdue(10.5)).toEqual(['stage']);
    expect(await i.flags(11)).toEqual([]);
    expect(await i.flags(30)).toEqual([]);
  });

  it('a long pause does not make the whole process overdue the moment it ends', async () => {
    const i = await inKickoff('Long Pause Co', new Date('2031-07-07T09:00:00Z'));
    await i.move('paused', 3);
    const resumed = await i.move('kickoff', 63);
    expect(resumed.processDueAt).toEqual(i.at(102));
    expect(resumed.stageDueAt).toEqual(i.at(67));
    expect(await i.flags(63.5)).toEqual([]);
    // Changing the expectations afterwards keeps the pause's extension.
    const changed = await setExpectations(t.db, {
      integrationId: i.id,
      expectations: { stageDays: { kickoff: 10 }, processDays: 50 },
      actor: OPS,
    });
    expect(changed.stageDueAt).toEqual(i.at(70));
    expect(changed.processDueAt).toEqual(i.at(110));
    expect((await getIntegration(t.db, i.id)).stageDueAt).toEqual(i.at(70));
  });

  it('a resume that waited for the pause before it is timed when it happens, after the pause', async () => {
    const i = await inKickoff('Queued Co', new Date('2031-08-04T09:00:00Z'));
    // One clock for both requests, a day later at each reading: the order of the readings is the order of the times.
    let day = 4;
    const clock: OnboardingOptions = { now: () => i.at(++day) };
    // The resume's process has no free database connection yet (its pool busy), the pause's runs at once; both then
    // queue behind a transaction holding the integration's row, the pause first.
    const resumeDb = createDb({ url: t.url, poolMax: 1 });
    let freePool!: () => void;
    const poolFreed = new Promise<void>((r) => (freePool = r));
    let poolTaken!: () => void;
    const poolBusy = new Promise<void>((r) => (poolTaken = r));
    const occupier = resumeDb.connection().execute(async () => {
      poolTaken();
      await poolFreed;
    });
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const holding = new Promise<void>((r) => (locked = r));
    const holder = t.db.transaction().execute(async (trx) => {
      await sql`select id from integrations where id = ${i.id} for update`.execute(trx);
      locked();
      await released;
    });
    const waiters = async () => {
      const r = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`.execute(t.db);
      return r.rows[0]!.n;
    };
    const untilWaiters = async (n: number) => {
      for (const deadline = Date.now() + 30_000; (await waiters()) < n;) {
        if (Date.now() > deadline) {
          throw new Error(`never ${n} waiting for the integration's row`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    let resume: Promise<unknown> | undefined;
    let pause: Promise<unknown> | undefined;
    try {
      await poolBusy;
      await holding;
      resume = transition(resumeDb, { integrationId: i.id, to: 'kickoff', actor: OPS }, clock);
      pause = transition(t.db, { integrationId: i.id, to: 'paused', actor: OPS }, clock);
      await untilWaiters(1);
      freePool();
      await untilWaiters(2);
    } finally {
      freePool();
      release();
      await Promise.allSettled([holder, occupier, resume, pause]);
      await resumeDb.destroy();
    }
    await pause;
    const resumed = ((await resume) as Awaited<ReturnType<typeof transition>>).integration;
    const history = await t.db
      .selectFrom('integration_transitions')
      .select(['to_stage', 'created_at'])
      .where('integration_id', '=', i.id)
      .where('to_stage', 'in', ['paused', 'kickoff'])
      .orderBy('id')
      .execute();
    expect(history.map((h) => h.to_stage)).toEqual(['kickoff', 'paused', 'kickoff']);
    // Each read the clock once it held the row: the pause at day 5, the resume after it (day 6), never before the
    // pause it ends (read when it was asked, the resume was timed day 5 and the pause day 6).
    expect(history.map((h) => h.created_at)).toEqual([i.at(0), i.at(5), i.at(6)]);
    // One day paused: kickoff's due date (day 7) and the process's (day 42) move by one day.
    expect(resumed.stageDueAt).toEqual(i.at(8));
    expect(resumed.processDueAt).toEqual(i.at(43));
  });
});
