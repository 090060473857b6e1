/** The counters every chaos test file adds to, and how the run's summary prints them. */
export const COUNTERS = [
  'kills',
  'stallGiveUps',
  'redisRestarts',
  'pgBackendsKilled',
  'faultsInjected',
  'runsChecked',
  'badInputs',
  'requests',
  'rowsCompared',
  'duplicates',
  'missing',
  'mismatched',
  'secretsLeaked',
  'deadlocks',
  'stuckRuns',
] as const;
export type CounterName = (typeof COUNTERS)[number];
export type Counters = Record<CounterName, number>;

export function emptyCounters(): Counters {
  return Object.fromEntries(COUNTERS.map((k) => [k, 0])) as Counters;
}

const LABELS: Record<CounterName, string> = {
  kills: 'worker processes SIGKILLed (survived)',
  stallGiveUps: 'windows given up after repeated stalls (re-run)',
  redisRestarts: 'Redis restarts',
  pgBackendsKilled: 'Postgres backends terminated',
  faultsInjected: 'bank faults injected (fired)',
  runsChecked: 'sync runs checked',
  badInputs: 'bad inputs tried',
  requests: 'API requests checked',
  rowsCompared: 'rows compared with ground truth',
  duplicates: 'duplicates',
  missing: 'missing',
  mismatched: 'wrong amounts / balances',
  secretsLeaked: 'secrets leaked',
  deadlocks: 'deadlocks (40P01)',
  stuckRuns: 'runs stuck in running',
};

export function formatSummary(seed: string, files: readonly string[], c: Counters): string {
  const width = Math.max(...COUNTERS.map((k) => LABELS[k].length));
  const lines = COUNTERS.map((k) => `  ${LABELS[k].padEnd(width)}  ${String(c[k]).padStart(7)}`);
  return [
    '',
    `== chaos summary (seed ${seed}; replay with CHAOS_SEED=${seed} npm run test:chaos) ==`,
    `  files reporting: ${files.length > 0 ? files.join(', ') : 'none'}`,
    ...lines,
    '',
  ].join('\n');
}
