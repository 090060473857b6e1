import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EXPECTATIONS,
  mergeExpectations,
  parseExpectationsOverride,
  processDueAt,
  stageDueAt,
} from '../../src/onboarding/expectations.ts';
import { ValidationError } from '../../src/shared/errors.ts';

const T0 = new Date('2026-11-02T09:30:00Z');

describe('onboarding expectations', () => {
  it('defaults: kickoff and technical setup 1 week, approval 4 weeks, whole process 6 weeks', () => {
    expect(stageDueAt('kickoff', T0, DEFAULT_EXPECTATIONS)?.toISOString()).toBe('2026-11-09T09:30:00.000Z');
    expect(stageDueAt('technical_setup', T0, DEFAULT_EXPECTATIONS)?.toISOString()).toBe('2026-11-09T09:30:00.000Z');
    expect(stageDueAt('awaiting_approval', T0, DEFAULT_EXPECTATIONS)?.toISOString()).toBe('2026-11-30T09:30:00.000Z');
    expect(processDueAt(T0, DEFAULT_EXPECTATIONS).toISOString()).toBe('2026-12-14T09:30:00.000Z');
  });

  it('gives no due date to stages without an expectation or without a running clock', () => {
    expect(stageDueAt('requested', T0, DEFAULT_EXPECTATIONS)).toBeNull();
    const everything = mergeExpectations(DEFAULT_EXPECTATIONS, { stageDays: { live: 3 } });
    expect(stageDueAt('live', T0, everything)).toBeNull();
    expect(stageDueAt('paused', T0, everything)).toBeNull();
  });

  it('layers overrides stage by stage: defaults < deployment < integration', () => {
    const merged = mergeExpectations(
      DEFAULT_EXPECTATIONS,
      { stageDays: { awaiting_approval: 21 }, processDays: 35 },
      { stageDays: { kickoff: 3 } },
      null,
    );
    expect(merged).toEqual({ stageDays: { kickoff: 3, technical_setup: 7, awaiting_approval: 21 }, processDays: 35 });
    expect(DEFAULT_EXPECTATIONS.stageDays.awaiting_approval).toBe(28);
  });

  it('parses overrides strictly', () => {
    expect(parseExpectationsOverride({ stageDays: { validating: 10 } })).toEqual({ stageDays: { validating: 10 } });
    expect(() => parseExpectationsOverride({ stageDays: { paused: 10 } })).toThrow(ValidationError);
    expect(() => parseExpectationsOverride({ processDays: 0 })).toThrow(ValidationError);
    expect(() => parseExpectationsOverride({ approvalWeeks: 4 })).toThrow(ValidationError);
  });
});
