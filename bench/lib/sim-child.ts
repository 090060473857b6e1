/**
 * The J.P. Morgan simulator in a process of its own, so its CPU is measured apart from ours
 * (/proc/<pid>/stat) and it never shares an event loop with the pipeline it feeds. Options come in
 * BENCH_SIM (JSON); it answers over the IPC channel: `ready` (url, CA, a client credential, its
 * accounts), then `stats` on request. It stops on SIGTERM or when the parent goes away.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initLogger } from '../../src/shared/logger.ts';
import { createClientCredential, startSimulator, type SimulatorOptions } from '../../src/simulator/index.ts';

export interface SimChildOptions {
  seed: string;
  today: string;
  accounts: number;
  txPerDay: number;
  historyDays: number;
  prerenderMaxBytes: number;
  /** The simulator's CA folder, when the parent signs CSRs with it (kept at the end); default a temporary one. */
  pkiDir?: string;
}

export type SimChildMessage =
  | {
      type: 'ready';
      url: string;
      caCertPem: string;
      certPem: string;
      keyPem: string;
      accounts: { accountId: string; currency: string; decimalLocation: number }[];
    }
  | { type: 'stats'; stats: ReturnType<Awaited<ReturnType<typeof startSimulator>>['stats']> };

const options = JSON.parse(process.env.BENCH_SIM ?? '{}') as SimChildOptions;
initLogger({ level: 'warn', format: 'json' });
const pkiDir = options.pkiDir ?? (await mkdtemp(join(tmpdir(), 'jpm-sync-bench-pki-')));
const simOptions: SimulatorOptions = {
  pkiDir,
  seed: options.seed,
  today: options.today,
  progress: 0.5,
  accounts: options.accounts,
  txPerDay: options.txPerDay,
  historyDays: options.historyDays,
  prerender: true,
  prerenderMaxBytes: options.prerenderMaxBytes,
};
const sim = await startSimulator(simOptions);
const issued = await createClientCredential(sim.pki, { commonName: 'jpm-sync-bench' });

function send(message: SimChildMessage): void {
  process.send?.(message);
}

process.on('message', (m: { type?: string }) => {
  if (m.type === 'stats') {
    send({ type: 'stats', stats: sim.stats() });
  }
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) {
    return;
  }
  stopping = true;
  await sim.stop();
  if (!options.pkiDir) {
    await rm(pkiDir, { recursive: true, force: true });
  }
  process.exit(0);
}
process.once('SIGTERM', () => void stop());
process.once('disconnect', () => void stop());

send({
  type: 'ready',
  url: sim.url,
  caCertPem: sim.caCertPem,
  certPem: issued.certPem,
  keyPem: issued.keyPem,
  accounts: sim.accounts.map((a) => ({
    accountId: a.accountId,
    currency: a.currency.code,
    decimalLocation: a.currency.decimalLocation,
  })),
});
