/**
 * The onboarding service: what the admin API, the scheduler's daily jobs and the CLI call.
 * Every function takes the database (it owns its transactions) and returns camelCase views.
 */
export {
  createIntegration,
  getIntegration,
  listIntegrations,
  pageIntegrations,
  recordApiAccess,
  recordEligibility,
  recordJpmProject,
  setExpectations,
  type CreateIntegrationInput,
} from './integrations.ts';
export {
  askValidation,
  listMilestones,
  listTransitions,
  loadFacts,
  transition,
  type TransitionInput,
  type TransitionResult,
} from './lifecycle.ts';
export { flagOverdue, listOverdue, type FlagOverdueResult, type OverdueIntegration } from './overdue.ts';
export {
  listSecurityAdmins,
  recordSecurityAdmin,
  removeSecurityAdmin,
  SECURITY_ADMIN_SIDES,
  type SecurityAdminSide,
  type SecurityAdminView,
} from './security-admins.ts';
export {
  DEFAULT_EXPECTATIONS,
  parseExpectationsOverride,
  type Expectations,
  type ExpectationsOverride,
} from './expectations.ts';
export { refuseWithoutValidationProvider, type OnboardingOptions, type ValidationReportProvider } from './options.ts';
export {
  ADVANCE_GUARDS,
  allowedTargets,
  GUARDS,
  PIPELINE,
  planTransition,
  REQUIRED_API_PRODUCTS,
  type EligibilityChecklist,
  type GuardFailure,
  type GuardName,
  type OnboardingFacts,
  type TransitionKind,
  type ValidationVerdict,
} from './state-machine.ts';
export { overdueKinds, type IntegrationView, type TransitionView } from './views.ts';
export { refreshOverdueMetric } from './metrics.ts';
