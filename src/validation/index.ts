/**
 * Validation (issue 9): balance proof per account-day, self-healing re-fetches, duplicate suspicion,
 * coverage and the per-integration report. The public API of the module.
 */
export {
  ACCOUNT_DAY_STATES,
  recomputeAccountDays,
  type AccountDayChange,
  type AccountDayState,
} from './balance-proof.ts';
export { coverage, type Coverage, type FailedWindow, type StaleAccount } from './coverage.ts';
export { daysOwed, lastClosedDay } from './days.ts';
export {
  SUSPICION_STATUSES,
  detectDuplicateSuspicions,
  listIntegrationSuspicions,
  reviewSuspicion,
  type SuspicionReview,
  type SuspicionStatus,
} from './duplicates.ts';
export {
  DEFAULT_HEAL_OPTIONS,
  healAccountDays,
  windowsOf,
  type HealDeps,
  type HealOptions,
  type HealSummary,
} from './heal.ts';
export { diffSnapshots, type HealDiff } from './heal-diff.ts';
export { escapeHtml } from './html-escape.ts';
export { onPostedDays, validateRecentDays, type MaintenanceDeps, type SweepResult } from './maintenance.ts';
export { refreshAccountDayMetrics, registerAccountDayMetrics } from './metrics.ts';
export { DEFAULT_STALE_HOURS, createValidationReport, type ReportDeps, type ReportRequest } from './report.ts';
export { renderValidationReportHtml } from './report-html.ts';
export type { AccountReport, CalendarDay, SuspicionEntry, ValidationReportDocument } from './report-types.ts';
export {
  completedReportDocument,
  createValidationReportProvider,
  getValidationReport,
  listValidationReports,
  reportDocument,
  validationReportPassed,
  type ValidationVerdict,
} from './reports.ts';
