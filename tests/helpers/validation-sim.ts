import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JpmClient } from '../../src/jpm/client.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { IsoDate } from '../../src/shared/time.ts';
import type { Database } from '../../src/storage/db.ts';
import { bankClientOf } from '../../src/sync/jpm-bank.ts';
import { syncAccountWindow, type SyncDeps } from '../../src/sync/sync-account.ts';
import {
  createClientCredential,
  startSimulator,
  type RunningSimulator,
  type SimulatorOptions,
} from '../../src/simulator/index.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from './db.ts';

/**
 * The J.P. Morgan simulator over mTLS, an integration with every simulated account registered, and
 * the real sync path (`syncAccountWindow`) pointed at it: the data source of the validation tests.
 * The service's clock follows the simulator's business date (13:00 in New York).
 */
export interface ValidationSim {
  sim: RunningSimulator;
  tenancy: Tenancy;
  accounts: { id: string; jpmAccountId: string; decimalLocation: number; currency: string }[];
  syncDeps: SyncDeps;
  now: () => Date;
  /** Moves the bank's business date (and our clock with it). */
  setToday(today: IsoDate): void;
  /** A posted range sync of one account (transactions and final balances), as a backfill or heal does it. */
  syncRange: (accountId: string, from: IsoDate, to: IsoDate) => Promise<unknown>;
  /** Final balances only: the days' transactions stay unfetched. */
  syncAccountBalancesOnly: (accountId: string, from: IsoDate, to: IsoDate) => Promise<unknown>;
  stop(): Promise<void>;
}

export async function startValidationSim(
  db: Database,
  options: Partial<SimulatorOptions> & { today: IsoDate },
): Promise<ValidationSim> {
  const pkiDir = await mkdtemp(join(tmpdir(), 'validation-pki-'));
  const sim = await startSimulator({
    pkiDir,
    seed: 'validation',
    accounts: 2,
    historyDays: 20,
    txPerDay: 10,
    ...options,
  });
  const issued = await createClientCredential(sim.pki, { commonName: 'validation-test' });
  const credential = { id: 'validation-cert', certPem: issued.certPem, keyPem: issued.keyPem, caPem: sim.caCertPem };
  const client = new JpmClient({ baseUrl: sim.url, credentials: () => Promise.resolve(credential) });
  const bank = bankClientOf(client);
  const tenancy = await createTenancy(db, { baseUrl: sim.url });
  const accounts = [];
  for (const a of sim.accounts) {
    const row = await createAccount(db, tenancy, {
      jpmAccountId: a.accountId,
      currency: a.currency.code,
      decimalLocation: a.currency.decimalLocation,
    });
    accounts.push({
      id: row.id,
      jpmAccountId: a.accountId,
      decimalLocation: a.currency.decimalLocation,
      currency: a.currency.code,
    });
  }
  let today = options.today;
  const now = () => new Date(`${today}T17:00:00Z`);
  const syncDeps: SyncDeps = {
    db,
    clientFor: () => Promise.resolve(bank),
    now,
    logger: createLogger('sync'),
    lookbackDays: 5,
  };
  return {
    sim,
    tenancy,
    accounts,
    syncDeps,
    now,
    setToday(d) {
      today = d;
      sim.setClock({ today: d });
    },
    syncRange: (accountId, from, to) =>
      syncAccountWindow(syncDeps, {
        runId: null,
        accountId,
        mode: 'range',
        from,
        to,
        kinds: ['transactions', 'balances'],
      }),
    syncAccountBalancesOnly: (accountId, from, to) =>
      syncAccountWindow(syncDeps, { runId: null, accountId, mode: 'range', from, to, kinds: ['balances'] }),
    async stop() {
      await client.close();
      await sim.stop();
      await rm(pkiDir, { recursive: true, force: true });
    },
  };
}

/**
 * The set-up of a validation test file: a fresh test database, {@link startValidationSim} on it, and the first
 * business date of the simulator's history. End it with {@link stopValidationDb}.
 */
export async function startValidationDb(
  options: Partial<SimulatorOptions> & { today: IsoDate },
): Promise<{ t: TestDb; v: ValidationSim; first: IsoDate }> {
  const t = await createTestDb();
  const v = await startValidationSim(t.db, options);
  return { t, v, first: v.sim.groundTruth().firstDate };
}

/** Stops the simulator, then drops the test database, of {@link startValidationDb}. */
export async function stopValidationDb({ t, v }: { t: TestDb; v: ValidationSim }): Promise<void> {
  await v.stop();
  await t.drop();
}
