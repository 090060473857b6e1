import { describe, expect, it } from 'vitest';
import type { MinimalJob } from 'bullmq';
import { HANDLERS } from '../../src/scheduler/handlers.ts';
import {
  assertHandlers,
  BANK_BACKOFF,
  JOB_NAMES,
  jobIdOf,
  jobOptions,
  parsePayload,
  QUEUE_NAMES,
} from '../../src/scheduler/jobs.ts';
import { MAX_RANGE_DAYS, parseSyncRequest, planRun } from '../../src/scheduler/plan.ts';
import { bankBackoff, classifyFailure, integrationBlockMs } from '../../src/scheduler/retry-policy.ts';
import { deterministicUuid } from '../../src/scheduler/runs.ts';
import { accountOffsetSeconds, accountSchedules, intradayHours } from '../../src/scheduler/schedules.ts';
import { AppError, UpstreamRejectedError, UpstreamUnavailableError } from '../../src/shared/errors.ts';
import { addDays, diffDays } from '../../src/shared/time.ts';

const ACCOUNT = '0192f0a4-1111-7000-8000-000000000001';
const RUN = '0192f0a4-2222-7000-8000-000000000002';

describe('job catalog', () => {
  it('every job has exactly one handler, and startup refuses missing, doubled or unknown ones', () => {
    expect(() => assertHandlers(QUEUE_NAMES, Object.keys(HANDLERS))).not.toThrow();
    expect(() =>
      assertHandlers(
        QUEUE_NAMES,
        Object.keys(HANDLERS).filter((n) => n !== 'sync-window'),
      ),
    ).toThrow(/sync-window \(queue sync\) has 0 handlers/);
    expect(() => assertHandlers(QUEUE_NAMES, [...Object.keys(HANDLERS), 'sync-window'])).toThrow(
      /sync-window \(queue sync\) has 2 handlers/,
    );
    expect(() => assertHandlers(QUEUE_NAMES, [...Object.keys(HANDLERS), 'paint-car'])).toThrow(/unknown job paint-car/);
    expect(() => assertHandlers(['maintenance'], Object.keys(HANDLERS))).toThrow(/which this worker does not consume/);
    expect(JOB_NAMES.every((n) => /^[a-z]+(-[a-z]+)*$/.test(n))).toBe(true);
  });

  it('validates payloads and builds deterministic ids BullMQ accepts (no ":")', () => {
    const payload = parsePayload('sync-window', {
      parentRunId: RUN,
      windowRunId: RUN,
      accountId: ACCOUNT,
      integrationId: ACCOUNT,
      mode: 'range',
      kinds: ['transactions'],
      from: '2025-01-01',
      to: '2025-01-05',
    });
    const opts = jobOptions('sync-window', payload);
    expect(opts.jobId).toBe(`sync-window.${RUN}.transactions.2025-01-01.2025-01-05`);
    expect(opts.jobId).not.toContain(':');
    expect(opts).toMatchObject({ attempts: 8, backoff: { type: BANK_BACKOFF }, ignoreDependencyOnFailure: true });
    expect(jobOptions('sync-window', payload)).toEqual(opts);
    expect(() => parsePayload('sync-window', { ...payload, from: '2025-02-30' })).toThrow(
      /invalid payload for job sync-window/,
    );
    expect(() => parsePayload('scheduled-sync', { accountId: ACCOUNT, mode: 'range' })).toThrow();
    expect(() => jobIdOf('a', 'b:c')).toThrow(/separator/);
  });
});

describe('planRun', () => {
  const TODAY = '2025-03-12';

  it('a 60-day range is 12 transaction windows of 5 days and 2 balance windows of at most 31', () => {
    const plan = planRun({ mode: 'range', from: addDays(TODAY, -60), to: addDays(TODAY, -1) }, TODAY, 5);
    const tx = plan.windows.filter((w) => w.kinds.includes('transactions'));
    const bal = plan.windows.filter((w) => w.kinds.includes('balances'));
    expect([tx.length, bal.length]).toEqual([12, 2]);
    expect(tx.every((w) => diffDays(w.from!, w.to!) === 4)).toBe(true);
    expect(bal.map((w) => diffDays(w.from!, w.to!) + 1)).toEqual([31, 29]);
  });

  it('ranges end yesterday at the latest; intraday is today; prior day is yesterday plus the look-back', () => {
    expect(planRun({ mode: 'range', from: '2025-03-01', to: '2025-03-31' }, TODAY, 5)).toMatchObject({
      from: '2025-03-01',
      to: '2025-03-11',
    });
    expect(planRun({ mode: 'intraday' }, TODAY, 5)).toMatchObject({
      from: TODAY,
      to: TODAY,
      windows: [{ kinds: ['transactions', 'balances'] }],
    });
    expect(planRun({ mode: 'prior_day' }, TODAY, 5)).toMatchObject({
      from: '2025-03-06',
      to: '2025-03-11',
      windows: [{ kinds: ['transactions', 'balances'] }],
    });
    expect(() => planRun({ mode: 'range', from: TODAY, to: TODAY }, TODAY, 5)).toThrow(/no completed business day/);
    expect(() => planRun({ mode: 'range', from: '2025-03-05', to: '2025-03-01' }, TODAY, 5)).toThrow(/after its end/);
    expect(() =>
      planRun({ mode: 'range', from: addDays(TODAY, -MAX_RANGE_DAYS - 1), to: addDays(TODAY, -1) }, TODAY, 5),
    ).toThrow(/longer than/);
    expect(() => parseSyncRequest({ mode: 'range', from: '2025-01-01' })).toThrow(/invalid sync request/);
    expect(() => parseSyncRequest({ mode: 'intraday', from: '2025-01-01' })).toThrow(/invalid sync request/);
  });
});

