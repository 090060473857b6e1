import { describe, expect, it } from 'vitest';
import { ONBOARDING_STAGES, type OnboardingStage } from '../../src/domain/types.ts';
import {
  ADVANCE_GUARDS,
  GUARDS,
  PIPELINE,
  allowedTargets,
  checkGuard,
  evaluateGuards,
  planTransition,
  type GuardName,
  type OnboardingFacts,
} from '../../src/onboarding/state-machine.ts';

/** Facts under which every guard passes. */
const ALL_MET: OnboardingFacts = {
  eligibility: {
    jpmAccessAccount: true,
    notChaseConnect: true,
    jpmRepresentative: 'Rita Rep',
    signingAuthority: 'Sam Signer',
  },
  jpmProjectId: 'proj-123',
  csrCount: 1,
  apiAccessRequested: true,
  apiAccessProducts: ['balances', 'transactions'],
  apiAccessConfirmed: true,
  securityAdmins: { customer: 1, ours: 1 },
  activeCertificates: 1,
  activeAccounts: 2,
  validation: { passed: true, reportId: 'r1' },
};

/** Facts under which no guard passes. */
const NONE_MET: OnboardingFacts = {
  eligibility: {},
  jpmProjectId: null,
  csrCount: 0,
  apiAccessRequested: false,
  apiAccessProducts: [],
  apiAccessConfirmed: false,
  securityAdmins: { customer: 0, ours: 0 },
  activeCertificates: 0,
  activeAccounts: 0,
  customerSignoff: { required: true, signedOff: false, problemOpen: false },
};

type Expected = { kind: 'advance' | 'pause' | 'resume' | 'cancel'; guards: readonly GuardName[] } | null;

/** The specification, written out independently of the implementation: what `from → to` should be. */
function expected(from: OnboardingStage, to: OnboardingStage, pausedFrom: OnboardingStage | null): Expected {
  if (from === to || from === 'cancelled') {
    return null;
  }
  if (to === 'cancelled') {
    return { kind: 'cancel', guards: [] };
  }
  if (from === 'paused') {
    return to === pausedFrom ? { kind: 'resume', guards: [] } : null;
  }
  if (to === 'paused') {
    return { kind: 'pause', guards: [] };
  }
  const order: OnboardingStage[] = [
    'requested',
    'kickoff',
    'technical_setup',
    'security_admins',
    'awaiting_approval',
    'approved',
    'validating',
    'live',
  ];
  const guards: Partial<Record<OnboardingStage, GuardName[]>> = {
    kickoff: ['eligibility_complete'],
    technical_setup: ['jpm_project_recorded'],
    security_admins: ['csr_generated', 'api_access_requested'],
    awaiting_approval: ['security_admins_recorded'],
    approved: ['active_certificate', 'api_access_confirmed'],
    validating: ['active_certificate', 'accounts_configured'],
    live: ['validation_passed', 'customer_signed_off'],
  };
  return order.indexOf(to) === order.indexOf(from) + 1 && order.includes(from)
    ? { kind: 'advance', guards: guards[to] ?? [] }
    : null;
}

const PAUSED_FROM_CASES: (OnboardingStage | null)[] = [null, ...PIPELINE];
const cases = ONBOARDING_STAGES.flatMap((from) =>
  ONBOARDING_STAGES.flatMap((to) =>
    (from === 'paused' ? PAUSED_FROM_CASES : [null]).map((pausedFrom) => ({ from, to, pausedFrom })),
  ),
);

describe('onboarding state machine: every pair of stages', () => {
  it('covers all 100 pairs (and every paused-from for paused)', () => {
    expect(cases.length).toBe(9 * 10 + 10 * PAUSED_FROM_CASES.length);
  });

  it.each(cases)('$from → $to (paused from $pausedFrom)', ({ from, to, pausedFrom }) => {
    const plan = planTransition(from, to, pausedFrom);
    const want = expected(from, to, pausedFrom);
    if (want === null) {
      expect(plan.allowed).toBe(false);
      if (!plan.allowed) {
        expect(plan.reason).toContain(from);
        expect(plan.allowedTargets).not.toContain(to);
      }
      return;
    }
    expect(plan).toEqual({ allowed: true, kind: want.kind, guards: want.guards });
    // Guards pass when all facts are met, and each one fails on its own when its fact is missing.
    expect(evaluateGuards(plan.allowed ? plan.guards : [], ALL_MET)).toEqual([]);
    const failed = evaluateGuards(plan.allowed ? plan.guards : [], NONE_MET).map((f) => f.guard);
    expect(failed).toEqual(want.guards);
  });
});

