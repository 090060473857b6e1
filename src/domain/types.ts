import type { IsoDate } from '../shared/time.ts';

/** Canonical vocabulary shared by every module. No I/O, no clock. */

/** pending: current-day (intraday) item; posted: prior-day/history item; superseded: a pending item
 *  replaced by its posted item; removed: a pending item that never posted. */
export const TRANSACTION_STATUSES = ['pending', 'posted', 'superseded', 'removed'] as const;

export const DIRECTIONS = ['credit', 'debit'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const BALANCE_KINDS = ['current_day', 'final'] as const;
export type BalanceKind = (typeof BALANCE_KINDS)[number];

export const SYNC_MODES = ['intraday', 'prior_day', 'range'] as const;
export type SyncMode = (typeof SYNC_MODES)[number];

export const SYNC_RUN_STATUSES = ['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled'] as const;
export type SyncRunStatus = (typeof SYNC_RUN_STATUSES)[number];

export const SYNC_TRIGGERS = ['schedule', 'manual', 'backfill', 'validation', 'demo'] as const;
export type SyncTrigger = (typeof SYNC_TRIGGERS)[number];

export const ACCOUNT_STATUSES = ['active', 'paused', 'removed', 'failed'] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

export const ENVIRONMENTS = ['simulator', 'cat', 'prod'] as const;
export type JpmEnvironment = (typeof ENVIRONMENTS)[number];

/** Default base URLs per environment (API-NOTES.md §1); the simulator's is set per integration. */
export const DEFAULT_BASE_URLS: Record<Exclude<JpmEnvironment, 'simulator'>, string> = {
  cat: 'https://apigatewaycat.jpmorgan.com',
  prod: 'https://apigateway.jpmorgan.com',
};

export const ONBOARDING_STAGES = [
  'requested',
  'kickoff',
  'technical_setup',
  'security_admins',
  'awaiting_approval',
  'approved',
  'validating',
  'live',
  'paused',
  'cancelled',
] as const;
export type OnboardingStage = (typeof ONBOARDING_STAGES)[number];

/** A sync request as admins, schedules and tests express it (issue 5 contract). */
export type SyncRequest = { mode: 'intraday' } | { mode: 'prior_day' } | { mode: 'range'; from: IsoDate; to: IsoDate };

export interface SyncCounts {
  fetched: number;
  inserted: number;
  updated: number;
  unchanged: number;
  superseded: number;
  removed: number;
  rejected: number;
  balances: number;
}

export const ZERO_COUNTS: Readonly<SyncCounts> = Object.freeze({
  fetched: 0,
  inserted: 0,
  updated: 0,
  unchanged: 0,
  superseded: 0,
  removed: 0,
  rejected: 0,
  balances: 0,
});

/**
 * The channel a record came from: J.P. Morgan's API, or a statement file the customer imported
 * (BAI2, ISO 20022 camt.053 end-of-day, camt.052 intraday). Recorded on rows, versions, decisions,
 * balances and runs; ingestion never decides anything by it.
 */
export const RECORD_SOURCES = ['jpm_api', 'bai2', 'camt053', 'camt052'] as const;
export type RecordSource = (typeof RECORD_SOURCES)[number];

/**
 * Whether the validation gate lets an integration go live: the latest completed validation report
 * passed and is recent (validation answers it, onboarding's guards read it; neither imports the other).
 */
export interface ValidationVerdict {
  passed: boolean;
  reportId?: string;
  reason?: string;
}
