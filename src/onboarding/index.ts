/**
 * The onboarding service: what the admin API, the scheduler's daily jobs and the CLI call.
 * Every function takes the database (it owns its transactions) and returns camelCase views.
 */
export {
  createIntegration,
  getIntegration,
  pageIntegrations,
  recordApiAccess,
  recordEligibility,
  recordJpmProject,
  setExpectations,
} from './integrations.ts';
export {
  askValidation,
  listMilestones,
  listTransitions,
  loadFacts,
  transition,
  type TransitionResult,
} from './lifecycle.ts';
export { flagOverdue, listOverdue } from './overdue.ts';
export {
  listSecurityAdmins,
  recordSecurityAdmin,
  removeSecurityAdmin,
  type SecurityAdminSide,
  type SecurityAdminView,
} from './security-admins.ts';
export { parseExpectationsOverride } from './expectations.ts';
export type { OnboardingOptions } from './options.ts';
export {
  ADVANCE_GUARDS,
  allowedTargets,
  PIPELINE,
  REQUIRED_API_PRODUCTS,
  type GuardFailure,
  type GuardName,
} from './state-machine.ts';
export { overdueKinds, type IntegrationView, type TransitionView } from './views.ts';
export { refreshOverdueMetric } from './metrics.ts';
