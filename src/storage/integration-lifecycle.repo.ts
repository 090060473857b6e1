import { sql, type Updateable } from 'kysely';
import type { Executor } from './db.ts';
import type { Integrations } from './db.types.ts';
import { decodeCursor, pageOf, type Page } from './pagination.ts';

/** Integrations as the onboarding lifecycle sees them (settings, guard facts, due dates). */
const COLUMNS = [
  'id',
  'organization_id',
  'name',
  'stage',
  'environment',
  'base_url',
  'server_ca_pem',
  'sync_status',
  'sync_status_reason',
  'eligibility',
  'jpm_project_id',
  'api_access_products',
  'api_access_requested_at',
  'api_access_confirmed_at',
  'stage_entered_at',
  'stage_due_at',
  'stage_overdue_flagged_at',
  'process_due_at',
  'process_overdue_flagged_at',
  'paused_from_stage',
  'expectations',
  'live_at',
  'intraday_runs_per_day',
  'created_at',
  'updated_at',
] as const;

export interface IntegrationLifecycleRow {
  id: string;
  organization_id: string;
  name: string;
  stage: string;
  environment: string;
  base_url: string;
  server_ca_pem: string | null;
  sync_status: string;
  sync_status_reason: string | null;
  eligibility: unknown;
  jpm_project_id: string | null;
  api_access_products: string[];
  api_access_requested_at: Date | null;
  api_access_confirmed_at: Date | null;
  stage_entered_at: Date;
  stage_due_at: Date | null;
  stage_overdue_flagged_at: Date | null;
  process_due_at: Date | null;
  process_overdue_flagged_at: Date | null;
  paused_from_stage: string | null;
  expectations: unknown;
  live_at: Date | null;
  /** Scheduled intraday syncs per business day of each account (an account may override it). */
  intraday_runs_per_day: number;
  created_at: Date;
  updated_at: Date;
}

export interface NewIntegration {
  id: string;
  organizationId: string;
  name: string;
  environment: string;
  baseUrl: string;
  serverCaPem: string | null;
  stageEnteredAt: Date;
  stageDueAt: Date | null;
  processDueAt: Date;
  expectations: unknown;
}

export async function insertIntegration(ex: Executor, row: NewIntegration): Promise<IntegrationLifecycleRow> {
  return ex
    .insertInto('integrations')
    .values({
      id: row.id,
      organization_id: row.organizationId,
      name: row.name,
      stage: 'requested',
      environment: row.environment,
      base_url: row.baseUrl,
      server_ca_pem: row.serverCaPem,
      stage_entered_at: row.stageEnteredAt,
      stage_due_at: row.stageDueAt,
      process_due_at: row.processDueAt,
      expectations: row.expectations === null ? null : JSON.stringify(row.expectations),
      created_at: row.stageEnteredAt,
      updated_at: row.stageEnteredAt,
    })
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
}

