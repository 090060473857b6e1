import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { COUNTERS, emptyCounters, formatSummary, type Counters } from './summary-format.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    chaosSeed: string;
    chaosSummaryDir: string;
  }
}

/**
 * The chaos suite's global setup (besides the shared template-database setup): picks the run's seed
 * (`CHAOS_SEED` replays one), gives each test file a folder to drop its counters in, and prints the
 * summary over every file once the run is over.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const seed = process.env.CHAOS_SEED?.trim() || randomBytes(4).toString('hex');
  const dir = await mkdtemp(join(tmpdir(), 'jpm-sync-chaos-'));
  project.provide('chaosSeed', seed);
  project.provide('chaosSummaryDir', dir);
  console.log(`[chaos] seed ${seed} (replay with CHAOS_SEED=${seed} npm run test:chaos)`);
  return async () => {
    const total: Counters = emptyCounters();
    const files: string[] = [];
    for (const name of (await readdir(dir)).filter((n) => n.endsWith('.json')).sort()) {
      const part = JSON.parse(await readFile(join(dir, name), 'utf8')) as Partial<Counters>;
      files.push(name.replace(/\.json$/, ''));
      for (const k of COUNTERS) {
        total[k] += part[k] ?? 0;
      }
    }
    console.log(formatSummary(seed, files, total));
    await rm(dir, { recursive: true, force: true });
  };
}
