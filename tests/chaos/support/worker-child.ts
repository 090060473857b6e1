/**
 * A queue worker in its own process for the chaos tests (SIGKILL target; tests/helpers/worker-process.ts).
 * Logs go to stdout as JSON at `logLevel`, so the parent can scan them (deadlocks, secrets).
 * Settings come in CHAOS_WORKER (JSON).
 */
import { initLogger } from '../../../src/shared/logger.ts';
import { runWorkerProcess } from '../../helpers/worker-process.ts';
import { slowBank, type ChildConfig } from './slow-bank.ts';

const cfg = JSON.parse(process.env.CHAOS_WORKER ?? '{}') as ChildConfig;
initLogger({ level: cfg.logLevel, format: 'json' });
await runWorkerProcess({
  ...cfg,
  client: { refusalProbeMs: 500, ...(cfg.timeouts ? { timeouts: cfg.timeouts } : {}) },
  wrapBank: (bank) => slowBank(bank, cfg.pageDelayMs),
  worker: {
    concurrency: cfg.concurrency,
    stall: cfg.stall,
    ...(cfg.guard ? { guard: cfg.guard } : {}),
    busyRetryMs: 200,
    lockPoolMax: 4,
  },
});
