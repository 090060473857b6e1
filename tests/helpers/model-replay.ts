import type { Parameters } from 'fast-check';

/**
 * fast-check settings of the model-based test, with replay from the environment:
 *   MODEL_SEED=<seed> MODEL_PATH=<path>   replay one failure (fast-check prints both when a case fails)
 *   MODEL_RUNS=<n>                        run more (or fewer) random cases
 *   MODEL_SHRINK=1                        shrink a failure to a smaller history (each try re-runs a scenario)
 * Without MODEL_SHRINK the first failing case is reported as found: shrinking re-runs whole bank histories.
 */
export function modelRunOptions(o: { numRuns: number; label: string }): Parameters<unknown> {
  const seed = process.env.MODEL_SEED;
  const path = process.env.MODEL_PATH;
  const runs = Number(process.env.MODEL_RUNS ?? '');
  return {
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : o.numRuns,
    endOnFailure: process.env.MODEL_SHRINK !== '1',
    ...(seed !== undefined && seed !== '' ? { seed: Number(seed) } : {}),
    ...(path !== undefined && path !== '' ? { path } : {}),
    reporter: (details) => {
      if (details.failed) {
        const replay = `MODEL_SEED=${details.seed} MODEL_PATH=${details.counterexamplePath ?? ''}`;
        throw new Error(
          `model-based test failed after ${details.numRuns} case(s); replay with:\n  ${replay} npx vitest run ${o.label}\n` +
            `counterexample: ${JSON.stringify(details.counterexample)}\n${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`,
        );
      }
    },
  };
}
