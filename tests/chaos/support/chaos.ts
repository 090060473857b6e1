import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { Prng } from '../../../src/simulator/prng.ts';
import { emptyCounters, type CounterName, type Counters } from './summary-format.ts';

/**
 * Seeded randomness and counters for one chaos test file. The run's seed comes from the global setup
 * (`CHAOS_SEED` replays it); each file derives its own stream from it and its name, so a failing file
 * replays the same kill schedule, fault plan and bad inputs however the other files ran.
 */
export interface Chaos {
  seed: string;
  rng: Prng;
  /** A 31-bit integer seed for fast-check, derived from the run seed and `label`. */
  fcSeed(label: string): number;
  count(name: CounterName, n?: number): void;
  counters: Counters;
  /** Writes this file's counters for the run summary (call in afterAll). */
  flush(): void;
}

export function chaos(file: string): Chaos {
  const seed = inject('chaosSeed');
  const dir = inject('chaosSummaryDir');
  const rng = new Prng(seed, file);
  const counters = emptyCounters();
  console.log(`[chaos] ${file}: seed ${seed}`);
  return {
    seed,
    rng,
    fcSeed: (label) => new Prng(seed, file, label).uint32() & 0x7fffffff,
    count(name, n = 1) {
      counters[name] += n;
    },
    counters,
    flush() {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${file}.json`), JSON.stringify(counters));
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
