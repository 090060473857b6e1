import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JpmClient, type JpmClientOptions } from '../../src/jpm/client.ts';
import type { TlsCredential } from '../../src/jpm/credential-agents.ts';
import type { TransactionPageEvent } from '../../src/jpm/transactions.ts';
import type { JpmCallEvent } from '../../src/jpm/transport.ts';
import {
  createClientCredential,
  ensureDevPki,
  NO_QUIRKS,
  startSimulator,
  type DevPki,
  type RunningSimulator,
  type SimulatorOptions,
} from '../../src/simulator/index.ts';

/**
 * The J.P. Morgan simulator over real mTLS plus a credential its dev CA issued, for the client's
 * integration tests. `client()` records every call in `calls` (endpoint, request id, credential id).
 */
export interface ClientSim {
  sim: RunningSimulator;
  credential: TlsCredential;
  calls: JpmCallEvent[];
  client(overrides?: Partial<JpmClientOptions>): JpmClient;
  /** A credential issued by the simulator's CA (fresh key pair) with the given id. */
  issue(id: string, opts?: { days?: number; notBefore?: Date }): Promise<TlsCredential>;
  /** A credential from a different CA: the simulator must refuse it. */
  foreign(id: string): Promise<TlsCredential>;
  stop(): Promise<void>;
}

export async function startClientSim(options: Partial<SimulatorOptions> = {}): Promise<ClientSim> {
  const dirs = [await mkdtemp(join(tmpdir(), 'jpm-client-pki-'))];
  const sim = await startSimulator({ pkiDir: dirs[0]!, today: '2025-03-12', seed: 'jpm-client', ...options });
  const calls: JpmCallEvent[] = [];
  const clients: JpmClient[] = [];
  const credentialFrom = async (
    pki: DevPki,
    id: string,
    opts: { days?: number; notBefore?: Date } = {},
  ): Promise<TlsCredential> => {
    const issued = await createClientCredential(pki, { commonName: `jpm-client-${id}`, ...opts });
    return { id, certPem: issued.certPem, keyPem: issued.keyPem, caPem: sim.caCertPem };
  };
  const credential = await credentialFrom(sim.pki, 'cert-1');
  return {
    sim,
    credential,
    calls,
    client(overrides = {}) {
      const client = new JpmClient({
        baseUrl: sim.url,
        credentials: () => Promise.resolve(credential),
        refusalProbeMs: 500,
        onCall: (event) => calls.push(event),
        ...overrides,
      });
      clients.push(client);
      return client;
    },
    issue: (id, opts) => credentialFrom(sim.pki, id, opts),
    async foreign(id) {
      const dir = await mkdtemp(join(tmpdir(), 'jpm-client-foreign-'));
      dirs.push(dir);
      return credentialFrom(await ensureDevPki(dir), id);
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close()));
      await sim.stop();
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

/**
 * The simulator for tests of one account's transaction walk: no quirks, four transactions a day over twelve days, two
 * records a page (each overridable); `accountId` is its first account.
 */
export async function startWalkSim(
  options: Partial<SimulatorOptions> = {},
): Promise<{ env: ClientSim; accountId: string }> {
  const env = await startClientSim({
    accounts: 1,
    historyDays: 12,
    txPerDay: 4,
    quirks: NO_QUIRKS,
    defaultPageSize: 2,
    ...options,
  });
  return { env, accountId: env.sim.accounts[0]!.accountId };
}

/** Every event of a transaction walk, in order. */
export async function collect(events: AsyncIterable<TransactionPageEvent>): Promise<TransactionPageEvent[]> {
  const out: TransactionPageEvent[] = [];
  for await (const event of events) {
    out.push(event);
  }
  return out;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Runs `fn` and returns what it threw (fails the test when it did not throw). */
export async function caught(fn: () => Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await fn();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}
