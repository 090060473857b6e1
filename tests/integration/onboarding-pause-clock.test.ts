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
});
