import { describe, expect, it } from 'vitest';
import { logShutdownTimeout, runSteps, stopTogether } from '../../src/main/lifecycle.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { captureLogLines } from '../helpers/log-capture.ts';

/**
 * A stop that runs out of time (SHUTDOWN_TIMEOUT_MS) says what it was still waiting for: with Redis down, BullMQ's
 * queue workers never finish closing, and "shutdown timed out" alone leaves the operator guessing which part held the
 * process up.
 */
describe('shutdown timed out', () => {
  it('names the steps still stopping, outermost first, and not the ones that ended', async () => {
    const lines = captureLogLines('info');
    const logger = createLogger('main');
    const never = new Promise<void>(() => undefined);
    void runSteps(logger, [
      {
        name: 'roles',
        stop: () =>
          stopTogether(logger, [
            { name: 'api', stop: () => Promise.resolve() },
            { name: 'worker', stop: () => stopTogether(logger, [{ name: 'queue-workers', stop: () => never }]) },
          ]),
      },
      { name: 'context', stop: () => Promise.resolve() },
    ]);
    // The api's stop has settled; the worker's queue workers have not.
    await new Promise((r) => setImmediate(r));
    logShutdownTimeout(logger, 25_000);
    const line = JSON.parse(lines.at(-1)!) as { msg: string; timeoutMs: number; waitingFor: string[] };
    expect(line).toMatchObject({
      msg: 'shutdown timed out, exiting',
      timeoutMs: 25_000,
      waitingFor: ['roles', 'worker', 'queue-workers'],
    });
  });
});
