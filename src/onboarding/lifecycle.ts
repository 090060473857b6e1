import { ONBOARDING_STAGES, type OnboardingStage, type ValidationVerdict } from '../domain/types.ts';
import { AppError, NotFoundError, ValidationError, errorMessage } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { listUsableCertificates } from '../storage/certificates.repo.ts';
import type { BeforeCommit, Database, Executor } from '../storage/db.ts';
import * as repo from '../storage/integration-lifecycle.repo.ts';
import { listKeyPairs } from '../storage/key-pairs.repo.ts';
import type { FeedPosition } from '../storage/change-feed.repo.ts';
import {
  committedOutboxEventsAfter,
  insertOutboxEvents,
  OUTBOX_FEED_START,
  type OutboxEventInput,
  type OutboxFeedRow,
} from '../storage/outbox.repo.ts';
import { countSecurityAdminsBySide } from '../storage/security-admins.repo.ts';
import { signoffState } from '../storage/reviews.repo.ts';
import { stageDueAt } from './expectations.ts';
import { clock, refuseWithoutValidationProvider, type OnboardingOptions } from './options.ts';
import {
  evaluateGuards,
  planTransition,
  type GuardFailure,
  type OnboardingFacts,
  type TransitionKind,
} from './state-machine.ts';
import {
  effectiveExpectations,
  eligibilityOf,
  integrationView,
  transitionView,
  type IntegrationView,
  type TransitionView,
} from './views.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('onboarding');

/** Reads everything the guards look at, for the integration's current environment at `now`. */
export async function loadFacts(
  ex: Executor,
  row: repo.IntegrationLifecycleRow,
  now: Date,
  validation?: ValidationVerdict,
): Promise<OnboardingFacts> {
  const [keyPairs, certificates, securityAdmins, activeAccounts, signoff] = await Promise.all([
    listKeyPairs(ex, row.id, row.environment),
    listUsableCertificates(ex, row.id, row.environment, now),
    countSecurityAdminsBySide(ex, row.id),
    repo.countActiveAccounts(ex, row.id),
    signoffState(ex, row.id),
  ]);
  return {
    eligibility: eligibilityOf(row.eligibility),
    jpmProjectId: row.jpm_project_id,
    csrCount: keyPairs.length,
    apiAccessRequested: row.api_access_requested_at !== null,
    apiAccessProducts: row.api_access_products,
    apiAccessConfirmed: row.api_access_confirmed_at !== null,
    securityAdmins,
    activeCertificates: certificates.length,
    activeAccounts,
    customerSignoff: {
      required: signoff.required,
      // "Complete and accurate" vouches for the report the customer saw: a newer passed report needs its own answer.
      signedOff: signoff.latest?.verdict === 'accurate' && signoff.latest.reportId === signoff.newestPassedReportId,
      olderReportSignedOff:
        signoff.latest?.verdict === 'accurate' && signoff.latest.reportId !== signoff.newestPassedReportId,
      problemOpen: signoff.openFollowUps > 0,
    },
    ...(validation ? { validation } : {}),
  };
}

/** The validation provider's verdict; a provider that fails is a failed verdict with its reason, never a throw. */
export async function askValidation(options: OnboardingOptions, integrationId: string): Promise<ValidationVerdict> {
  const provider = options.validationReportPassed ?? refuseWithoutValidationProvider;
  try {
    return await provider(integrationId);
  } catch (err) {
    return { passed: false, reason: `the validation report could not be checked: ${errorMessage(err)}` };
  }
}

function refusal(from: string, to: string, message: string, details: Record<string, unknown>): AppError {
  return new AppError(`cannot move the integration from ${from} to ${to}: ${message}`, {
    code: 'transition_refused',
    httpStatus: 409,
    details: { from, to, ...details },
  });
}

function guardRefusal(from: string, to: string, failures: GuardFailure[]): AppError {
  const text = failures.map((f) => `guard ${f.guard} failed (${f.reason})`).join('; ');
  return refusal(from, to, text, { failedGuards: failures });
}

