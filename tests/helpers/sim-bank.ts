import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JpmClient } from '../../src/jpm/client.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { IsoDate } from '../../src/shared/time.ts';
import {
  createClientCredential,
  startSimulator,
  type RunningSimulator,
  type SimulatorOptions,
} from '../../src/simulator/index.ts';
import type { Database } from '../../src/storage/db.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { bankClientOf } from '../../src/sync/jpm-bank.ts';
import { syncAccountWindow, type SyncDeps, type WindowJob } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';

export interface SimAccountRow {
  id: string;
  organizationId: string;
  jpmAccountId: string;
  currency: string;
  decimalLocation: number;
}

/** The simulator over real mTLS, a client with a certificate its CA signed, and our accounts for its accounts. */
export interface SimBank {
  sim: RunningSimulator;
  client: JpmClient;
  bank: BankClient;
  tenancy: Tenancy;
  accounts: SimAccountRow[];
  deps: SyncDeps;
  /** Our clock: noon in New York on the simulator's business day. */
  setToday(today: IsoDate, progress?: number): void;
  sync(
    accountId: string,
    job: Omit<WindowJob, 'accountId' | 'runId' | 'kinds'> & { kinds?: WindowJob['kinds']; runId?: string | null },
  ): ReturnType<typeof syncAccountWindow>;
  stop(): Promise<void>;
}

export async function startSimBank(
  db: Database,
  options: Partial<SimulatorOptions> & { today: IsoDate },
): Promise<SimBank> {
  const pkiDir = await mkdtemp(join(tmpdir(), 'sim-bank-pki-'));
  const sim = await startSimulator({ pkiDir, seed: 'sim-bank', ...options });
  const issued = await createClientCredential(sim.pki, { commonName: 'sim-bank-test' });
  const credential = { id: 'sim-bank-cert', certPem: issued.certPem, keyPem: issued.keyPem, caPem: sim.caCertPem };
  const client = new JpmClient({ baseUrl: sim.url, credentials: () => Promise.resolve(credential) });
  const bank = bankClientOf(client);
  const tenancy = await createTenancy(db, { baseUrl: sim.url });
  const accounts: SimAccountRow[] = [];
  for (const a of sim.accounts) {
    const row = await createAccount(db, tenancy, {
      jpmAccountId: a.accountId,
      currency: a.currency.code,
      decimalLocation: a.currency.decimalLocation,
    });
    accounts.push({ ...row, currency: a.currency.code, decimalLocation: a.currency.decimalLocation });
  }
  let today = options.today;
  const deps: SyncDeps = {
    db,
    clientFor: () => Promise.resolve(bank),
    now: () => new Date(`${today}T17:00:00Z`),
    logger: createLogger('sync'),
    lookbackDays: 5,
  };
  return {
    sim,
    client,
    bank,
    tenancy,
    accounts,
    deps,
    setToday(t, progress = 0.5) {
      today = t;
      sim.setClock({ today: t, progress });
    },
    sync: (accountId, job) =>
      syncAccountWindow(deps, { runId: null, kinds: ['transactions', 'balances'], ...job, accountId }),
    async stop() {
      await client.close();
      await sim.stop();
    },
  };
}
