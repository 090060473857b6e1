import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { JpmClient } from '../../../src/jpm/client.ts';
import { uuidv7 } from '../../../src/shared/ids.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { addDays } from '../../../src/shared/time.ts';
import {
  createClientCredential,
  signCsr,
  startSimulator,
  type RunningSimulator,
} from '../../../src/simulator/index.ts';
import { bankClientOf } from '../../../src/sync/jpm-bank.ts';
import { syncAccountWindow } from '../../../src/sync/sync-account.ts';
import { CSR_SUBJECT } from '../../factories/onboarding.ts';
import { bearer, createTestApi, type TestApi } from '../../helpers/api-app.ts';

/**
 * Two organizations, A and B, each with one of everything the APIs serve: an integration (security
 * admin, CSR, installed certificate, milestone events), an account with synced transactions and
 * balances (and so change-feed events), a sync run, a validation report, a duplicate suspicion, a
 * webhook endpoint with a delivery, and an API key of its own. Built through the API where the API
 * can build it, so the rows are the real ones. Every response is kept for the secret scan.
 */
export const TODAY = '2025-03-12';

/** A resource's ids per organization, by the URL segment that names it (`/v1/<segment>/{id}`). */
export type ResourceIds = Record<string, string>;

export interface Tenant {
  organizationId: string;
  ids: ResourceIds;
  jpmAccountId: string;
  /** Keys scoped to this organization, by role. */
  keys: Record<'admin' | 'operator' | 'viewer', string>;
}

export interface Tenants {
  api: TestApi;
  sim: RunningSimulator;
  a: Tenant;
  b: Tenant;
  /** Every response body the fixture and the tests saw (for the secret scan), and the secrets it issued. */
  responses: string[];
  secrets: string[];
  accountNumbers: string[];
  /** Records a response for the scan (one-time secret reveals are recorded as secrets instead). */
  record(method: string, path: string, res: { status: number; text?: string; body?: unknown }): void;
  close(): Promise<void>;
}

/** Responses that reveal a secret once, by design: the key or signing secret a caller just created. */
const REVEALS = [/^POST \/v1\/api-keys$/, /^POST \/v1\/webhooks$/, /^POST \/v1\/webhooks\/[^/]+\/rotate-secret$/];

