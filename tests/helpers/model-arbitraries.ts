import fc from 'fast-check';
import { addDays, eachDay, isWeekend, type IsoDate } from '../../src/shared/time.ts';
import type { FaultKind, FaultRule, Quirks } from '../../src/simulator/index.ts';
import type { ModelScenario, ModelStep, SyncStep } from './model-bank.ts';

/**
 * fast-check generators of bank histories and sync schedules for the model-based test. A scenario is
 * a simulator (seed, every quirk switched on or off, holidays, one or two accounts in 0/2/3-decimal
 * currencies, small pages so walks span pages and pages shift) plus a list of steps: the bank's clock
 * moving (same day later, next days, over weekends and holidays), our clock skewed against the bank's,
 * intraday / prior-day syncs and range backfills of either account, each with optional faults.
 */
export interface ScenarioLimits {
  maxSteps: number;
  /** fast-check's size of the step list: how close to `maxSteps` histories usually get. */
  size: fc.SizeForArbitrary;
  /** Fault kinds a sync may meet (each rule fires at most twice, so the worker's retries converge on retryable ones). */
  faultKinds: readonly FaultKind[];
  /** `Retry-After` of 429 / 503 faults (0: none worth waiting for; the queue path waits what it says). */
  retryAfterSeconds: number;
}

/**
 * `npm test`: the direct path; 5xx, 429, 503, gateway faults, resets, truncated bodies, short and overlapping pages, and
 * a 403 now and then (permanent: the sync stops part-way and its days stay unsettled until a later one).
 */
export const BOUNDED: ScenarioLimits = {
  maxSteps: 10,
  size: 'medium',
  faultKinds: [
    'rate-limit',
    'server-error',
    'unavailable',
    'gateway-fault',
    'reset',
    'malformed-json',
    'short-page',
    'overlapping-page',
    'not-entitled',
  ],
  retryAfterSeconds: 0,
};

/** The long run: longer histories, and timeouts (a bank that never answers) too. */
export const LONG: ScenarioLimits = {
  maxSteps: 24,
  size: 'max',
  faultKinds: [
    'rate-limit',
    'server-error',
    'unavailable',
    'gateway-fault',
    'reset',
    'malformed-json',
    'short-page',
    'overlapping-page',
    'hang',
    'not-entitled',
  ],
  retryAfterSeconds: 0,
};

/** Through BullMQ: faults whose Retry-After the workers honour (other retries back off for seconds). */
export const QUEUED: ScenarioLimits = {
  maxSteps: 14,
  size: 'large',
  faultKinds: ['rate-limit', 'unavailable'],
  retryAfterSeconds: 1,
};

const QUIRK_NAMES: (keyof Quirks)[] = [
  'growingSnapshot',
  'newIdsOnPosting',
  'amountChangesOnPosting',
  'unpostedIntraday',
  'latePostings',
  'identicalTransactions',
  'reissuedIds',
  'shiftingPages',
  'reversals',
  'extremeAmounts',
  'oddFields',
  'oddReferences',
  'hostileNarratives',
  'withdrawals',
  'revisedIntraday',
  'dippingSnapshot',
  'movedToNextDay',
  'quietDays',
];

/** Mondays in November/December 2026: every scenario starts on a business day (holidays aside). */
const BASE: IsoDate = '2026-11-02';

function quirksArb(): fc.Arbitrary<Partial<Quirks>> {
  // Each quirk is on more often than off: the strange bank is the point.
  const entries = QUIRK_NAMES.map(
    (q) =>
      [q, fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })] as const,
  );
  return fc.record(Object.fromEntries(entries) as Record<keyof Quirks, fc.Arbitrary<boolean>>);
}

function faultsArb(limits: ScenarioLimits): fc.Arbitrary<FaultRule[]> {
  const rule = fc
    .record({
      kind: fc.constantFrom(...limits.faultKinds),
      count: fc.integer({ min: 1, max: 2 }),
      after: fc.integer({ min: 0, max: 3 }),
      path: fc.constantFrom(undefined, '/tsapi/v3/transactions', '/accessapi/balance'),
    })
    .map(({ path, ...r }): FaultRule => ({
      ...r,
      ...(path ? { path } : {}),
      retryAfterSeconds: limits.retryAfterSeconds,
    }));
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant<FaultRule[]>([]) },
    { weight: 1, arbitrary: fc.array(rule, { minLength: 1, maxLength: 2 }) },
  );
}

