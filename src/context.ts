import type { Config, Secrets } from './config/index.ts';
import { credentialSource } from './credentials/credential-source.ts';
import { JpmClient } from './jpm/client.ts';
import { createQueues, type Queues } from './scheduler/index.ts';
import type { BankClient } from './sync/bank-client.ts';
import { bankClientOf } from './sync/jpm-bank.ts';
import { NotFoundError } from './shared/errors.ts';
import { createLogger, type Logger } from './shared/logger.ts';
import { createOutboundPolicy, type OutboundPolicy } from './shared/outbound-policy.ts';
import { createDb, type Database } from './storage/db.ts';

/**
 * The composition root: everything a process role needs, built once from config. Each entry point
 * in main/ calls createContext and owns `close()`. No module reaches for globals instead.
 */
export interface AppContext {
  config: Config;
  secrets: Secrets;
  db: Database;
  logger: Logger;
  /** BullMQ producers (queues, flow producer) under `config.queue.prefix`, on one fail-fast Redis connection. */
  queues: Queues;
  /**
   * The bank client of an integration (one per integration and base URL, reused for keep-alive);
   * its credential is read before every call, so a rotated certificate is used without a restart.
   */
  clientFor(integrationId: string): Promise<BankClient>;
  /** Where we may connect on a user's behalf (webhooks, base URLs): public addresses plus `OUTBOUND_ALLOW`. */
  outbound: OutboundPolicy;
  /** Releases pools and connections; each step is guarded so one failure does not skip the rest. */
  close(): Promise<void>;
}

export function createContext(config: Config, secrets: Secrets): AppContext {
  const db = createDb({
    url: config.database.url, password: secrets.databasePassword, poolMax: config.database.poolMax, connectionTimeoutMs: config.database.poolWaitMs,
  });
  const outbound = createOutboundPolicy({ allow: config.outbound.allow });
  const logger = createLogger('main');
  const queues = createQueues({ redisUrl: config.redis.url, prefix: config.queue.prefix });
  const closers: { name: string; close: () => Promise<void> }[] = [{ name: 'db', close: () => db.destroy() }, { name: 'queues', close: () => queues.close() }];
  const clients = new Map<string, { baseUrl: string; client: JpmClient; bank: BankClient }>();
  closers.push({ name: 'jpm-clients', close: async () => void (await Promise.all([...clients.values()].map((c) => c.client.close()))) });
  async function clientFor(integrationId: string): Promise<BankClient> {
    const row = await db.selectFrom('integrations').select(['base_url']).where('id', '=', integrationId).executeTakeFirst();
    if (!row) {
      throw new NotFoundError('integration', integrationId);
    }
    const cached = clients.get(integrationId);
    if (cached?.baseUrl === row.base_url) {
      return cached.bank;
    }
    if (cached) {
      void cached.client.close();
    }
    const client = new JpmClient({
      baseUrl: row.base_url,
      credentials: credentialSource(db, secrets, integrationId),
      timeouts: { connectMs: config.jpm.connectTimeoutMs, requestMs: config.jpm.requestTimeoutMs },
      outbound,
    });
    const entry = { baseUrl: row.base_url, client, bank: bankClientOf(client) };
    clients.set(integrationId, entry);
    return entry.bank;
  }
  return {
    config,
    secrets,
    db,
    logger,
    queues,
    clientFor,
    outbound,
    async close() {
      for (const c of closers.reverse()) {
        try {
          await c.close();
        } catch (err) {
          logger.warn({ err, resource: c.name }, 'resource failed to close');
        }
      }
    },
  };
}
