/**
 * The accounts service: registering, discovering, pausing and resuming bank accounts and setting an
 * account's own schedule. What the admin API calls; each change asks a worker to reconcile schedules.
 */
export {
  DEFAULT_TIME_ZONE,
  discoverIntegrationAccounts,
  pauseAccount,
  registerAccount,
  resumeAccount,
  setAccountSchedule,
  type AccountServiceDeps,
} from './accounts.ts';