export async function createTenants(): Promise<Tenants> {
  const api = await createTestApi();
  const pkiDir = await mkdtemp(join(tmpdir(), 'chaos-tenants-'));
  const sim = await startSimulator({
    pkiDir,
    today: TODAY,
    seed: 'chaos-tenants',
    accounts: 2,
    historyDays: 12,
    txPerDay: 6,
  });
  const issued = await createClientCredential(sim.pki, { commonName: 'chaos-tenants' });
  const client = new JpmClient({
    baseUrl: sim.url,
    credentials: () =>
      Promise.resolve({ id: 'chaos-tenants', certPem: issued.certPem, keyPem: issued.keyPem, caPem: sim.caCertPem }),
  });
  const bank = bankClientOf(client);
  const responses: string[] = [];
  const secrets: string[] = [api.adminKey];
  const record = (method: string, path: string, res: { status: number; text?: string; body?: unknown }) => {
    const text = res.text ?? JSON.stringify(res.body ?? '');
    const reveal = REVEALS.some((re) => re.test(`${method.toUpperCase()} ${path.split('?')[0]}`)) && res.status < 300;
    if (reveal) {
      const body = res.body as { key?: string; secret?: string };
      secrets.push(...[body.key, body.secret].filter((s): s is string => typeof s === 'string'));
    } else {
      responses.push(text);
    }
  };
  const admin = bearer(api.adminKey);
  const call = async (method: 'get' | 'post', path: string, body?: object): Promise<Record<string, unknown>> => {
    const req = request(api.app)[method](path).set(admin);
    const res = await (body === undefined ? req : req.send(body));
    record(method, path, res);
    if (res.status >= 300) {
      throw new Error(`fixture: ${method.toUpperCase()} ${path} answered ${res.status}: ${res.text}`);
    }
    return res.body as Record<string, unknown>;
  };

  const tenant = async (name: string, simAccount: number): Promise<Tenant> => {
    const ids: ResourceIds = {};
    const organizationId = String((await call('post', '/v1/organizations', { name })).id);
    ids.organizations = organizationId;
    const integrationId = String(
      (
        await call('post', '/v1/integrations', {
          organizationId,
          name: `${name} J.P. Morgan`,
          baseUrl: sim.url,
          serverCaPem: sim.caCertPem,
        })
      ).id,
    );
    ids.integrations = integrationId;
    ids['security-admins'] = String(
      (
        await call('post', `/v1/integrations/${integrationId}/security-admins`, {
          side: 'customer',
          name: `${name} Admin`,
          email: 'admin@example.com',
          role: 'Security administrator',
        })
      ).id,
    );
    const csr = await call('post', `/v1/integrations/${integrationId}/key-pairs`, {
      subject: { ...CSR_SUBJECT, organization: name },
      algorithm: 'EC-P256',
    });
    // A key pair, under its path's name and the deprecated alias's (/csrs, one release).
    ids['key-pairs'] = String(csr.id);
    ids.csrs = ids['key-pairs'];
    ids.certificates = String(
      (
        await call('post', `/v1/integrations/${integrationId}/certificates`, {
          certificatePem: await signCsr(sim.pki, String(csr.csrPem)),
          chainPem: sim.caCertPem,
        })
      ).id,
    );
    const acct = sim.accounts[simAccount]!;
    const accountId = String(
      (
        await call('post', `/v1/integrations/${integrationId}/accounts`, {
          jpmAccountId: acct.accountId,
          bankId: '02100002',
          currency: acct.currency.code,
          timeZone: 'America/New_York',
        })
      ).id,
    );
    ids.accounts = accountId;
    // Data as the sync path stores it (transactions, balances, change-feed events).
    const deps = {
      db: api.t.db,
      clientFor: () => Promise.resolve(bank),
      now: () => new Date(`${TODAY}T17:00:00Z`),
      logger: createLogger('sync'),
      lookbackDays: 5,
    };
    await syncAccountWindow(deps, {
      runId: null,
      accountId,
      mode: 'range',
      from: addDays(TODAY, -8),
      to: addDays(TODAY, -1),
      kinds: ['transactions', 'balances'],
    });
    const txn = await api.t.db
      .selectFrom('transactions')
      .select(['id'])
      .where('account_id', '=', accountId)
      .orderBy('id')
      .executeTakeFirstOrThrow();
    ids.transactions = txn.id;
    const run = await call('post', `/v1/accounts/${accountId}/sync-runs`, {
      mode: 'range',
      from: addDays(TODAY, -3),
      to: addDays(TODAY, -2),
    });
    ids['sync-runs'] = String(run.id);
    ids.validations = String(
      (
        await call('post', `/v1/integrations/${integrationId}/validations`, {
          from: addDays(TODAY, -8),
          to: addDays(TODAY, -1),
        })
      ).id,
    );
    ids.contacts = String(
      (
        await call('post', `/v1/integrations/${integrationId}/contacts`, {
          role: 'controller',
          name: `${name} Controller`,
          email: 'controller@example.com',
        })
      ).id,
    );
    // A customer's answer on the review page (the page itself: tests/integration/review-browser.test.ts).
    const reviewLink = uuidv7();
    await api.t.db
      .insertInto('review_links')
      .values({
        id: reviewLink,
        organization_id: organizationId,
        integration_id: integrationId,
        report_id: ids.validations,
        contact_id: ids.contacts,
        expires_at: new Date(Date.now() + 86_400_000),
      })
      .execute();
    ids['customer-reviews'] = uuidv7();
    await api.t.db
      .insertInto('customer_reviews')
      .values({
        id: ids['customer-reviews'],
        organization_id: organizationId,
        integration_id: integrationId,
        link_id: reviewLink,
        report_id: ids.validations,
        contact_id: ids.contacts,
        reviewer_name: `${name} Controller`,
        reviewer_email: 'controller@example.com',
        verdict: 'problem',
        note: 'chaos',
        follow_up_status: 'open',
      })
      .execute();
    const suspicion = uuidv7();
    await api.t.db
      .insertInto('duplicate_suspicions')
      .values({
        id: suspicion,
        organization_id: organizationId,
        account_id: accountId,
        booking_date: addDays(TODAY, -2),
        fingerprint: `chaos-${name}`,
        direction: 'debit',
        amount_minor: '2500',
        currency: acct.currency.code,
        decimal_location: acct.currency.decimalLocation,
        live_count: 2,
        bank_count: 1,
        transaction_ids: [txn.id],
        evidence: JSON.stringify({ chaos: true }),
        first_detected_at: new Date(),
        last_detected_at: new Date(),
      })
      .execute();
    ids['duplicate-suspicions'] = suspicion;
    const webhookId = String(
      (
        await call('post', '/v1/webhooks', {
          organizationId,
          url: 'http://127.0.0.1:9/chaos-hook',
          eventTypes: ['transactions.changed'],
        })
      ).id,
    );
    ids.webhooks = webhookId;
    ids.deliveries = String((await call('post', `/v1/webhooks/${webhookId}/ping`)).deliveryId);
    const keys = {} as Tenant['keys'];
    for (const role of ['admin', 'operator', 'viewer'] as const) {
      const created = await call('post', '/v1/api-keys', { name: `${name} ${role}`, role, organizationId });
      keys[role] = String(created.key);
      ids['api-keys'] = String(created.id);
    }
    return { organizationId, ids, jpmAccountId: acct.accountId, keys };
  };

  const a = await tenant('Alpha Treasury', 0);
  const b = await tenant('Beta Holdings', 1);
  return {
    api,
    sim,
    a,
    b,
    responses,
    secrets,
    accountNumbers: sim.accounts.map((x) => x.accountId),
    record,
    async close() {
      await client.close();
      await sim.stop();
      await rm(pkiDir, { recursive: true, force: true });
      let cursor = '0';
      const redis = api.ctx.queues.redis;
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${api.ctx.queues.prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) {
          await redis.del(...keys);
        }
      } while (cursor !== '0');
      await api.close();
    },
  };
}

/** Row counts and a hash of every table's content (audit_log and api_keys.last_used_at aside): equal means nothing changed. */
export async function fingerprint(api: TestApi): Promise<Record<string, string>> {
  const { sql } = await import('kysely');
  const tables = await sql<{ name: string }>`select table_name as name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE' and table_name <> 'audit_log' order by 1`.execute(
    api.t.db,
  );
  const out: Record<string, string> = {};
  for (const { name } of tables.rows) {
    const r = await sql<{ n: string; h: string | null }>`select count(*)::text as n,
        md5(string_agg((to_jsonb(t) - 'last_used_at')::text, '|' order by (to_jsonb(t) - 'last_used_at')::text)) as h
      from ${sql.table(name)} t`.execute(api.t.db);
    out[name] = `${r.rows[0]?.n ?? '?'}:${r.rows[0]?.h ?? ''}`;
  }
  return out;
}
