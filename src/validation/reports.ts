import type { Executor } from '../storage/db.ts';
import type { ValidationReportDocument } from './report-types.ts';

/** Reading stored validation reports, and the answer the onboarding `live` guard asks for. */
export const REPORT_COLUMNS = [
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

export async function getValidationReport(ex: Executor, id: string) {
  return ex
    .selectFrom('validation_reports')
    .select([...REPORT_COLUMNS, 'report'])
    .where('id', '=', id)
    .executeTakeFirst();
}

export type StoredReport = NonNullable<Awaited<ReturnType<typeof getValidationReport>>>;

export function reportDocument(row: StoredReport): ValidationReportDocument | null {
  return (row.report ?? null) as ValidationReportDocument | null;
}

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

/** The shape onboarding's `ValidationReportProvider` returns (kept structural: validation does not import onboarding). */
export interface ValidationVerdict {
  passed: boolean;
  reportId?: string;
  reason?: string;
}

export interface PassedOptions {
  now?: () => Date;
  /** A report older than this no longer vouches for the data (default 7 days). */
  maxAgeDays?: number;
}

/**
 * Whether the integration's latest completed validation report passed, and is recent. Never throws
 * for "no report": answers `{ passed: false, reason }` so the refused transition can say why.
 */
export async function validationReportPassed(
  ex: Executor,
  integrationId: string,
  opts: PassedOptions = {},
): Promise<ValidationVerdict> {
  const latest = await ex
    .selectFrom('validation_reports')
    .select(['id', 'passed', 'reasons', 'completed_at'])
    .where('integration_id', '=', integrationId)
    .where('status', '=', 'completed')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!latest) {
    return { passed: false, reason: 'no validation report has been completed for this integration' };
  }
  if (!latest.passed) {
    const reasons = (latest.reasons as string[] | null) ?? [];
    return {
      passed: false,
      reportId: latest.id,
      reason: `validation report ${latest.id} failed: ${reasons.slice(0, 3).join('; ')}${reasons.length > 3 ? '; …' : ''}`,
    };
  }
  const maxAgeDays = opts.maxAgeDays ?? 7;
  const now = opts.now?.() ?? new Date();
  const completedAt = latest.completed_at ? new Date(latest.completed_at) : now;
  if (now.getTime() - completedAt.getTime() > maxAgeDays * 86_400_000) {
    return {
      passed: false,
      reportId: latest.id,
      reason: `the latest passed validation report ${latest.id} is older than ${maxAgeDays} days; run a new one`,
    };
  }
  return { passed: true, reportId: latest.id };
}

/** `validationReportPassed` bound to a database: the function onboarding's `live` guard takes. */
export function createValidationReportProvider(
  ex: Executor,
  opts: PassedOptions = {},
): (integrationId: string) => Promise<ValidationVerdict> {
  return (integrationId) => validationReportPassed(ex, integrationId, opts);
}
