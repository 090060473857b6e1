import type { Logger } from '../shared/logger.ts';

export interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

/**
 * Graceful shutdown owned by main/: on SIGTERM/SIGINT stop intake first (HTTP), then workers (which
 * wait for active jobs), then pools. Each step is guarded; the whole sequence is bounded by
 * `timeoutMs`, after which the process exits non-zero rather than hang a deploy.
 */
export function onShutdown(logger: Logger, timeoutMs: number, steps: () => Stoppable[]): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info({ signal, timeoutMs }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown timed out, exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    void runSteps(logger, steps()).then(() => {
      clearTimeout(timer);
      logger.info('shutdown complete');
      process.exit(0);
    });
  };
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
}

export async function runSteps(logger: Logger, steps: Stoppable[]): Promise<void> {
  for (const step of steps) {
    try {
      await step.stop();
      logger.debug({ step: step.name }, 'stopped');
    } catch (err) {
      logger.error({ err, step: step.name }, 'shutdown step failed');
    }
  }
}