/** Steps, mostly one at a time; sometimes a burst of intraday syncs through one day (withdrawals and returns show there). */
function stepsArb(limits: ScenarioLimits): fc.Arbitrary<ModelStep[]> {
  const burst = fc
    .record({
      account: fc.nat(1),
      progresses: fc.uniqueArray(fc.integer({ min: 0, max: 20 }), { minLength: 2, maxLength: 6 }),
      faults: faultsArb(limits),
    })
    .map(({ account, progresses, faults }) =>
      [...progresses]
        .sort((a, b) => a - b)
        .flatMap((p): ModelStep[] => [
          { do: 'advance', days: 0, progress: p / 20 },
          { do: 'sync', account, mode: 'intraday', faults },
        ]),
    );
  const together = fc
    .array(syncArb(limits), { minLength: 2, maxLength: 2 })
    .map((syncs): ModelStep[] => [{ do: 'together', syncs }]);
  return fc.oneof(
    { weight: 8, arbitrary: stepArb(limits).map((s) => [s]) },
    { weight: 1, arbitrary: burst },
    { weight: 1, arbitrary: together },
  );
}

function syncArb(limits: ScenarioLimits): fc.Arbitrary<SyncStep> {
  return fc.oneof(
    fc.record({
      do: fc.constant('sync' as const),
      account: fc.nat(1),
      mode: fc.constantFrom('intraday' as const, 'prior_day' as const),
      faults: faultsArb(limits),
    }),
    fc.record({
      do: fc.constant('range' as const),
      account: fc.nat(1),
      back: fc.integer({ min: 1, max: 12 }),
      length: fc.integer({ min: 1, max: 8 }),
      faults: faultsArb(limits),
    }),
  );
}

function stepArb(limits: ScenarioLimits): fc.Arbitrary<ModelStep> {
  const progress = fc.integer({ min: 0, max: 20 }).map((n) => n / 20);
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        do: fc.constant('advance' as const),
        days: fc.constantFrom(0, 0, 0, 1, 1, 2, 3),
        progress,
      }),
    },
    { weight: 1, arbitrary: fc.record({ do: fc.constant('skew' as const), days: fc.constantFrom(-1, 0, 0, 1) }) },
    {
      weight: 5,
      arbitrary: fc.record({
        do: fc.constant('sync' as const),
        account: fc.nat(1),
        mode: fc.constantFrom('intraday' as const, 'intraday' as const, 'prior_day' as const),
        faults: faultsArb(limits),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        do: fc.constant('range' as const),
        account: fc.nat(1),
        back: fc.integer({ min: 1, max: 12 }),
        length: fc.integer({ min: 1, max: 8 }),
        faults: faultsArb(limits),
      }),
    },
  );
}

export function scenarioArb(limits: ScenarioLimits): fc.Arbitrary<ModelScenario> {
  return fc
    .record({
      seed: fc.integer({ min: 0, max: 0xffffff }).map((n) => `model-${n.toString(16)}`),
      quirks: quirksArb(),
      startOffset: fc.integer({ min: 0, max: 30 }),
      historyDays: fc.integer({ min: 8, max: 14 }),
      holidayPicks: fc.array(fc.nat(40), { maxLength: 3 }),
      currencies: fc.subarray(['USD', 'JPY', 'KWD', 'EUR'], { minLength: 1, maxLength: 2 }),
      txPerDay: fc.integer({ min: 2, max: 8 }),
      pageSize: fc.integer({ min: 2, max: 6 }),
      steps: fc
        .array(stepsArb(limits), { minLength: 2, maxLength: limits.maxSteps, size: limits.size })
        .map((groups) => groups.flat()),
    })
    .map(({ startOffset, holidayPicks, ...r }) => {
      let start = addDays(BASE, startOffset);
      while (isWeekend(start)) {
        start = addDays(start, 1);
      }
      // Holidays among the weekdays around the scenario (history and the days it may move through).
      const weekdays = eachDay(addDays(start, -r.historyDays), addDays(start, 25)).filter(
        (d) => !isWeekend(d) && d !== start,
      );
      const holidays = [...new Set(holidayPicks.map((i) => weekdays[i % weekdays.length]!))].sort();
      // Every history ends with a sync of every account, so each run checks a settled state too.
      const tail: ModelStep[] = r.currencies.map((_, account) => ({
        do: 'sync' as const,
        account,
        mode: 'prior_day' as const,
      }));
      return { ...r, start, holidays, steps: [...r.steps, ...tail] };
    });
}
