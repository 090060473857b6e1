/**
 * A queue worker in its own process, for the crash tests (tests/helpers/worker-process.ts), with the
 * harness's call recording and page delay. Settings come in ORCH_WORKER (JSON).
 */
import { initLogger } from '../../src/shared/logger.ts';
import { recordingBank, TEST_STALL } from './recording-bank.ts';
import { runWorkerProcess } from './worker-process.ts';

interface ChildConfig {
  dbUrl: string;
  redisUrl: string;
  prefix: string;
  simUrl: string;
  credFile: string;
  today: string;
  pageDelayMs: number;
}

const cfg = JSON.parse(process.env.ORCH_WORKER ?? '{}') as ChildConfig;
initLogger({ level: process.env.ORCH_LOG_LEVEL ?? 'silent', format: 'json' });
await runWorkerProcess({
  ...cfg,
  client: { refusalProbeMs: 500 },
  wrapBank: (bank) => recordingBank(bank, { pageDelayMs: cfg.pageDelayMs }).bank,
  worker: { concurrency: 4, stall: TEST_STALL, busyRetryMs: 200, lockPoolMax: 4 },
});
