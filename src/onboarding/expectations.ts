import { z } from 'zod';
import type { OnboardingStage } from '../domain/types.ts';
import { ValidationError } from '../shared/errors.ts';
import { PIPELINE, isClockRunning } from './state-machine.ts';

/**
 * How long each stage is expected to take, in days, and the whole process from request to live.
 * A stage's due date is `entered + days(stage)`; a stage without an expectation has no due date.
 * The customer guide promises two to six weeks in all, J.P. Morgan's approval typically 1–4 weeks.
 */
export interface Expectations {
  stageDays: Partial<Record<OnboardingStage, number>>;
  processDays: number;
}

export const DEFAULT_EXPECTATIONS: Readonly<Expectations> = Object.freeze({
  stageDays: Object.freeze({ kickoff: 7, technical_setup: 7, awaiting_approval: 28 }),
  processDays: 42,
});

const days = z.number().int().min(1).max(3650);

/** The shape of an override (per deployment or per integration): any subset of the defaults. */
export const expectationsOverrideSchema = z
  .object({
    stageDays: z.partialRecord(z.enum(PIPELINE), days).optional(),
    processDays: days.optional(),
  })
  .strict();
export type ExpectationsOverride = z.infer<typeof expectationsOverrideSchema>;

export function parseExpectationsOverride(value: unknown): ExpectationsOverride {
  const parsed = expectationsOverrideSchema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError(
      'expectations must be { stageDays?: { <stage>: days }, processDays?: days } with whole days from 1',
      parsed.error.issues.map((i) => ({ path: ['expectations', ...i.path].join('.'), message: i.message })),
    );
  }
  return parsed.data;
}

/** Later layers win stage by stage: defaults < deployment config < the integration's override. */
export function mergeExpectations(
  base: Expectations,
  ...overrides: (ExpectationsOverride | null | undefined)[]
): Expectations {
  let merged: Expectations = { stageDays: { ...base.stageDays }, processDays: base.processDays };
  for (const o of overrides) {
    if (o) {
      merged = { stageDays: { ...merged.stageDays, ...o.stageDays }, processDays: o.processDays ?? merged.processDays };
    }
  }
  return merged;
}

const DAY_MS = 86_400_000;

export function stageDueAt(stage: OnboardingStage, enteredAt: Date, expectations: Expectations): Date | null {
  const d = expectations.stageDays[stage];
  return d === undefined || !isClockRunning(stage) ? null : new Date(enteredAt.getTime() + d * DAY_MS);
}

export function processDueAt(startedAt: Date, expectations: Expectations): Date {
  return new Date(startedAt.getTime() + expectations.processDays * DAY_MS);
}

/**
 * A due date kept across a change of expectations: moved by the difference in days, so the time the step already
 * used and any pause it was stopped for still count. `fallback` when there was no due date to move.
 */
export function movedDueAt(
  due: Date | null,
  oldDays: number | undefined,
  newDays: number | undefined,
  fallback: () => Date | null,
): Date | null {
  if (newDays === undefined) {
    return null;
  }
  return due !== null && oldDays !== undefined ? new Date(due.getTime() + (newDays - oldDays) * DAY_MS) : fallback();
}
