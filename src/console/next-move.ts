import type { OnboardingStage } from '../domain/types.ts';
import {
  ADVANCE_GUARDS,
  allowedTargets,
  askValidation,
  loadFacts,
  PIPELINE,
  type GuardFailure,
  type GuardName,
  type OnboardingOptions,
} from '../onboarding/index.ts';
import { evaluateGuards } from '../onboarding/state-machine.ts';
import type { Database } from '../storage/db.ts';
import { findIntegrationLifecycle } from '../storage/integration-lifecycle.repo.ts';

/**
 * The next pipeline move of an integration and what stands in its way, read with the onboarding
 * service's own facts and guards (the same checks POST /v1/integrations/{id}/stage runs), so the
 * board says in advance what a move would be refused for. Nothing is written.
 */
export interface NextMove {
  /** The next pipeline stage (undefined when live, paused or cancelled). */
  to: OnboardingStage | undefined;
  guards: readonly GuardName[];
  failed: GuardFailure[];
  /** Every stage the integration may be moved to (guards not considered). */
  targets: OnboardingStage[];
}

export async function nextMove(
  db: Database,
  integrationId: string,
  options: OnboardingOptions,
  now: Date,
): Promise<NextMove | undefined> {
  const row = await findIntegrationLifecycle(db, integrationId);
  if (!row) {
    return undefined;
  }
  const stage = row.stage as OnboardingStage;
  const targets = allowedTargets(stage, row.paused_from_stage as OnboardingStage | null);
  const to = targets.find((t) => (PIPELINE as readonly string[]).includes(t) && stage !== 'paused');
  if (to === undefined || to === 'requested') {
    return { to: undefined, guards: [], failed: [], targets };
  }
  const guards = ADVANCE_GUARDS[to as Exclude<(typeof PIPELINE)[number], 'requested'>];
  // The validation provider is only asked when the move needs it (it builds on stored reports), as
  // the move itself asks it: a provider that fails is a failed guard with its reason, not an error page.
  const validation = guards.includes('validation_passed') ? await askValidation(options, row.id) : undefined;
  const facts = await loadFacts(db, row, now, validation);
  return { to, guards, failed: evaluateGuards(guards, facts), targets };
}
