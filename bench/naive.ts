import type { RunContext } from './lib/context.ts';
import type { BenchResult } from './lib/env.ts';

export function runNaive(_ctx: RunContext): Promise<BenchResult> {
  return Promise.reject(new Error('not yet'));
}