export interface TransitionInput {
  integrationId: string;
  to: OnboardingStage;
  actor: string;
  note?: string;
}

export interface TransitionResult {
  integration: IntegrationView;
  transition: TransitionView;
  kind: TransitionKind;
}

/**
 * Moves an integration to `to` if the transition exists and its guards pass; otherwise throws
 * `transition_refused` (409) naming every failed guard. The stage change, its history row and the
 * milestone events commit in one transaction, under a row lock so concurrent moves serialize.
 */
export async function transition(
  db: Database,
  input: TransitionInput,
  options: OnboardingOptions = {},
  beforeCommit?: BeforeCommit<TransitionResult>,
): Promise<TransitionResult> {
  if (!(ONBOARDING_STAGES as readonly string[]).includes(input.to)) {
    throw new ValidationError(`to must be one of ${ONBOARDING_STAGES.join(', ')}`, [
      { path: 'to', message: 'unknown stage' },
    ]);
  }
  if (typeof input.actor !== 'string' || input.actor.trim() === '') {
    throw new ValidationError('actor is required: every transition records who made it', [
      { path: 'actor', message: 'required' },
    ]);
  }
  const before = await repo.findIntegrationLifecycle(db, input.integrationId);
  if (!before) {
    throw new NotFoundError('integration', input.integrationId);
  }
  // Ask the validation provider before taking the row lock: it may be slow and is not ours.
  const prePlan = planTransition(
    before.stage as OnboardingStage,
    input.to,
    before.paused_from_stage as OnboardingStage | null,
  );
  let validation =
    prePlan.allowed && prePlan.guards.includes('validation_passed')
      ? await askValidation(options, before.id)
      : undefined;

  try {
    return await db.transaction().execute(async (trx) => {
      const row = await repo.findIntegrationLifecycle(trx, input.integrationId, { forUpdate: true });
      if (!row) {
        throw new NotFoundError('integration', input.integrationId);
      }
      // Read once the row is ours: a transition that waited (for the pool, the validation provider or the transition
      // before it) happens now, after the one it waited for, not when it was asked (a resume timed before the pause it
      // ends would count no paused time and show in the history before it).
      const now = clock(options);
      const from = row.stage as OnboardingStage;
      const plan = planTransition(from, input.to, row.paused_from_stage as OnboardingStage | null);
      if (!plan.allowed) {
        throw refusal(from, input.to, plan.reason, { allowedTargets: plan.allowedTargets, failedGuards: [] });
      }
      if (plan.guards.includes('validation_passed') && !validation) {
        validation = await askValidation(options, row.id);
      }
      const failures = evaluateGuards(plan.guards, await loadFacts(trx, row, now, validation));
      if (failures.length > 0) {
        throw guardRefusal(from, input.to, failures);
      }
      const result = await applyTransition(
        trx,
        row,
        { to: input.to, kind: plan.kind, actor: input.actor.trim(), note: input.note?.trim() ?? '', now, validation },
        options,
      );
      await beforeCommit?.(trx, result);
      return result;
    });
  } catch (err) {
    if (err instanceof AppError && err.code === 'transition_refused') {
      log().info(
        {
          integrationId: input.integrationId,
          from: before.stage,
          to: input.to,
          actor: input.actor,
          details: err.details,
        },
        'transition refused',
      );
    }
    throw err;
  }
}

