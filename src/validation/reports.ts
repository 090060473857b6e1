import type { ValidationVerdict } from '../domain/types.ts';
import { ConflictError } from '../shared/errors.ts';
import type { Executor } from '../storage/db.ts';
import {
  getValidationReport,
  latestCompletedValidationReport,
  listValidationReports,
  type StoredReport,
} from '../storage/validation-reports.repo.ts';
import type { ValidationReportDocument } from './report-types.ts';

/** Reading stored validation reports, and the answer the onboarding `live` guard asks for. */
export { getValidationReport, listValidationReports };

export function reportDocument(row: StoredReport): ValidationReportDocument | null {
  return (row.report ?? null) as ValidationReportDocument | null;
}

/** The document of a completed report (`id` as the caller asked for it); a running or failed report has none (409). */
export function completedReportDocument(row: StoredReport, id: string): ValidationReportDocument {
  const doc = reportDocument(row);
  if (!doc) {
    throw new ConflictError(
      `validation report ${id} is ${row.status}; only a completed report has a page`,
      'report_not_completed',
    );
  }
  return doc;
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
  const latest = await latestCompletedValidationReport(ex, integrationId);
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
