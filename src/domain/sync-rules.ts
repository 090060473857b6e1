/**
 * When an integration's accounts sync (issue 5): the rules the scheduler's reconcile, a schedule
 * tick, a manual trigger and the schedulable-accounts query all apply. Pure: no I/O.
 */

/** Integration stages whose accounts get no scheduled syncs (and take no manual trigger). */
export const UNSCHEDULED_STAGES = ['paused', 'cancelled'] as const;
/** Integration sync statuses that stop scheduled syncs until a person fixes the cause. */
export const STOPPED_SYNC_STATUSES = ['failed', 'certificate_expired'] as const;

/** `integrations.sync_status`: ok; degraded (the bank circuit is open); failed / certificate_expired (stopped). */
export type IntegrationSyncStatus = 'ok' | 'degraded' | 'failed' | 'certificate_expired';

export function isUnscheduledStage(stage: string): boolean {
  return (UNSCHEDULED_STAGES as readonly string[]).includes(stage);
}

export function isSyncStopped(syncStatus: string): boolean {
  return (STOPPED_SYNC_STATUSES as readonly string[]).includes(syncStatus);
}