async function applyTransition(
  trx: Executor,
  row: repo.IntegrationLifecycleRow,
  t: {
    to: OnboardingStage;
    kind: TransitionKind;
    actor: string;
    note: string;
    now: Date;
    validation: ValidationVerdict | undefined;
  },
  options: OnboardingOptions,
): Promise<TransitionResult> {
  const from = row.stage as OnboardingStage;
  const due = dueDatesOnEntry(row, t, options);
  const dueAt = t.kind === 'pause' ? null : due.stage_due_at;
  const updated = await repo.updateIntegrationLifecycle(trx, row.id, {
    stage: t.to,
    stage_entered_at: t.now,
    ...due,
    paused_from_stage: t.kind === 'pause' ? from : null,
    ...(t.to === 'live' ? { live_at: t.now } : {}),
    updated_at: t.now,
  });
  const history = await repo.insertTransition(trx, {
    organizationId: row.organization_id,
    integrationId: row.id,
    from,
    to: t.to,
    actor: t.actor,
    note: t.note,
    at: t.now,
  });
  const base = {
    integrationId: row.id,
    name: row.name,
    from,
    to: t.to,
    kind: t.kind,
    actor: t.actor,
    note: t.note,
    at: t.now.toISOString(),
  };
  const events: OutboxEventInput[] = [
    {
      organizationId: row.organization_id,
      integrationId: row.id,
      type: 'integration.stage_changed',
      payload: { ...base, stageDueAt: dueAt?.toISOString() ?? null },
    },
  ];
  if (t.to === 'live') {
    events.push({
      organizationId: row.organization_id,
      integrationId: row.id,
      type: 'integration.live',
      payload: { ...base, validationReportId: t.validation?.reportId ?? null },
    });
  }
  await insertOutboxEvents(trx, events);
  log().info({ integrationId: row.id, from, to: t.to, kind: t.kind, actor: t.actor }, 'integration stage changed');
  return { integration: integrationView(updated, options), transition: transitionView(history), kind: t.kind };
}

type DueDates = Required<
  Pick<repo.IntegrationPatch, 'stage_due_at' | 'stage_overdue_flagged_at' | 'process_due_at'>
> & { stage_due_at: Date | null };

/**
 * Due dates on entering a stage. Advancing starts a new stage occurrence with its own due date. A pause stops the
 * clock: the due dates are kept as they were (not in force while paused, the overdue queries skip paused), and the
 * resume moves the step's and the whole process's due dates by the pause's length and keeps the step's overdue flag,
 * so a pause neither makes the process late nor gives a late step a fresh due date (or a second overdue notice).
 */
function dueDatesOnEntry(
  row: repo.IntegrationLifecycleRow,
  t: { to: OnboardingStage; kind: TransitionKind; now: Date },
  options: OnboardingOptions,
): DueDates {
  const kept = {
    stage_due_at: row.stage_due_at,
    stage_overdue_flagged_at: row.stage_overdue_flagged_at,
    process_due_at: row.process_due_at,
  };
  if (t.kind === 'pause') {
    return kept;
  }
  const fresh = stageDueAt(t.to, t.now, effectiveExpectations(row, options));
  if (t.kind !== 'resume') {
    return { stage_due_at: fresh, stage_overdue_flagged_at: null, process_due_at: row.process_due_at };
  }
  // While paused, stage_entered_at is when the pause began.
  const pausedMs = Math.max(0, t.now.getTime() - row.stage_entered_at.getTime());
  const moved = (d: Date | null) => (d === null ? null : new Date(d.getTime() + pausedMs));
  return row.stage_due_at === null
    ? { stage_due_at: fresh, stage_overdue_flagged_at: null, process_due_at: moved(row.process_due_at) }
    : { ...kept, stage_due_at: moved(row.stage_due_at), process_due_at: moved(row.process_due_at) };
}

/** The integration's stage history, oldest first (the first row is its creation). */
export async function listTransitions(ex: Executor, integrationId: string): Promise<TransitionView[]> {
  return (await repo.listTransitions(ex, integrationId)).map(transitionView);
}

/**
 * Milestone events of one integration (stage changes, live, overdue, certificates) after `after`, in commit order:
 * only events of finished transactions, so one that commits late is never behind a position already handed out.
 */
export async function listMilestones(
  ex: Executor,
  integrationId: string,
  page: { after?: FeedPosition; limit?: number } = {},
): Promise<OutboxFeedRow[]> {
  return committedOutboxEventsAfter(ex, page.after ?? OUTBOX_FEED_START, page.limit ?? 100, { integrationId });
}