/** One integration; `forUpdate` locks the row so stage changes and certificate installs serialize. */
export async function findIntegrationLifecycle(
  ex: Executor,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<IntegrationLifecycleRow | undefined> {
  const q = ex.selectFrom('integrations').select(COLUMNS).where('id', '=', id);
  return (options.forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

export type IntegrationPatch = Omit<Updateable<Integrations>, 'id' | 'organization_id' | 'created_at'>;

export async function updateIntegrationLifecycle(
  ex: Executor,
  id: string,
  patch: IntegrationPatch,
): Promise<IntegrationLifecycleRow> {
  return ex
    .updateTable('integrations')
    .set({ ...patch, updated_at: patch.updated_at ?? sql<Date>`now()` })
    .where('id', '=', id)
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
}

const CLOCK_STOPPED = ['paused', 'cancelled', 'live'];

/**
 * A keyset page of integrations, oldest first (ids are uuidv7). `overdueAt`: only those past their
 * stage or whole-process due date at that instant (same rule as `listOverdueIntegrations`).
 */
export async function pageIntegrationsLifecycle(
  ex: Executor,
  f: {
    organizationId?: string | undefined;
    stage?: string | undefined;
    overdueAt?: Date | undefined;
    cursor?: string | undefined;
    limit: number;
  },
): Promise<Page<IntegrationLifecycleRow>> {
  let q = ex
    .selectFrom('integrations')
    .select(COLUMNS)
    .orderBy('id', 'asc')
    .limit(f.limit + 1);
  if (f.organizationId !== undefined) {
    q = q.where('organization_id', '=', f.organizationId);
  }
  if (f.stage !== undefined) {
    q = q.where('stage', '=', f.stage);
  }
  const overdueAt = f.overdueAt;
  if (overdueAt !== undefined) {
    q = q
      .where('stage', 'not in', CLOCK_STOPPED)
      .where((eb) => eb.or([eb('stage_due_at', '<', overdueAt), eb('process_due_at', '<', overdueAt)]));
  }
  if (f.cursor !== undefined) {
    const [id] = decodeCursor(f.cursor, ['uuid']);
    q = q.where('id', '>', id);
  }
  return pageOf(await q.execute(), f.limit, (r) => [r.id]);
}

/** Integrations past their stage or whole-process due date at `now` (paused, live, cancelled excluded). */
export async function listOverdueIntegrations(ex: Executor, now: Date): Promise<IntegrationLifecycleRow[]> {
  return ex
    .selectFrom('integrations')
    .select(COLUMNS)
    .where('stage', 'not in', CLOCK_STOPPED)
    .where((eb) => eb.or([eb('stage_due_at', '<', now), eb('process_due_at', '<', now)]))
    .orderBy('stage_due_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
}

/**
 * Marks integrations whose stage is overdue and not yet flagged for this stage occurrence (a
 * move to another stage clears the flag; a pause and its resume keep it). Conditional update: two daily jobs racing flag each row once.
 */
export async function flagStageOverdue(ex: Executor, now: Date): Promise<IntegrationLifecycleRow[]> {
  return ex
    .updateTable('integrations')
    .set({ stage_overdue_flagged_at: now })
    .where('stage', 'not in', CLOCK_STOPPED)
    .where('stage_due_at', '<', now)
    .where('stage_overdue_flagged_at', 'is', null)
    .returning(COLUMNS)
    .execute();
}

/** As `flagStageOverdue`, for the whole-process due date (flagged once per integration). */
export async function flagProcessOverdue(ex: Executor, now: Date): Promise<IntegrationLifecycleRow[]> {
  return ex
    .updateTable('integrations')
    .set({ process_overdue_flagged_at: now })
    .where('stage', 'not in', CLOCK_STOPPED)
    .where('process_due_at', '<', now)
    .where('process_overdue_flagged_at', 'is', null)
    .returning(COLUMNS)
    .execute();
}

export interface TransitionRow {
  id: string;
  organization_id: string;
  integration_id: string;
  /** null for the row that records the integration's creation. */
  from_stage: string | null;
  to_stage: string;
  actor: string;
  note: string;
  created_at: Date;
}

export async function insertTransition(
  ex: Executor,
  row: {
    organizationId: string;
    integrationId: string;
    from: string | null;
    to: string;
    actor: string;
    note: string;
    at: Date;
  },
): Promise<TransitionRow> {
  return ex
    .insertInto('integration_transitions')
    .values({
      organization_id: row.organizationId,
      integration_id: row.integrationId,
      from_stage: row.from,
      to_stage: row.to,
      actor: row.actor,
      note: row.note,
      created_at: row.at,
    })
    .returning(['id', 'organization_id', 'integration_id', 'from_stage', 'to_stage', 'actor', 'note', 'created_at'])
    .executeTakeFirstOrThrow();
}

export async function listTransitions(ex: Executor, integrationId: string): Promise<TransitionRow[]> {
  return ex
    .selectFrom('integration_transitions')
    .select(['id', 'organization_id', 'integration_id', 'from_stage', 'to_stage', 'actor', 'note', 'created_at'])
    .where('integration_id', '=', integrationId)
    .orderBy('id', 'asc')
    .execute();
}

export async function countActiveAccounts(ex: Executor, integrationId: string): Promise<number> {
  const row = await ex
    .selectFrom('bank_accounts')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('integration_id', '=', integrationId)
    .where('status', '=', 'active')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The integration's organization, or undefined when there is no such integration. */
export async function integrationOrganizationId(ex: Executor, integrationId: string): Promise<string | undefined> {
  const row = await ex
    .selectFrom('integrations')
    .select('organization_id')
    .where('id', '=', integrationId)
    .executeTakeFirst();
  return row?.organization_id;
}

/** The integration's name and stage as a validation report heads with them. */
export async function findIntegrationHeading(ex: Executor, integrationId: string) {
  return ex
    .selectFrom('integrations')
    .select(['id', 'organization_id', 'name', 'stage'])
    .where('id', '=', integrationId)
    .executeTakeFirst();
}

/** The instant of the integration's latest transition to `approved`, or null when it was never approved. */
export async function lastApprovalAt(ex: Executor, integrationId: string): Promise<Date | null> {
  const approved = await ex
    .selectFrom('integration_transitions')
    .select((eb) => eb.fn.max('created_at').as('at'))
    .where('integration_id', '=', integrationId)
    .where('to_stage', '=', 'approved')
    .executeTakeFirst();
  return approved?.at ? new Date(approved.at) : null;
}
