import type { OnboardingStage, ValidationVerdict } from '../domain/types.ts';

/**
 * The onboarding lifecycle as a pure state machine: which transitions exist, which guards each one
 * has, and whether a set of facts passes them. No I/O and no clock, so every pair of stages is unit
 * tested; `lifecycle.ts` gathers the facts from the database and applies the decision.
 *
 * The pipeline follows J.P. Morgan's customer guide step by step. There are no backward edges: a CSR
 * that J.P. Morgan rejects is replaced by generating a new one while awaiting approval, not by moving
 * the integration back. `paused` can be entered from any active stage (including `live`) and resumes
 * only to the stage it was paused from; `cancelled` is reachable from everywhere and is terminal.
 */
export const PIPELINE = [
  'requested',
  'kickoff',
  'technical_setup',
  'security_admins',
  'awaiting_approval',
  'approved',
  'validating',
  'live',
] as const satisfies readonly OnboardingStage[];
export type PipelineStage = (typeof PIPELINE)[number];

export const GUARDS = [
  'eligibility_complete',
  'jpm_project_recorded',
  'csr_generated',
  'api_access_requested',
  'security_admins_recorded',
  'active_certificate',
  'api_access_confirmed',
  'accounts_configured',
  'validation_passed',
  'customer_signed_off',
] as const;
export type GuardName = (typeof GUARDS)[number];

/** The API products J.P. Morgan must grant for this service: transaction details and balances. */
export const REQUIRED_API_PRODUCTS = ['transactions', 'balances'] as const;

/** Guards for entering each pipeline stage from the one before it. */
export const ADVANCE_GUARDS: Readonly<Record<Exclude<PipelineStage, 'requested'>, readonly GuardName[]>> = {
  kickoff: ['eligibility_complete'],
  technical_setup: ['jpm_project_recorded'],
  security_admins: ['csr_generated', 'api_access_requested'],
  awaiting_approval: ['security_admins_recorded'],
  approved: ['active_certificate', 'api_access_confirmed'],
  validating: ['active_certificate', 'accounts_configured'],
  live: ['validation_passed', 'customer_signed_off'],
};

export interface EligibilityChecklist {
  /** The customer has a J.P. Morgan Access account … */
  jpmAccessAccount?: boolean;
  /** … and it is not Chase Connect (which has no API access). */
  notChaseConnect?: boolean;
  /** Name of the customer's J.P. Morgan representative. */
  jpmRepresentative?: string | null;
  /** Name of the person with signing authority for the customer. */
  signingAuthority?: string | null;
}

/** What the guards look at. `lifecycle.ts` builds it from the database (and the validation provider). */
export interface OnboardingFacts {
  eligibility: EligibilityChecklist;
  jpmProjectId: string | null;
  /** Key pairs (with a CSR) for the integration's current environment. */
  csrCount: number;
  apiAccessRequested: boolean;
  apiAccessProducts: readonly string[];
  apiAccessConfirmed: boolean;
  securityAdmins: { customer: number; ours: number };
  /** Active, currently valid certificates for the integration's environment. */
  activeCertificates: number;
  activeAccounts: number;
  /** Only fetched when the transition needs it (entering `live`). */
  validation?: ValidationVerdict;
  /**
   * The customer's review of their data (src/review). Absent or `required: false`: going live does
   * not wait for it (the default; configured per integration).
   */
  /** `olderReportSignedOff`: the latest answer confirmed a report older than the newest passed one. */
  customerSignoff?: { required: boolean; signedOff: boolean; problemOpen: boolean; olderReportSignedOff?: boolean };
}

export type TransitionKind = 'advance' | 'pause' | 'resume' | 'cancel';

export type TransitionPlan =
  | { allowed: true; kind: TransitionKind; guards: readonly GuardName[] }
  | { allowed: false; reason: string; allowedTargets: readonly OnboardingStage[] };

export interface GuardFailure {
  guard: GuardName;
  reason: string;
}

function isPipeline(stage: OnboardingStage): stage is PipelineStage {
  return (PIPELINE as readonly string[]).includes(stage);
}

function nextStage(stage: PipelineStage): PipelineStage | undefined {
  return PIPELINE[PIPELINE.indexOf(stage) + 1];
}

/** Every stage `from` may move to (guards not considered). `pausedFrom` matters only when paused. */
export function allowedTargets(from: OnboardingStage, pausedFrom: OnboardingStage | null): OnboardingStage[] {
  if (from === 'cancelled') {
    return [];
  }
  if (from === 'paused') {
    return pausedFrom !== null && isPipeline(pausedFrom) ? [pausedFrom, 'cancelled'] : ['cancelled'];
  }
  const next = nextStage(from);
  return [...(next ? [next] : []), 'paused', 'cancelled'];
}