describe('allowed targets', () => {
  it('lists exactly the transitions planTransition allows', () => {
    for (const { from, pausedFrom } of cases) {
      const allowed = ONBOARDING_STAGES.filter((to) => planTransition(from, to, pausedFrom).allowed);
      expect(new Set(allowedTargets(from, pausedFrom))).toEqual(new Set(allowed));
    }
  });

  it('makes cancelled final and lets live be paused or cancelled only', () => {
    expect(allowedTargets('cancelled', null)).toEqual([]);
    expect(new Set(allowedTargets('live', null))).toEqual(new Set(['paused', 'cancelled']));
  });

  it('refuses a transition with a sentence that says where the integration may go', () => {
    const plan = planTransition('requested', 'approved', null);
    expect(plan).toMatchObject({
      allowed: false,
      reason:
        'requested → approved is not an allowed transition; from requested it may go to kickoff, paused, cancelled',
    });
  });
});

describe('guards', () => {
  it('every guard is used by some stage, and the advance table names only known guards', () => {
    const used = new Set(Object.values(ADVANCE_GUARDS).flat());
    expect([...used].sort()).toEqual([...GUARDS].sort());
  });

  it.each([
    [
      'eligibility_complete',
      {
        eligibility: { jpmAccessAccount: true, notChaseConnect: false, jpmRepresentative: 'R', signingAuthority: ' ' },
      },
      'not a Chase Connect account; person with signing authority named',
    ],
    ['jpm_project_recorded', { jpmProjectId: '  ' }, 'no J.P. Morgan developer-portal project id recorded'],
    ['csr_generated', { csrCount: 0 }, 'no CSR generated'],
    [
      'api_access_requested',
      { apiAccessRequested: true, apiAccessProducts: ['balances'] },
      'API access requested without: transactions',
    ],
    ['api_access_requested', { apiAccessRequested: false }, 'API access not requested yet'],
    [
      'security_admins_recorded',
      { securityAdmins: { customer: 1, ours: 0 } },
      'not recorded: our security administrator',
    ],
    [
      'security_admins_recorded',
      { securityAdmins: { customer: 0, ours: 2 } },
      "not recorded: the customer's security administrator",
    ],
    ['active_certificate', { activeCertificates: 0 }, 'no active, currently valid certificate'],
    ['api_access_confirmed', { apiAccessConfirmed: false }, 'J.P. Morgan has not confirmed API access yet'],
    ['accounts_configured', { activeAccounts: 0 }, 'no active bank account configured'],
    [
      'validation_passed',
      { validation: { passed: false, reason: 'coverage gap on 2026-11-02' } },
      'validation report not passed: coverage gap on 2026-11-02',
    ],
    ['validation_passed', { validation: undefined }, 'validation report not checked'],
    [
      'customer_signed_off',
      { customerSignoff: { required: true, signedOff: false, problemOpen: false } },
      'the customer has not confirmed their data yet',
    ],
    [
      'customer_signed_off',
      { customerSignoff: { required: true, signedOff: true, problemOpen: true } },
      'the customer reported a problem with their data',
    ],
    [
      'customer_signed_off',
      { customerSignoff: { required: true, signedOff: false, problemOpen: false, olderReportSignedOff: true } },
      'the customer confirmed an earlier validation report',
    ],
  ] as [GuardName, Partial<OnboardingFacts>, string][])(
    '%s fails with a reason a person can act on',
    (guard, patch, reason) => {
      const facts = { ...ALL_MET, ...patch };
      if ('validation' in patch && patch.validation === undefined) {
        delete facts.validation;
      }
      expect(checkGuard(guard, facts)).toContain(reason);
      expect(checkGuard(guard, ALL_MET)).toBeUndefined();
    },
  );
});
