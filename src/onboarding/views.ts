import type { JpmEnvironment, OnboardingStage } from '../domain/types.ts';
import type { IntegrationLifecycleRow, TransitionRow } from '../storage/integration-lifecycle.repo.ts';
import {
  DEFAULT_EXPECTATIONS,
  mergeExpectations,
  parseExpectationsOverride,
  type Expectations,
  type ExpectationsOverride,
} from './expectations.ts';
import type { OnboardingOptions } from './options.ts';
import { isClockRunning, type EligibilityChecklist } from './state-machine.ts';

/** An integration as the admin API shows it (camelCase, no internal flags). */
export interface IntegrationView {
  id: string;
  organizationId: string;
  name: string;
  stage: OnboardingStage;
  /** Set while paused: the stage a resume returns to. */
  pausedFromStage: OnboardingStage | null;
  environment: JpmEnvironment;
  baseUrl: string;
  serverCaPem: string | null;
  syncStatus: string;
  syncStatusReason: string | null;
  eligibility: EligibilityChecklist;
  jpmProjectId: string | null;
  apiAccess: { products: string[]; requestedAt: Date | null; confirmedAt: Date | null };
  stageEnteredAt: Date;
  stageDueAt: Date | null;
  processDueAt: Date | null;
  /** The integration's own override (null = deployment defaults) and the expectations in force. */
  expectationsOverride: ExpectationsOverride | null;
  expectations: Expectations;
  liveAt: Date | null;
  /** Scheduled intraday syncs per business day of each account (an account may override it). */
  intradayRunsPerDay: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface TransitionView {
  id: string;
  integrationId: string;
  from: OnboardingStage | null;
  to: OnboardingStage;
  actor: string;
  note: string;
  at: Date;
}

/** The checklist as stored (jsonb), keeping only well-typed answers. */
export function eligibilityOf(value: unknown): EligibilityChecklist {
  const v = (value ?? {}) as Record<string, unknown>;
  const bool = (x: unknown) => (typeof x === 'boolean' ? x : undefined);
  const text = (x: unknown) => (typeof x === 'string' ? x : null);
  return {
    jpmAccessAccount: bool(v.jpmAccessAccount),
    notChaseConnect: bool(v.notChaseConnect),
    jpmRepresentative: text(v.jpmRepresentative),
    signingAuthority: text(v.signingAuthority),
  };
}

export function integrationOverride(row: Pick<IntegrationLifecycleRow, 'expectations'>): ExpectationsOverride | null {
  return row.expectations === null || row.expectations === undefined
    ? null
    : parseExpectationsOverride(row.expectations);
}

export function effectiveExpectations(
  row: Pick<IntegrationLifecycleRow, 'expectations'>,
  options: OnboardingOptions,
): Expectations {
  return mergeExpectations(DEFAULT_EXPECTATIONS, options.expectations, integrationOverride(row));
}

export function integrationView(row: IntegrationLifecycleRow, options: OnboardingOptions = {}): IntegrationView {
  return {
    id: row.id,
    organizationId: row.organization_id,
    name: row.name,
    stage: row.stage as OnboardingStage,
    pausedFromStage: row.paused_from_stage as OnboardingStage | null,
    environment: row.environment as JpmEnvironment,
    baseUrl: row.base_url,
    serverCaPem: row.server_ca_pem,
    syncStatus: row.sync_status,
    syncStatusReason: row.sync_status_reason,
    eligibility: eligibilityOf(row.eligibility),
    jpmProjectId: row.jpm_project_id,
    apiAccess: {
      products: row.api_access_products,
      requestedAt: row.api_access_requested_at,
      confirmedAt: row.api_access_confirmed_at,
    },
    stageEnteredAt: row.stage_entered_at,
    // Paused, the clock stands still: the kept due date is not in force until the resume moves it.
    stageDueAt: row.stage === 'paused' ? null : row.stage_due_at,
    processDueAt: row.process_due_at,
    expectationsOverride: integrationOverride(row),
    expectations: effectiveExpectations(row, options),
    liveAt: row.live_at,
    intradayRunsPerDay: row.intraday_runs_per_day,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function transitionView(row: TransitionRow): TransitionView {
  return {
    id: row.id,
    integrationId: row.integration_id,
    from: row.from_stage as OnboardingStage | null,
    to: row.to_stage as OnboardingStage,
    actor: row.actor,
    note: row.note,
    at: row.created_at,
  };
}

/** Whether the row is past a due date at `now` (only while the clock runs). */
export function overdueKinds(
  row: Pick<IntegrationLifecycleRow, 'stage' | 'stage_due_at' | 'process_due_at'>,
  now: Date,
): ('stage' | 'process')[] {
  if (!isClockRunning(row.stage as OnboardingStage)) {
    return [];
  }
  const kinds: ('stage' | 'process')[] = [];
  if (row.stage_due_at && row.stage_due_at.getTime() < now.getTime()) {
    kinds.push('stage');
  }
  if (row.process_due_at && row.process_due_at.getTime() < now.getTime()) {
    kinds.push('process');
  }
  return kinds;
}
