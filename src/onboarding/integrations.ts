import { z } from 'zod';
import { checkBaseUrlAddress, resolveEnvironmentSettings } from '../credentials/environment.ts';
import type { JpmEnvironment, OnboardingStage } from '../domain/types.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import { createLogger } from '../shared/logger.ts';
import { inTransaction, type BeforeCommit, type Database, type Executor } from '../storage/db.ts';
import * as repo from '../storage/integration-lifecycle.repo.ts';
import { findOrganization } from '../storage/organizations.repo.ts';
import { insertOutboxEvents } from '../storage/outbox.repo.ts';
import { movedDueAt, parseExpectationsOverride, processDueAt, stageDueAt } from './expectations.ts';
import { clock, type OnboardingOptions } from './options.ts';
import { REQUIRED_API_PRODUCTS, type EligibilityChecklist } from './state-machine.ts';
import { effectiveExpectations, eligibilityOf, integrationView, type IntegrationView } from './views.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('onboarding');

function requireText(value: string | undefined, path: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError(`${path} is required`, [{ path, message: 'required' }]);
  }
  return value.trim();
}

async function lockIntegration(ex: Executor, id: string): Promise<repo.IntegrationLifecycleRow> {
  const row = await repo.findIntegrationLifecycle(ex, id, { forUpdate: true });
  if (!row) {
    throw new NotFoundError('integration', id);
  }
  return row;
}

export interface CreateIntegrationInput {
  organizationId: string;
  name: string;
  environment?: JpmEnvironment;
  baseUrl?: string | null;
  serverCaPem?: string | null;
  /** Per-integration override of the expectations (days per stage, whole process). */
  expectations?: unknown;
  actor: string;
}

/** Creates an integration in `requested`, with its due dates, a first history row and an outbox event. */
export async function createIntegration(
  db: Database,
  input: CreateIntegrationInput,
  options: OnboardingOptions = {},
  beforeCommit?: BeforeCommit<IntegrationView>,
): Promise<IntegrationView> {
  const name = requireText(input.name, 'name');
  const actor = requireText(input.actor, 'actor');
  const settings = resolveEnvironmentSettings(
    { environment: input.environment ?? 'simulator', baseUrl: input.baseUrl, serverCaPem: input.serverCaPem },
    options.connectionPolicy?.jpmBaseUrlHosts,
  );
  await checkBaseUrlAddress(settings, options.connectionPolicy);
  const override =
    input.expectations === undefined || input.expectations === null
      ? null
      : parseExpectationsOverride(input.expectations);
  const expectations = effectiveExpectations({ expectations: override }, options);
  const now = clock(options);
  const row = await db.transaction().execute(async (trx) => {
    if (!(await findOrganization(trx, input.organizationId))) {
      throw new NotFoundError('organization', input.organizationId);
    }
    const inserted = await repo.insertIntegration(trx, {
      id: uuidv7(now.getTime()),
      organizationId: input.organizationId,
      name,
      environment: settings.environment,
      baseUrl: settings.baseUrl,
      serverCaPem: settings.serverCaPem,
      stageEnteredAt: now,
      stageDueAt: stageDueAt('requested', now, expectations),
      processDueAt: processDueAt(now, expectations),
      expectations: override,
    });
    await repo.insertTransition(trx, {
      organizationId: inserted.organization_id,
      integrationId: inserted.id,
      from: null,
      to: 'requested',
      actor,
      note: 'integration created',
      at: now,
    });
    await insertOutboxEvents(trx, [
      {
        organizationId: inserted.organization_id,
        integrationId: inserted.id,
        type: 'integration.created',
        payload: {
          integrationId: inserted.id,
          name,
          environment: settings.environment,
          stage: 'requested',
          actor,
          at: now.toISOString(),
        },
      },
    ]);
    const view = integrationView(inserted, options);
    await beforeCommit?.(trx, view);
    return view;
  });
  log().info(
    { integrationId: row.id, organizationId: row.organizationId, environment: row.environment },
    'integration created',
  );
  return row;
}

export async function getIntegration(
  ex: Executor,
  integrationId: string,
  options: OnboardingOptions = {},
): Promise<IntegrationView> {
  const row = await repo.findIntegrationLifecycle(ex, integrationId);
  if (!row) {
    throw new NotFoundError('integration', integrationId);
  }
  return integrationView(row, options);
}

/**
 * A keyset page of integrations (oldest first) for the admin API; `overdue` limits it to those past
 * a due date now. `nextCursor` is opaque (src/storage/pagination.ts).
 */
export async function pageIntegrations(
  ex: Executor,
  filter: {
    organizationId?: string | undefined;
    stage?: OnboardingStage | undefined;
    overdue?: boolean;
    cursor?: string | undefined;
    limit: number;
  },
  options: OnboardingOptions = {},
): Promise<{ integrations: IntegrationView[]; nextCursor: string | null }> {
  const page = await repo.pageIntegrationsLifecycle(ex, {
    organizationId: filter.organizationId,
    stage: filter.stage,
    overdueAt: filter.overdue === true ? clock(options) : undefined,
    cursor: filter.cursor,
    limit: filter.limit,
  });
  return { integrations: page.rows.map((r) => integrationView(r, options)), nextCursor: page.nextCursor };
}

