import type { Logger } from '../shared/logger.ts';

export interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

/**
 * Graceful shutdown owned by main/: on SIGTERM/SIGINT stop intake first (HTTP), then workers (which
 * give back or finish their active jobs), then pools. Each step is guarded; the whole sequence is bounded by
 * `timeoutMs`, after which the process exits non-zero rather than hang a deploy. The roles' stops run side by side
 * (`stopTogether`) once intake is closed, so a request still in flight never keeps the workers' jobs active.
 */
let stopping = false;

/** True once a SIGTERM/SIGINT started the graceful stop: work failing from then on is the stop, not a failure. */
export function shuttingDown(): boolean {
  return stopping;
}

/**
 * `options.exitCode`: the status after a complete stop (default 0); `options.onSignal` runs first (a line to the
 * operator).
 */
export function onShutdown(
  logger: Logger,
  timeoutMs: number,
  steps: () => Stoppable[],
  options: { exitCode?: number; onSignal?: () => void } = {},
): void {
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    options.onSignal?.();
    logger.info({ signal, timeoutMs }, 'shutting down');
    const timer = setTimeout(() => {
      logShutdownTimeout(logger, timeoutMs);
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    void runSteps(logger, steps()).then(() => {
      clearTimeout(timer);
      logger.info('shutdown complete');
      process.exit(options.exitCode ?? 0);
    });
  };
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
}

/** The stops begun and not ended yet, outermost first: what a stop that ran out of time was still waiting for. */
const inFlight: string[] = [];

/** Runs `step.stop()`, counted among the stops in flight until it settles. */
export async function trackedStop(step: Stoppable): Promise<void> {
  inFlight.push(step.name);
  try {
    await step.stop();
  } finally {
    inFlight.splice(inFlight.lastIndexOf(step.name), 1);
  }
}

/**
 * The line of a stop that ran out of time, naming the steps still stopping (`waitingFor`, e.g. `["roles", "worker"]`
 * or `["context", "queues"]`), so the operator knows which dependency held it up (a Redis or Postgres that is down).
 */
export function logShutdownTimeout(logger: Logger, timeoutMs: number): void {
  logger.error({ timeoutMs, waitingFor: [...inFlight] }, 'shutdown timed out, exiting');
}

export async function runSteps(logger: Logger, steps: Stoppable[]): Promise<void> {
  for (const step of steps) {
    try {
      await trackedStop(step);
      logger.debug({ step: step.name }, 'stopped');
    } catch (err) {
      logger.error({ err, step: step.name }, 'shutdown step failed');
    }
  }
}

/**
 * Stops `steps` side by side: each one's stop is started in the order given (so the first, intake, closes before the
 * others begin), then all are awaited together, so none waits behind another. Each is guarded as in `runSteps`.
 */
export async function stopTogether(logger: Logger, steps: Stoppable[]): Promise<void> {
  const stopping = steps.map(async (step) => trackedStop(step));
  const settled = await Promise.allSettled(stopping);
  settled.forEach((s, i) => {
    if (s.status === 'rejected') {
      logger.error({ err: s.reason as unknown, step: steps[i]!.name }, 'shutdown step failed');
    } else {
      logger.debug({ step: steps[i]!.name }, 'stopped');
    }
  });
}