/** Whether `from → to` exists, what kind of move it is and which guards it must pass. */
export function planTransition(
  from: OnboardingStage,
  to: OnboardingStage,
  pausedFrom: OnboardingStage | null,
): TransitionPlan {
  const targets = allowedTargets(from, pausedFrom);
  if (!targets.includes(to)) {
    const why = from === to ? `the integration is already ${from}` : `${from} → ${to} is not an allowed transition`;
    const options = targets.length === 0 ? `${from} is final` : `from ${from} it may go to ${targets.join(', ')}`;
    return { allowed: false, reason: `${why}; ${options}`, allowedTargets: targets };
  }
  if (to === 'cancelled') {
    return { allowed: true, kind: 'cancel', guards: [] };
  }
  if (to === 'paused') {
    return { allowed: true, kind: 'pause', guards: [] };
  }
  if (from === 'paused') {
    // Resuming returns to a stage whose guards already passed when it was first entered.
    return { allowed: true, kind: 'resume', guards: [] };
  }
  return { allowed: true, kind: 'advance', guards: ADVANCE_GUARDS[to as Exclude<PipelineStage, 'requested'>] };
}

function filled(value: string | null | undefined): boolean {
  return typeof value === 'string' && value.trim().length > 0;
}

/** One guard against the facts: undefined when it passes, else why it failed (said for a person). */
export function checkGuard(guard: GuardName, facts: OnboardingFacts): string | undefined {
  switch (guard) {
    case 'eligibility_complete': {
      const e = facts.eligibility;
      const missing = [
        e.jpmAccessAccount === true ? null : 'J.P. Morgan Access account confirmed',
        e.notChaseConnect === true ? null : 'not a Chase Connect account',
        filled(e.jpmRepresentative) ? null : 'J.P. Morgan representative named',
        filled(e.signingAuthority) ? null : 'person with signing authority named',
      ].filter((m): m is string => m !== null);
      return missing.length === 0 ? undefined : `eligibility checklist incomplete: ${missing.join('; ')}`;
    }
    case 'jpm_project_recorded':
      return filled(facts.jpmProjectId) ? undefined : 'no J.P. Morgan developer-portal project id recorded';
    case 'csr_generated':
      return facts.csrCount > 0 ? undefined : "no CSR generated for the integration's environment";
    case 'api_access_requested': {
      if (!facts.apiAccessRequested) {
        return 'API access not requested yet (transaction details and balances)';
      }
      const missing = REQUIRED_API_PRODUCTS.filter((p) => !facts.apiAccessProducts.includes(p));
      return missing.length === 0 ? undefined : `API access requested without: ${missing.join(', ')}`;
    }
    case 'security_admins_recorded': {
      const missing = [
        facts.securityAdmins.customer > 0 ? null : "the customer's security administrator",
        facts.securityAdmins.ours > 0 ? null : 'our security administrator',
      ].filter((m): m is string => m !== null);
      return missing.length === 0 ? undefined : `not recorded: ${missing.join(' and ')}`;
    }
    case 'active_certificate':
      return facts.activeCertificates > 0
        ? undefined
        : "no active, currently valid certificate installed for the integration's environment";
    case 'api_access_confirmed':
      return facts.apiAccessConfirmed ? undefined : 'J.P. Morgan has not confirmed API access yet';
    case 'accounts_configured':
      return facts.activeAccounts > 0 ? undefined : 'no active bank account configured';
    case 'validation_passed':
      if (!facts.validation) {
        return 'validation report not checked';
      }
      return facts.validation.passed
        ? undefined
        : `validation report not passed: ${facts.validation.reason ?? 'no reason given'}`;
    case 'customer_signed_off': {
      const c = facts.customerSignoff;
      if (!c?.required || (c.signedOff && !c.problemOpen)) {
        return undefined;
      }
      if (c.problemOpen) {
        return 'the customer reported a problem with their data and the follow-up is still open: resolve it, then ask them to review again';
      }
      return c.olderReportSignedOff
        ? 'the customer confirmed an earlier validation report; a newer one has passed since: send their controller a review link for it (POST /v1/integrations/{id}/review-links)'
        : 'the customer has not confirmed their data yet: their controller confirms it through the review link sent when validation passed';
    }
  }
}

export function evaluateGuards(guards: readonly GuardName[], facts: OnboardingFacts): GuardFailure[] {
  const failures: GuardFailure[] = [];
  for (const guard of guards) {
    const reason = checkGuard(guard, facts);
    if (reason !== undefined) {
      failures.push({ guard, reason });
    }
  }
  return failures;
}

/** Stages in which the due-date clock runs (paused stops it; live and cancelled end it). */
export function isClockRunning(stage: OnboardingStage): boolean {
  return stage !== 'paused' && stage !== 'cancelled' && stage !== 'live';
}
