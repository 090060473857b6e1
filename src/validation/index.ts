/**
 * Validation (issue 9): balance proof per account-day, self-healing re-fetches, duplicate suspicion,
 * coverage and the per-integration report. The public API of the module.
 */
export { recomputeAccountDays, type AccountDayState } from './balance-proof.ts';
export { daysOwed } from './days.ts';
export {
  SUSPICION_STATUSES,
  detectDuplicateSuspicions,
  pageIntegrationSuspicions,
  reviewSuspicion,
} from './duplicates.ts';
export { healAccountDays, windowsOf } from './heal.ts';
export { diffSnapshots } from './heal-diff.ts';
export { escapeHtml } from './html-escape.ts';
export { onPostedDays, validateRecentDays } from './maintenance.ts';
export { refreshAccountDayMetrics, registerAccountDayMetrics } from './metrics.ts';
export { createValidationReport } from './report.ts';
export { renderValidationReportHtml } from './report-html.ts';
export type { AccountReport, ValidationReportDocument } from './report-types.ts';
export {
  completedReportDocument,
  createValidationReportProvider,
  getValidationReport,
  listValidationReports,
  reportDocument,
  validationReportPassed,
} from './reports.ts';
