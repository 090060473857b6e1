import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCsr, installCertificate } from '../../src/credentials/index.ts';
import {
  createIntegration,
  flagOverdue,
  getIntegration,
  listMilestones,
  listOverdue,
  listTransitions,
  recordApiAccess,
  recordEligibility,
  recordJpmProject,
  recordSecurityAdmin,
  refreshOverdueMetric,
  setExpectations,
  transition,
  type OnboardingOptions,
} from '../../src/onboarding/index.ts';
import type { OnboardingStage } from '../../src/domain/types.ts';
import { AppError } from '../../src/shared/errors.ts';
import { integrationsOverdue } from '../../src/shared/metrics.ts';
import { ensureDevPki, signCsr, type DevPki } from '../../src/simulator/index.ts';
import { addBankAccount, createOrganization, CSR_SUBJECT, ELIGIBLE } from '../factories/onboarding.ts';
import { createTestDb, feedSettled, type TestDb } from '../helpers/db.ts';

const secrets = { masterKey: { id: 'test-master', key: randomBytes(32) }, previousMasterKeys: [] };
const DAY = 86_400_000;

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect(err).toMatchObject({ code: 'transition_refused', httpStatus: 409 });
  return err as AppError;
}

describe('onboarding lifecycle (Postgres, simulator CA)', () => {
  let t: TestDb;
  let pki: DevPki;
  let pkiDir: string;
  let organizationId: string;

  beforeAll(async () => {
    t = await createTestDb();
    pkiDir = await mkdtemp(join(tmpdir(), 'jpm-sync-onboarding-pki-'));
    pki = await ensureDevPki(pkiDir);
    organizationId = await createOrganization(t.db);
  });
  afterAll(async () => {
    await t.drop();
    await rm(pkiDir, { recursive: true, force: true });
  });

  it('walks an integration through every stage, refusing each step until its guard holds', async () => {
    const ops = 'ops@jpm-sync.example';
    const created = await createIntegration(t.db, {
      organizationId,
      name: 'Acme Treasury',
      environment: 'simulator',
      baseUrl: 'https://127.0.0.1:8443',
      serverCaPem: pki.caCertPem,
      actor: ops,
    });
    const id = created.id;
    expect(created).toMatchObject({ stage: 'requested', environment: 'simulator', baseUrl: 'https://127.0.0.1:8443' });
    const move = (to: OnboardingStage, note = `to ${to}`, options?: OnboardingOptions) =>
      transition(t.db, { integrationId: id, to, actor: ops, note }, options);

    // requested → kickoff: the eligibility checklist.
    let err = await refusal(move('kickoff'));
    expect(err.message).toContain('guard eligibility_complete failed');
    await recordEligibility(t.db, {
      integrationId: id,
      checklist: { jpmAccessAccount: true, notChaseConnect: true },
      actor: ops,
    });
    err = await refusal(move('kickoff'));
    expect(err.message).toContain('J.P. Morgan representative named; person with signing authority named');
    await recordEligibility(t.db, { integrationId: id, checklist: ELIGIBLE, actor: ops });
    const kickoff = await move('kickoff', 'meeting booked with the JPM rep');
    expect(kickoff.integration.stage).toBe('kickoff');
    expect(kickoff.integration.stageDueAt?.getTime()).toBe(kickoff.integration.stageEnteredAt.getTime() + 7 * DAY);

    // kickoff → technical_setup: the developer-portal project id.
    err = await refusal(move('technical_setup'));
    expect(err.details).toMatchObject({ failedGuards: [{ guard: 'jpm_project_recorded' }] });
    await recordJpmProject(t.db, { integrationId: id, projectId: 'jpm-dev-portal-4711', actor: ops });
    await move('technical_setup');

    // technical_setup → security_admins: a CSR and API access requested for both products.
    err = await refusal(move('security_admins'));
    expect(err.message).toMatch(/guard csr_generated failed .*; guard api_access_requested failed/);
    const keyPair = await generateCsr(t.db, secrets, { integrationId: id, subject: CSR_SUBJECT, actor: ops });
    expect(keyPair).toMatchObject({ commonName: 'acme-treasury-sim', algorithm: 'RSA-2048', environment: 'simulator' });
    await recordApiAccess(t.db, { integrationId: id, status: 'requested', actor: ops });
    await move('security_admins');

    // security_admins → awaiting_approval: both sides' security administrators.
    await recordSecurityAdmin(t.db, {
      integrationId: id,
      side: 'customer',
      name: 'Carla Customer',
      email: 'carla@acme.example',
      role: 'Treasury security admin',
      actor: ops,
    });
    err = await refusal(move('awaiting_approval'));
    expect(err.message).toContain('not recorded: our security administrator');
    await recordSecurityAdmin(t.db, {
      integrationId: id,
      side: 'ours',
      name: 'Omar Ours',
      email: 'omar@jpm-sync.example',
      role: 'Platform security',
      actor: ops,
    });
    const awaiting = await move('awaiting_approval');
    expect(awaiting.integration.stageDueAt?.getTime()).toBe(awaiting.integration.stageEnteredAt.getTime() + 28 * DAY);

    // awaiting_approval → approved: the issued certificate (signed by the simulator's CA) and API access confirmed.
    err = await refusal(move('approved'));
    expect(err.message).toMatch(/guard active_certificate failed .*; guard api_access_confirmed failed/);
    const certPem = await signCsr(pki, keyPair.csrPem);
    const cert = await installCertificate(t.db, {
      integrationId: id,
      certificatePem: certPem,
      chainPem: pki.caCertPem,
      actor: ops,
    });
    expect(cert).toMatchObject({ status: 'active', subjectCn: 'acme-treasury-sim', keyPairId: keyPair.id });
    err = await refusal(move('approved'));
    expect(err.details).toMatchObject({ failedGuards: [{ guard: 'api_access_confirmed' }] });
    await recordApiAccess(t.db, { integrationId: id, status: 'confirmed', actor: ops });
    await move('approved');

    // approved → validating: accounts configured.
    err = await refusal(move('validating'));
    expect(err.message).toContain('guard accounts_configured failed (no active bank account configured)');
    await addBankAccount(t.db, { id, organizationId });
    await move('validating');

    // validating → live: a passed validation report. Without a provider the default refuses, with a reason.
    err = await refusal(move('live'));
    expect(err.message).toContain(
      'guard validation_passed failed (validation report not passed: no validation report provider is configured',
    );
    err = await refusal(
      move('live', 'x', {
        validationReportPassed: () => Promise.resolve({ passed: false, reason: '2026-11-03 does not prove' }),
      }),
    );
    expect(err.message).toContain('2026-11-03 does not prove');
    err = await refusal(
      move('live', 'x', { validationReportPassed: () => Promise.reject(new Error('validation db down')) }),
    );
    expect(err.message).toContain('the validation report could not be checked: validation db down');
    const live = await move('live', 'customer signed off the validation report', {
      validationReportPassed: () => Promise.resolve({ passed: true, reportId: 'report-42' }),
    });
    expect(live.integration).toMatchObject({ stage: 'live', stageDueAt: null });
    expect(live.integration.liveAt).toBeInstanceOf(Date);

    // History: who, when, from, to and the note of every step, the creation first.
    const history = await listTransitions(t.db, id);
    expect(history.map((h) => [h.from, h.to])).toEqual([
      [null, 'requested'],
      ['requested', 'kickoff'],
      ['kickoff', 'technical_setup'],
      ['technical_setup', 'security_admins'],
      ['security_admins', 'awaiting_approval'],
      ['awaiting_approval', 'approved'],
      ['approved', 'validating'],
      ['validating', 'live'],
    ]);
    expect(history.every((h) => h.actor === ops && h.at instanceof Date)).toBe(true);
    expect(history[1]?.note).toBe('meeting booked with the JPM rep');
    expect(history.at(-1)?.note).toBe('customer signed off the validation report');

    // Milestones in the outbox: one stage_changed per transition (none for the refusals), and live.
    await feedSettled(t.db);
    const events = await listMilestones(t.db, id);
    const types = events.map((e) => e.type);
    expect(types.filter((x) => x === 'integration.stage_changed')).toHaveLength(7);
    expect(types).toContain('integration.created');
    expect(types).toContain('certificate.installed');
    const liveEvent = events.find((e) => e.type === 'integration.live');
    expect(liveEvent).toMatchObject({
      organization_id: organizationId,
      integration_id: id,
      payload: { from: 'validating', to: 'live', validationReportId: 'report-42' },
    });
  });

  it('pauses from anywhere, resumes only to the stage it paused from, and cancelled is final', async () => {
    const ops = 'ops@jpm-sync.example';
    const { id } = await createIntegration(t.db, { organizationId, name: 'Beta Corp', environment: 'cat', actor: ops });
    await recordEligibility(t.db, { integrationId: id, checklist: ELIGIBLE, actor: ops });
    await transition(t.db, { integrationId: id, to: 'kickoff', actor: ops });
    const paused = await transition(t.db, { integrationId: id, to: 'paused', actor: ops, note: 'customer on holiday' });
    expect(paused.integration).toMatchObject({ stage: 'paused', pausedFromStage: 'kickoff', stageDueAt: null });
    const err = await refusal(transition(t.db, { integrationId: id, to: 'technical_setup', actor: ops }));
    expect(err.message).toBe(
      'cannot move the integration from paused to technical_setup: paused → technical_setup is not an allowed transition; from paused it may go to kickoff, cancelled',
    );
    const resumed = await transition(t.db, { integrationId: id, to: 'kickoff', actor: ops, note: 'back' });
    expect(resumed).toMatchObject({ kind: 'resume', integration: { stage: 'kickoff', pausedFromStage: null } });
    await transition(t.db, { integrationId: id, to: 'cancelled', actor: ops, note: 'customer chose another bank' });
    const final = await refusal(transition(t.db, { integrationId: id, to: 'requested', actor: ops }));
    expect(final.message).toContain('cancelled is final');
    expect((await getIntegration(t.db, id)).baseUrl).toBe('https://apigatewaycat.jpmorgan.com');
    await expect(
      createIntegration(t.db, {
        organizationId: '00000000-0000-7000-8000-000000000000',
        name: 'x',
        environment: 'cat',
        actor: ops,
      }),
    ).rejects.toMatchObject({ code: 'not_found' });
    await expect(
      createIntegration(t.db, { organizationId, name: 'x', environment: 'simulator', actor: ops }),
    ).rejects.toThrow(/simulator environment needs a baseUrl/);
  });

  it('a refused transition writes nothing, and concurrent identical moves apply once', async () => {
    const ops = 'ops';
    const { id } = await createIntegration(t.db, { organizationId, name: 'Gamma', environment: 'prod', actor: ops });
    await feedSettled(t.db);
    const before = (await listMilestones(t.db, id)).length;
    await refusal(transition(t.db, { integrationId: id, to: 'kickoff', actor: ops }));
    expect(await listTransitions(t.db, id)).toHaveLength(1);
    await feedSettled(t.db);
    expect(await listMilestones(t.db, id)).toHaveLength(before);
    expect((await getIntegration(t.db, id)).stage).toBe('requested');

    await recordEligibility(t.db, { integrationId: id, checklist: ELIGIBLE, actor: ops });
    const results = await Promise.allSettled(
      [1, 2, 3].map(() => transition(t.db, { integrationId: id, to: 'kickoff', actor: ops })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected.map((r) => (r.reason as AppError).message)).toEqual(
      Array(2).fill(
        'cannot move the integration from kickoff to kickoff: the integration is already kickoff; from kickoff it may go to technical_setup, paused, cancelled',
      ),
    );
    expect(await listTransitions(t.db, id)).toHaveLength(2);
  });

  it('lists overdue integrations and flags each stage occurrence once', async () => {
    const t0 = new Date('2031-03-02T09:00:00Z');
    let now = t0;
    const options: OnboardingOptions = { now: () => now };
    const at = (days: number) => new Date(t0.getTime() + days * DAY);
    const org = await createOrganization(t.db, 'Overdue Org');
    const ops = 'ops';
    const { id } = await createIntegration(
      t.db,
      { organizationId: org, name: 'Slow Co', environment: 'cat', actor: ops },
      options,
    );
    const { id: quickId } = await createIntegration(
      t.db,
      {
        organizationId: org,
        name: 'Quick Co',
        environment: 'cat',
        actor: ops,
        expectations: { stageDays: { kickoff: 2 } },
      },
      options,
    );
    await recordEligibility(t.db, { integrationId: id, checklist: ELIGIBLE, actor: ops });
    await recordEligibility(t.db, { integrationId: quickId, checklist: ELIGIBLE, actor: ops });
    await transition(t.db, { integrationId: id, to: 'kickoff', actor: ops }, options);
    await transition(t.db, { integrationId: quickId, to: 'kickoff', actor: ops }, options);
    const mine = async (when: Date) =>
      (await listOverdue(t.db, when)).filter((o) => [id, quickId].includes(o.integrationId));
    const flagged = async (when: Date) =>
      (await flagOverdue(t.db, when)).flagged.filter((f) => [id, quickId].includes(f.integrationId));

    expect(await mine(at(1))).toEqual([]);
    // Quick Co's own expectation (kickoff 2 days) makes it overdue first.
    expect((await mine(at(3))).map((o) => [o.integrationId, o.overdue, o.daysOverdue])).toEqual([
      [quickId, ['stage'], 1],
    ]);
    expect(await flagged(at(3))).toEqual([{ integrationId: quickId, kind: 'stage', stage: 'kickoff', dueAt: at(2) }]);
    expect(await flagged(at(3.5))).toEqual([]);
    expect(await refreshOverdueMetric(t.db, at(3))).toBe((await listOverdue(t.db, at(3))).length);
    expect((await integrationsOverdue.get()).values[0]?.value).toBe((await listOverdue(t.db, at(3))).length);
    // Slow Co has the default week; both flagged runs are idempotent.
    expect((await flagged(at(8))).map((f) => f.integrationId)).toEqual([id]);
    expect(await flagged(at(8))).toEqual([]);

    // A transition starts a new stage occurrence: its own due date and, later, its own overdue event.
    await recordJpmProject(t.db, { integrationId: id, projectId: 'p-1', actor: ops });
    now = at(9);
    await transition(t.db, { integrationId: id, to: 'technical_setup', actor: ops }, options);
    expect(await mine(at(10))).toMatchObject([{ integrationId: quickId }]);
    expect(await flagged(at(17))).toEqual([
      { integrationId: id, kind: 'stage', stage: 'technical_setup', dueAt: at(16) },
    ]);

    // Paused integrations are never overdue; a per-integration override recomputes the due dates.
    now = at(17);
    await transition(t.db, { integrationId: quickId, to: 'paused', actor: ops }, options);
    expect((await mine(at(17))).map((o) => o.integrationId)).toEqual([id]);
    const extended = await setExpectations(t.db, {
      integrationId: id,
      expectations: { stageDays: { technical_setup: 30 }, processDays: 90 },
      actor: ops,
    });
    expect(extended.stageDueAt).toEqual(at(39));
    expect(extended.processDueAt).toEqual(at(90));
    expect(await mine(at(20))).toEqual([]);

    // The whole process (90 days for Slow Co now, default 42 for Quick Co) is flagged once.
    const processFlags = await flagged(at(91));
    expect(processFlags.filter((f) => f.kind === 'process')).toEqual([
      { integrationId: id, kind: 'process', stage: 'technical_setup', dueAt: at(90) },
    ]);
    expect((await flagged(at(92))).filter((f) => f.kind === 'process')).toEqual([]);

    await feedSettled(t.db);
    const overdueEvents = (await listMilestones(t.db, id)).filter((e) => e.type === 'integration.overdue');
    expect(
      overdueEvents.map(
        (e) => (e.payload as { kind: string; stage: string }).kind + ':' + (e.payload as { stage: string }).stage,
      ),
    ).toEqual(['stage:kickoff', 'stage:technical_setup', 'process:technical_setup']);
  });
});