describe('schedules', () => {
  it('spreads intraday runs over the business day and accounts over the hour, deterministically', () => {
    expect(intradayHours(4)).toEqual([9, 11, 14, 16]);
    expect(intradayHours(3)).toEqual([9, 13, 16]);
    expect(intradayHours(1)).toEqual([13]);
    expect(intradayHours(0)).toEqual([]);
    expect(intradayHours(50)).toEqual([8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    const offsets = new Set(
      Array.from({ length: 1000 }, (_, i) => accountOffsetSeconds(deterministicUuid(`account-${i}`))),
    );
    expect(offsets.size).toBeGreaterThan(800);
    expect(accountOffsetSeconds(ACCOUNT)).toBe(accountOffsetSeconds(ACCOUNT));
    const specs = accountSchedules({
      id: ACCOUNT,
      integration_id: ACCOUNT,
      time_zone: 'Asia/Tokyo',
      intraday_runs_per_day: 0,
    });
    expect(specs.map((s) => [s.id, s.tz])).toEqual([[`account.${ACCOUNT}.prior_day`, 'Asia/Tokyo']]);
  });
});

describe('retry policy', () => {
  const job = { opts: { backoff: { type: BANK_BACKOFF, delay: 10_000 } } } as unknown as MinimalJob;

  it('honours Retry-After, otherwise backs off exponentially with jitter up to a cap', () => {
    const limited = Object.assign(new UpstreamUnavailableError('429', 'jpm_rate_limited'), { retryAfterMs: 7_000 });
    for (let i = 0; i < 50; i++) {
      const d = bankBackoff(1, BANK_BACKOFF, limited, job);
      expect(d).toBeGreaterThanOrEqual(7_000);
      expect(d).toBeLessThanOrEqual(7_700);
      const e = bankBackoff(3, BANK_BACKOFF, new UpstreamUnavailableError('503', 'jpm_unavailable'), job);
      expect(e).toBeGreaterThanOrEqual(20_000);
      expect(e).toBeLessThanOrEqual(40_000);
      expect(bankBackoff(30, BANK_BACKOFF, new Error('x'), job)).toBeLessThanOrEqual(15 * 60_000);
    }
  });

  it("blocks the integration until Retry-After, or for a 429 without one for the job's first backoff", () => {
    const bare429 = new UpstreamUnavailableError('429', 'jpm_rate_limited');
    const limited = Object.assign(new UpstreamUnavailableError('429', 'jpm_rate_limited'), { retryAfterMs: 7_000 });
    const unavailable = Object.assign(new UpstreamUnavailableError('503', 'jpm_unavailable'), { retryAfterMs: 3_000 });
    expect(integrationBlockMs(classifyFailure(bare429), job)).toBe(10_000);
    expect(integrationBlockMs(classifyFailure(limited), job)).toBe(7_000);
    expect(integrationBlockMs(classifyFailure(unavailable), job)).toBe(3_000);
    expect(integrationBlockMs(classifyFailure(new UpstreamUnavailableError('5', 'jpm_unavailable')), job)).toBe(
      undefined,
    );
    expect(integrationBlockMs(classifyFailure(new UpstreamRejectedError('s', 'jpm_schema_violation')), job)).toBe(
      undefined,
    );
  });

  it('sorts failures: retryable bank, retryable other, permanent by scope', () => {
    expect(classifyFailure(new UpstreamUnavailableError('t', 'jpm_timeout'))).toMatchObject({
      kind: 'retryable',
      bank: true,
    });
    expect(
      classifyFailure(Object.assign(new UpstreamUnavailableError('r', 'jpm_rate_limited'), { retryAfterMs: 1000 })),
    ).toMatchObject({ kind: 'retryable', bank: false, retryAfterMs: 1000 });
    expect(classifyFailure(new TypeError('bug'))).toMatchObject({
      kind: 'retryable',
      bank: false,
      code: 'internal_error',
    });
    expect(classifyFailure(new UpstreamRejectedError('c', 'jpm_certificate_refused'))).toMatchObject({
      kind: 'permanent',
      scope: 'integration',
    });
    expect(classifyFailure(new AppError('e', { code: 'certificate_expired' }))).toMatchObject({
      kind: 'permanent',
      scope: 'integration',
    });
    expect(classifyFailure(new UpstreamRejectedError('n', 'jpm_not_entitled'))).toMatchObject({
      kind: 'permanent',
      scope: 'account',
    });
    expect(classifyFailure(new UpstreamRejectedError('s', 'jpm_schema_violation'))).toMatchObject({
      kind: 'permanent',
      scope: 'run',
    });
  });
});