const eligibilitySchema = z
  .object({
    jpmAccessAccount: z.boolean(),
    notChaseConnect: z.boolean(),
    jpmRepresentative: z.string().max(200).nullable(),
    signingAuthority: z.string().max(200).nullable(),
  })
  .partial()
  .strict();

/** Merges answers into the eligibility checklist (the guard for leaving `requested`). */
export async function recordEligibility(
  db: Executor,
  input: { integrationId: string; checklist: EligibilityChecklist; actor: string },
  options: OnboardingOptions = {},
): Promise<IntegrationView> {
  const parsed = eligibilitySchema.safeParse(input.checklist);
  if (!parsed.success) {
    throw new ValidationError(
      'the eligibility checklist has unknown or mistyped answers',
      parsed.error.issues.map((i) => ({ path: ['checklist', ...i.path].join('.'), message: i.message })),
    );
  }
  const row = await inTransaction(db, async (trx) => {
    const current = await lockIntegration(trx, input.integrationId);
    const merged = { ...eligibilityOf(current.eligibility), ...parsed.data };
    return repo.updateIntegrationLifecycle(trx, current.id, { eligibility: JSON.stringify(merged) });
  });
  // Inside a caller's transaction the caller says what it changed, once committed.
  if (!db.isTransaction) {
    log().info({ integrationId: row.id, actor: input.actor }, 'eligibility checklist updated');
  }
  return integrationView(row, options);
}

/** Records the J.P. Morgan developer-portal project id (the guard for leaving `kickoff`). */
export async function recordJpmProject(
  db: Executor,
  input: { integrationId: string; projectId: string; actor: string },
  options: OnboardingOptions = {},
): Promise<IntegrationView> {
  const projectId = requireText(input.projectId, 'projectId');
  const row = await inTransaction(db, async (trx) => {
    const current = await lockIntegration(trx, input.integrationId);
    return repo.updateIntegrationLifecycle(trx, current.id, { jpm_project_id: projectId });
  });
  // Inside a caller's transaction the caller says what it changed, once committed.
  if (!db.isTransaction) {
    log().info({ integrationId: row.id, actor: input.actor }, 'J.P. Morgan project id recorded');
  }
  return integrationView(row, options);
}

/**
 * Records that API access was requested from J.P. Morgan (products default to transaction details
 * and balances) or that J.P. Morgan confirmed it. Confirming implies it was requested.
 */
export async function recordApiAccess(
  db: Executor,
  input: {
    integrationId: string;
    status: 'requested' | 'confirmed';
    products?: readonly string[];
    actor: string;
    at?: Date;
  },
  options: OnboardingOptions = {},
): Promise<IntegrationView> {
  if (input.status !== 'requested' && input.status !== 'confirmed') {
    throw new ValidationError('status must be requested or confirmed', [
      { path: 'status', message: 'requested | confirmed' },
    ]);
  }
  const at = input.at ?? clock(options);
  const row = await inTransaction(db, async (trx) => {
    const current = await lockIntegration(trx, input.integrationId);
    const products = [
      ...new Set([...current.api_access_products, ...(input.products ?? REQUIRED_API_PRODUCTS)]),
    ].sort();
    return repo.updateIntegrationLifecycle(trx, current.id, {
      api_access_products: products,
      api_access_requested_at: current.api_access_requested_at ?? at,
      ...(input.status === 'confirmed' ? { api_access_confirmed_at: at } : {}),
    });
  });
  // Inside a caller's transaction the caller says what it changed, once committed.
  if (!db.isTransaction) {
    log().info({ integrationId: row.id, status: input.status, actor: input.actor }, 'API access recorded');
  }
  return integrationView(row, options);
}

/** Sets (or clears, with null) the integration's own expectations and recomputes its due dates. */
export async function setExpectations(
  db: Executor,
  input: { integrationId: string; expectations: unknown; actor: string },
  options: OnboardingOptions = {},
): Promise<IntegrationView> {
  const override = input.expectations === null ? null : parseExpectationsOverride(input.expectations);
  const row = await inTransaction(db, async (trx) => {
    const current = await lockIntegration(trx, input.integrationId);
    const before = effectiveExpectations(current, options);
    const expectations = effectiveExpectations({ expectations: override }, options);
    // Due dates move by the change in days, keeping the time already used and any pause's extension; while paused
    // the kept due date belongs to the stage paused from.
    const paused = current.stage === 'paused';
    const stage = (paused ? (current.paused_from_stage ?? current.stage) : current.stage) as OnboardingStage;
    return repo.updateIntegrationLifecycle(trx, current.id, {
      expectations: override === null ? null : JSON.stringify(override),
      stage_due_at: movedDueAt(current.stage_due_at, before.stageDays[stage], expectations.stageDays[stage], () =>
        paused ? null : stageDueAt(stage, current.stage_entered_at, expectations),
      ),
      process_due_at: movedDueAt(current.process_due_at, before.processDays, expectations.processDays, () =>
        processDueAt(current.created_at, expectations),
      ),
    });
  });
  // Inside a caller's transaction the caller says what it changed, once committed.
  if (!db.isTransaction) {
    log().info({ integrationId: row.id, actor: input.actor }, 'integration expectations set');
  }
  return integrationView(row, options);
}
