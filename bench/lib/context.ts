/** What the benchmarks of one `npm run bench` share: the scale, one pre-rendered simulator, the backfilled database. */
import { datasetFor, startBank, type Bank, type Dataset } from './pipeline.ts';
import { loadAverage, machine, type BenchDb, type BenchResult, type Machine, type Target } from './env.ts';

export interface RunContext {
  scale: number;
  dataset: Dataset;
  machine: Machine;
  /** The simulator with every page of the dataset pre-rendered (started once, on first use). */
  bank(): Promise<Bank>;
  /** The backfill's database (≈ 1M transactions and change events), kept for the read benchmarks of the same run. */
  backfilled?: BenchDb;
  /** Run at the very end (drop databases, stop children). */
  cleanups: (() => Promise<void>)[];
}

export async function createRunContext(scale: number): Promise<RunContext> {
  const dataset = datasetFor(scale);
  let bank: Promise<Bank> | undefined;
  const ctx: RunContext = {
    scale,
    dataset,
    machine: await machine(),
    bank() {
      if (!bank) {
        bank = startBank(dataset);
        ctx.cleanups.push(async () => (await bank!).stop());
      }
      return bank;
    },
    cleanups: [],
  };
  return ctx;
}

/** Starts a result: remembers the load average and the time at the start. */
export function startResult(ctx: RunContext, name: string, title: string) {
  const start = loadAverage();
  const date = new Date().toISOString();
  return (parts: { parameters: Record<string, unknown>; figures: Record<string, unknown>; targets: Target[]; notes?: string[] }): BenchResult => ({
    name,
    title,
    date,
    machine: ctx.machine,
    loadAverage: { start, end: loadAverage() },
    parameters: { scale: ctx.scale, ...parts.parameters },
    figures: parts.figures,
    targets: parts.targets,
    notes: parts.notes ?? [],
    passed: parts.targets.every((t) => t.met),
  });
}
