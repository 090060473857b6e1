import type { Executor } from './db.ts';

/**
 * `validation_reports`: one row per validation report of an integration (src/validation/report.ts
 * builds them), `running` until completed or failed; the document itself is the `report` jsonb.
 */
const REPORT_COLUMNS = [
  'id',
  'organization_id',
  'integration_id',
  'period_from',
  'period_to',
  'status',
  'passed',
  'reasons',
  'requested_by',
  'error_message',
  'created_at',
  'completed_at',
] as const;

export interface NewValidationReport {
  id: string;
  organizationId: string;
  integrationId: string;
  periodFrom: string;
  periodTo: string;
  requestedBy: string;
  createdAt: Date;
}

export async function insertValidationReport(ex: Executor, r: NewValidationReport): Promise<void> {
  await ex
    .insertInto('validation_reports')
    .values({
      id: r.id,
      organization_id: r.organizationId,
      integration_id: r.integrationId,
      period_from: r.periodFrom,
      period_to: r.periodTo,
      requested_by: r.requestedBy,
      created_at: r.createdAt,
    })
    .execute();
}

/** Stores the verdict and the document of a finished report. `reasons` and `report` are JSON text. */
export async function completeValidationReport(
  ex: Executor,
  id: string,
  r: { passed: boolean; reasons: string; report: string; completedAt: Date },
): Promise<void> {
  await ex
    .updateTable('validation_reports')
    .set({
      status: 'completed',
      passed: r.passed,
      reasons: r.reasons,
      report: r.report,
      completed_at: r.completedAt,
    })
    .where('id', '=', id)
    .execute();
}

export async function failValidationReport(
  ex: Executor,
  id: string,
  r: { errorMessage: string; completedAt: Date },
): Promise<void> {
  await ex
    .updateTable('validation_reports')
    .set({ status: 'failed', error_message: r.errorMessage, completed_at: r.completedAt })
    .where('id', '=', id)
    // A completion whose commit went through although its answer was lost (a failover) stays completed.
    .where('status', '=', 'running')
    .execute();
}

export async function getValidationReport(ex: Executor, id: string) {
  return ex
    .selectFrom('validation_reports')
    .select([...REPORT_COLUMNS, 'report'])
    .where('id', '=', id)
    .executeTakeFirst();
}

/** A stored report with its document. */
export type StoredReport = NonNullable<Awaited<ReturnType<typeof getValidationReport>>>;

/** Newest first, keyset-paginated on the id (uuidv7, so time-ordered; no timestamp precision traps). */
export async function listValidationReports(
  ex: Executor,
  integrationId: string,
  opts: { limit: number; beforeId?: string },
) {
  let q = ex.selectFrom('validation_reports').select(REPORT_COLUMNS).where('integration_id', '=', integrationId);
  if (opts.beforeId) {
    q = q.where('id', '<', opts.beforeId);
  }
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}

/** A stored report without its document. */
export type ValidationReportRow = Awaited<ReturnType<typeof listValidationReports>>[number];

/** The integration's latest completed report (the onboarding `live` guard's evidence), or undefined. */
export async function latestCompletedValidationReport(ex: Executor, integrationId: string) {
  return ex
    .selectFrom('validation_reports')
    .select(['id', 'passed', 'reasons', 'completed_at'])
    .where('integration_id', '=', integrationId)
    .where('status', '=', 'completed')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}
