import type { OnboardingStage } from '../domain/types.ts';
import { createLogger } from '../shared/logger.ts';
import type { Database, Executor } from '../storage/db.ts';
import * as repo from '../storage/integration-lifecycle.repo.ts';
import { insertOutboxEvents, type OutboxEventInput } from '../storage/outbox.repo.ts';
import { overdueKinds } from './views.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('onboarding');
const DAY_MS = 86_400_000;

export interface OverdueIntegration {
  integrationId: string;
  organizationId: string;
  name: string;
  stage: OnboardingStage;
  stageEnteredAt: Date;
  stageDueAt: Date | null;
  processDueAt: Date | null;
  /** Which due dates have passed: the current stage's, the whole process's, or both. */
  overdue: ('stage' | 'process')[];
  /** Whole days past the earliest passed due date. */
  daysOverdue: number;
}

function toOverdue(row: repo.IntegrationLifecycleRow, now: Date): OverdueIntegration {
  const kinds = overdueKinds(row, now);
  const passed = [
    kinds.includes('stage') ? row.stage_due_at : null,
    kinds.includes('process') ? row.process_due_at : null,
  ]
    .filter((d): d is Date => d !== null)
    .map((d) => d.getTime());
  return {
    integrationId: row.id,
    organizationId: row.organization_id,
    name: row.name,
    stage: row.stage as OnboardingStage,
    stageEnteredAt: row.stage_entered_at,
    stageDueAt: row.stage_due_at,
    processDueAt: row.process_due_at,
    overdue: kinds,
    daysOverdue: passed.length === 0 ? 0 : Math.floor((now.getTime() - Math.min(...passed)) / DAY_MS),
  };
}

/** Integrations past a due date at `now`. Paused, live and cancelled integrations are never overdue. */
export async function listOverdue(ex: Executor, now: Date = new Date()): Promise<OverdueIntegration[]> {
  return (await repo.listOverdueIntegrations(ex, now)).map((r) => toOverdue(r, now));
}

export interface FlagOverdueResult {
  flagged: { integrationId: string; kind: 'stage' | 'process'; stage: OnboardingStage; dueAt: Date }[];
}

/**
 * For the daily job: emits one `integration.overdue` event per stage occurrence whose due date has
 * passed (moving on to another stage starts a new occurrence; a pause and its resume continue the same one), plus one per integration past the whole-process
 * due date. Safe to run any number of times or concurrently: the flag columns are set by a
 * conditional update in the same transaction as the events.
 */
export async function flagOverdue(db: Database, now: Date = new Date()): Promise<FlagOverdueResult> {
  return db.transaction().execute(async (trx) => {
    const stage = await repo.flagStageOverdue(trx, now);
    const processRows = await repo.flagProcessOverdue(trx, now);
    const flagged: FlagOverdueResult['flagged'] = [];
    const events: OutboxEventInput[] = [];
    for (const [kind, rows] of [
      ['stage', stage],
      ['process', processRows],
    ] as const) {
      for (const row of rows) {
        const dueAt = (kind === 'stage' ? row.stage_due_at : row.process_due_at) ?? now;
        flagged.push({ integrationId: row.id, kind, stage: row.stage as OnboardingStage, dueAt });
        events.push({
          organizationId: row.organization_id,
          integrationId: row.id,
          type: 'integration.overdue',
          payload: {
            integrationId: row.id,
            name: row.name,
            kind,
            stage: row.stage,
            stageEnteredAt: row.stage_entered_at.toISOString(),
            dueAt: dueAt.toISOString(),
            daysOverdue: Math.floor((now.getTime() - dueAt.getTime()) / DAY_MS),
          },
        });
      }
    }
    await insertOutboxEvents(trx, events);
    if (flagged.length > 0) {
      log().info({ flagged: flagged.length }, 'overdue integrations flagged');
    }
    return { flagged };
  });
}
