import type { z } from 'zod';
import { applyEnvironment, checkBaseUrlAddress, resolveEnvironmentSettings } from '../credentials/index.ts';
import {
  getIntegration,
  listSecurityAdmins,
  parseExpectationsOverride,
  recordApiAccess,
  recordEligibility,
  recordJpmProject,
  removeSecurityAdmin,
  setExpectations,
  transition,
  type OnboardingOptions,
} from '../onboarding/index.ts';
import { requestScheduleReconcile, type Queues } from '../scheduler/index.ts';
import { isAppError, NotFoundError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { inTransaction, type Database, type Executor } from '../storage/db.ts';
import { findIntegrationLifecycle, updateIntegrationLifecycle } from '../storage/integration-lifecycle.repo.ts';
import type { EligibilityBody, IntegrationUpdateBody } from './integrations.dto.ts';

/**
 * What the integration routes do beyond the onboarding service: a stage move or a settings change
 * that alters an integration's schedules asks a worker to reconcile them (onboarding itself does
 * not reach the scheduler), and a PATCH spans onboarding, credentials (environment) and settings.
 */
export interface IntegrationServiceDeps {
  db: Database;
  queues: Queues;
  /** The onboarding service's options (clock, expectations, the `live` guard's validation provider). */
  onboarding: OnboardingOptions;
}

const log = () => createLogger('onboarding');

/** The settings a PATCH may change (`securityAdmins` is refused by the route before this is called). */
export type IntegrationSettings = Omit<z.output<typeof IntegrationUpdateBody>, 'securityAdmins'>;

/**
 * Moves the integration (onboarding's transition, with its guards) and reconciles schedules on pause, resume, cancel.
 */
export async function moveIntegration(
  deps: IntegrationServiceDeps,
  input: Parameters<typeof transition>[1],
  beforeCommit?: Parameters<typeof transition>[3],
): Promise<Awaited<ReturnType<typeof transition>>> {
  let result: Awaited<ReturnType<typeof transition>>;
  try {
    result = await transition(deps.db, input, deps.onboarding, beforeCommit);
  } catch (err) {
    // Refused because the integration is already there: most likely the retry of a move that committed but whose
    // schedule reconcile failed (Redis away). Asking for the reconcile again makes that retry repair the schedules.
    if (isAppError(err) && err.code === 'transition_refused' && err.details?.from === err.details?.to) {
      // The refusal is the answer; a reconcile that cannot be asked for now (Redis away) does not replace it.
      await requestScheduleReconcile(deps.queues, { integrationId: input.integrationId }).catch(
        (reconcileErr: unknown) =>
          log().warn({ err: reconcileErr, integrationId: input.integrationId }, 'schedule reconcile not requested'),
      );
    }
    throw err;
  }
  if (result.kind !== 'advance') {
    // Paused and cancelled integrations get no scheduled syncs; a resume brings them back.
    await requestScheduleReconcile(deps.queues, { integrationId: input.integrationId });
  }
  return result;
}

/** Where the integration connects after a PATCH: a new environment starts from its own defaults. */
function environmentChange(
  current: { environment: string; baseUrl: string; serverCaPem: string | null },
  body: Pick<IntegrationSettings, 'environment' | 'baseUrl' | 'serverCaPem'>,
  approvedHosts: readonly string[] = [],
) {
  if (body.environment === undefined && body.baseUrl === undefined && body.serverCaPem === undefined) {
    return undefined;
  }
  const environment = body.environment ?? current.environment;
  const switched = environment !== current.environment;
  return resolveEnvironmentSettings(
    {
      environment,
      baseUrl: body.baseUrl !== undefined ? body.baseUrl : switched ? null : current.baseUrl,
      serverCaPem: body.serverCaPem !== undefined ? body.serverCaPem : switched ? null : current.serverCaPem,
    },
    approvedHosts,
  );
}

/**
 * Changes an integration's settings and onboarding facts, all or nothing. Everything that can be refused (the new
 * environment and its address, the expectations) is checked before anything is changed, and every part is written in
 * one transaction: a failure in any part (a database error, a refusal) leaves the integration as it was. A new
 * intradayRunsPerDay has its accounts' schedules reconciled once committed.
 */
export async function updateIntegrationSettings(
  deps: IntegrationServiceDeps,
  integrationId: string,
  changes: IntegrationSettings,
  actor: string,
): Promise<void> {
  const opts = deps.onboarding;
  const current = await getIntegration(deps.db, integrationId, opts);
  const resolved = environmentChange(current, changes, opts.connectionPolicy?.jpmBaseUrlHosts);
  const settings = resolved ? await checkBaseUrlAddress(resolved, opts.connectionPolicy) : undefined;
  if (changes.expectations) {
    parseExpectationsOverride(changes.expectations);
  }
  await inTransaction(deps.db, async (trx) => {
    // The row lock first: every part then writes under it (no lock upgrade half-way through).
    if (!(await findIntegrationLifecycle(trx, integrationId, { forUpdate: true }))) {
      throw new NotFoundError('integration', integrationId);
    }
    if (changes.name !== undefined || changes.intradayRunsPerDay !== undefined) {
      await updateIntegrationLifecycle(trx, integrationId, {
        ...(changes.name !== undefined ? { name: changes.name } : {}),
        ...(changes.intradayRunsPerDay !== undefined ? { intraday_runs_per_day: changes.intradayRunsPerDay } : {}),
      });
    }
    if (settings) {
      await applyEnvironment(trx, integrationId, settings, actor);
    }
    if (changes.expectations !== undefined) {
      await setExpectations(trx, { integrationId, expectations: changes.expectations, actor }, opts);
    }
    if (changes.eligibility !== undefined) {
      await recordEligibilityAnswers({ db: trx, onboarding: opts }, integrationId, changes.eligibility, actor);
    }
    if (changes.jpmProjectId !== undefined) {
      await recordJpmProject(trx, { integrationId, projectId: changes.jpmProjectId, actor }, opts);
    }
    if (changes.apiAccess !== undefined) {
      const { status, products } = changes.apiAccess;
      await recordApiAccess(trx, { integrationId, status, actor, ...(products ? { products } : {}) }, opts);
    }
  });
  log().info(
    {
      integrationId,
      actor,
      changed: Object.keys(changes).filter((k) => changes[k as keyof IntegrationSettings] !== undefined),
      ...(settings ? { environment: settings.environment, baseUrl: settings.baseUrl } : {}),
    },
    'integration settings updated',
  );
  // Whenever the value is given, changed or not: a retry of a PATCH whose reconcile failed after commit repairs it.
  if (changes.intradayRunsPerDay !== undefined) {
    await requestScheduleReconcile(deps.queues, { integrationId });
  }
}

/** Merges the given eligibility answers (those not given stay as they are) into the checklist. */
export async function recordEligibilityAnswers(
  deps: { db: Executor; onboarding: OnboardingOptions },
  integrationId: string,
  answers: z.output<typeof EligibilityBody>,
  actor: string,
) {
  const checklist = Object.fromEntries(Object.entries(answers).filter(([, v]) => v !== undefined));
  return recordEligibility(deps.db, { integrationId, checklist, actor }, deps.onboarding);
}

/** Removes one of the integration's security administrators (404 when not its) and returns who it was. */
export async function removeIntegrationSecurityAdmin(
  db: Database,
  input: { integrationId: string; securityAdminId: string; actor: string },
) {
  const admin = (await listSecurityAdmins(db, input.integrationId)).find((a) => a.id === input.securityAdminId);
  if (!admin) {
    throw new NotFoundError('security administrator', input.securityAdminId);
  }
  await removeSecurityAdmin(db, { integrationId: input.integrationId, securityAdminId: admin.id, actor: input.actor });
  return admin;
}
