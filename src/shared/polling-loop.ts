import type { Logger } from './logger.ts';

export interface PollingLoop {
  /** Stops after the pass in progress (if any) has finished. */
  stop(): Promise<void>;
}

/**
 * Runs `pass` at once, then every `intervalMs` until stopped; a pass that did work (returns true)
 * is followed by another one at once, a pass that returns a number by another one after that many
 * milliseconds (a loop that yields to other work; `stop()` does not wait for the pause). A failing
 * pass is logged with `failure` and the loop goes on (the database may be restarting).
 */
export function startPollingLoop(
  pass: () => Promise<boolean | number>,
  options: { intervalMs: number; log: Logger; failure: string },
): PollingLoop {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();
  const tick = () => {
    current = (async () => {
      let busy: boolean | number = false;
      try {
        busy = await pass();
      } catch (err) {
        options.log.error({ err }, options.failure);
      }
      if (!stopped) {
        timer = setTimeout(tick, typeof busy === 'number' ? busy : busy ? 0 : options.intervalMs);
      }
    })();
  };
  timer = setTimeout(tick, 0);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}
