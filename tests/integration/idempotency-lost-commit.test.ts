import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/admin-api/api-keys.service.ts';
import { loadConfig } from '../../src/config/index.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { createContext, type AppContext } from '../../src/main/context.ts';
import { bearer, expectProblem } from '../helpers/api-app.ts';
import { commitCutProxy, type CommitCutProxy, type CutMode } from '../helpers/commit-cut-proxy.ts';
import { createTestDb, testQueuePrefix, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestCa, issueFromCsr, type TestCa } from '../factories/certificates.ts';
import { CSR_SUBJECT } from '../factories/onboarding.ts';
import { z } from 'zod';
import { OrganizationSchema, toOrganizationDto } from '../../src/admin-api/organizations.routes.ts';
import { defineRoute } from '../../src/http/routes.ts';
import { atomicWrite, type Database } from '../../src/storage/db.ts';
import { insertOrganization } from '../../src/storage/organizations.repo.ts';
import { generateCsr, installCertificate } from '../../src/credentials/index.ts';
import { createIntegration } from '../../src/onboarding/index.ts';
import { localDate } from '../../src/shared/time.ts';
import { NO_QUIRKS, signCsr, startSimulator, type RunningSimulator } from '../../src/simulator/index.ts';

/** A Monday-to-Tuesday range of past business days, another week for each `n`. */
function weekRange(n: number): { mode: 'range'; from: string; to: string } {
  const monday = Date.UTC(2025, 0, 6) + n * 7 * 86_400_000;
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return { mode: 'range', from: day(monday), to: day(monday + 86_400_000) };
}

/**
 * A write whose database session is lost at its COMMIT (a failover): the app talks to Postgres through a proxy that
 * cuts the connection either once the COMMIT went through (the answer never reaches the app) or instead of sending
 * the COMMIT (Postgres rolls back). Either way the request ends in a 503 `database_unavailable`, and the client's
 * retry with the same Idempotency-Key must leave the resource written exactly once: replaying the committed answer,
 * or running the write for the first time when nothing committed.
 */
interface WriteCase {
  name: string;
  /** The request (built once the case's fixtures exist); `n` differs between the tests of a case. */
  send: (
    n: number,
  ) => Promise<{ path: string; body: Record<string, unknown> }> | { path: string; body: Record<string, unknown> };
  /** A statement of the write's transaction (its SQL text as sent). */
  statement: RegExp;
  /** How many of the resource exist (absent for a route that changes a resource rather than adds one). */
  count?: () => Promise<number>;
}

/**
 * A route that creates an organization in an atomic write (the test's own), each call held before its write until
 * the test lets it go: `next()` resolves with the next call to arrive.
 */
function heldAtomicRoute() {
  const arrived: (() => void)[] = [];
  const waiting: ((go: () => void) => void)[] = [];
  const next = () =>
    new Promise<() => void>((resolve) => {
      const go = arrived.shift();
      if (go) {
        resolve(go);
      } else {
        waiting.push(resolve);
      }
    });
  const route = (db: Database) =>
    defineRoute({
      method: 'post',
      path: '/v1/test/held-organizations',
      permission: 'organizations:write',
      summary: 'test only',
      tags: ['Test'],
      request: { body: z.object({ name: z.string() }) },
      response: { status: 201, schema: OrganizationSchema, description: 'test' },
      handler: async ({ body, atomicAnswer }) => {
        await new Promise<void>((go) => {
          const waiter = waiting.shift();
          if (waiter) {
            waiter(go);
          } else {
            arrived.push(go);
          }
        });
        return atomicWrite(db, atomicAnswer, async (trx) =>
          toOrganizationDto(await insertOrganization(trx, { id: uuidv7(), name: body.name })),
        );
      },
    });
  return { route, next };
}

const held = heldAtomicRoute();

describe('Idempotency-Key when the database session is lost at COMMIT', () => {
  let t: TestDb;
  let proxy: CommitCutProxy;
  let ctx: AppContext;
  let app: Express;
  let admin: { Authorization: string };
  let tenancy: Tenancy;
  let sim: RunningSimulator;
  let pkiDir: string;
  /** An integration of its own with one account, for the sync triggers (a run per active account). */
  let syncTenancy: Tenancy;
  let accountId: string;
  let keys = 0;

  beforeAll(async () => {
    t = await createTestDb();
    proxy = await commitCutProxy(t.url);
    const { config, secrets } = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: proxy.url,
      REDIS_URL,
      QUEUE_PREFIX: testQueuePrefix(),
      // Review links travel by email only: without these they are refused (email_off). Nothing is sent here.
      SMTP_URL: 'smtp://127.0.0.1:1',
      SMTP_FROM: 'onboarding@jpm-sync.example',
      PUBLIC_BASE_URL: 'https://jpm-sync.example',
    });
    ctx = createContext(config, secrets);
    app = buildApiApp(ctx, { extraRoutes: [held.route(ctx.db)] });
    tenancy = await createTenancy(t.db);
    pkiDir = await mkdtemp(join(tmpdir(), 'idempotency-lost-commit-pki-'));
    sim = await startSimulator({
      pkiDir,
      today: localDate(new Date(), 'America/New_York'),
      seed: 'idempotency-lost-commit',
      accounts: [{ currency: 'USD' }],
      historyDays: 2,
      txPerDay: 1,
      quirks: NO_QUIRKS,
    });
    syncTenancy = await createTenancy(t.db);
    accountId = (await createAccount(t.db, syncTenancy)).id;
    admin = bearer(
      (await createApiKey(t.db, { name: 'admin', role: 'admin', organizationId: null, createdByKeyId: null })).token,
    );
  });
  afterAll(async () => {
    await sim.stop();
    await rm(pkiDir, { recursive: true, force: true });
    await ctx.close();
    await proxy.close();
    await t.drop();
  });

  const countOf = async (
    table:
      | 'organizations'
      | 'integrations'
      | 'bank_accounts'
      | 'integration_contacts'
      | 'security_admins'
      | 'key_pairs'
      | 'certificates'
      | 'sync_runs'
      | 'validation_reports'
      | 'notification_deliveries'
      | 'customer_reviews'
      | 'duplicate_suspicions'
      | 'api_keys'
      | 'webhook_deliveries',
    where = sql<boolean>`true`,
  ) =>
    Number(
      (
        await t.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where(where)
          .executeTakeFirstOrThrow()
      ).n,
    );
  /** A request made without an Idempotency-Key, to set up a case. */
  const setUp = async (path: string, body: Record<string, unknown>) => {
    const res = await request(app).post(path).set(admin).send(body);
    expect(res.status).toBeLessThan(300);
    return res.body as Record<string, unknown>;
  };
  /** A controller contact of the tenancy's integration, with a passed report for them to review. */
  const reviewer = async (n: number) => {
    const controller = await setUp(integrationPath('contacts'), {
      role: 'controller',
      name: `Reviewer ${n}`,
      email: `reviewer-${n}@example.com`,
    });
    await sql`insert into validation_reports (id, organization_id, integration_id, period_from, period_to,
        status, passed, report, requested_by, completed_at)
      values (${uuidv7()}, ${tenancy.organizationId}, ${tenancy.integrationId}, '2025-01-06', '2025-01-07',
        'completed', true, '{}', 'test', now())`.execute(t.db);
    return controller.id as string;
  };
  /** An integration of its own connected to the simulator (one account) with a certificate it issued. */
  const simIntegration = async () => {
    const integration = await createIntegration(t.db, {
      organizationId: tenancy.organizationId,
      name: 'Discovering',
      environment: 'simulator',
      baseUrl: sim.url,
      serverCaPem: sim.caCertPem,
      actor: 'ops@jpm-sync.example',
    });
    const kp = await generateCsr(t.db, ctx.secrets, {
      integrationId: integration.id,
      subject: CSR_SUBJECT,
      actor: 'ops@jpm-sync.example',
    });
    await installCertificate(t.db, {
      integrationId: integration.id,
      certificatePem: await signCsr(sim.pki, kp.csrPem),
      chainPem: sim.caCertPem,
      actor: 'ops@jpm-sync.example',
    });
    return integration.id;
  };
  let endpointId: string | undefined;
  /** A webhook endpoint of the tenancy's organization (nothing is delivered here: no worker runs). */
  const webhook = async () => {
    endpointId ??= (
      await setUp('/v1/webhooks', {
        organizationId: tenancy.organizationId,
        url: 'http://127.0.0.1:9/hook',
        eventTypes: ['*'],
      })
    ).id as string;
    return endpointId;
  };
  let ca: TestCa | undefined;
  /** A certificate issued for a new key pair of the tenancy's integration (its own Common Name). */
  const issuedCertificate = async (n: number) => {
    const keyPair = await setUp(integrationPath('key-pairs'), {
      subject: { ...CSR_SUBJECT, commonName: `acme-${n}-sim` },
    });
    ca ??= await createTestCa();
    return issueFromCsr(ca, keyPair.csrPem as string);
  };
  const integrationPath = (tail: string) => `/v1/integrations/${tenancy.integrationId}/${tail}`;

  const cases: WriteCase[] = [
    {
      name: 'POST /v1/organizations',
      send: (n) => ({ path: '/v1/organizations', body: { name: `Org ${n}` } }),
      statement: /insert into "organizations"/,
      count: () => countOf('organizations'),
    },
    {
      name: 'POST /v1/integrations',
      send: (n) => ({
        path: '/v1/integrations',
        body: { organizationId: tenancy.organizationId, name: `Integration ${n}`, baseUrl: 'https://127.0.0.1:1' },
      }),
      statement: /insert into "integrations"/,
      count: () => countOf('integrations'),
    },
    {
      name: 'POST /v1/integrations/{id}/accounts',
      send: (n) => ({
        path: integrationPath('accounts'),
        body: { jpmAccountId: `ACC-${n}`, bankId: '021000021', currency: 'USD', timeZone: 'America/New_York' },
      }),
      statement: /insert into "bank_accounts"/,
      count: () => countOf('bank_accounts'),
    },
    {
      name: 'POST /v1/integrations/{id}/contacts',
      send: (n) => ({
        path: integrationPath('contacts'),
        body: { role: 'controller', name: `Controller ${n}`, email: `controller-${n}@example.com` },
      }),
      statement: /insert into "?integration_contacts/,
      count: () => countOf('integration_contacts'),
    },
    {
      name: 'POST /v1/integrations/{id}/security-admins',
      send: (n) => ({
        path: integrationPath('security-admins'),
        body: { side: 'customer', name: `Admin ${n}`, email: `admin-${n}@example.com`, role: 'Treasury' },
      }),
      statement: /insert into "security_admins"/,
      count: () => countOf('security_admins'),
    },
    {
      name: 'POST /v1/integrations/{id}/key-pairs',
      send: (n) => ({
        path: integrationPath('key-pairs'),
        body: { subject: { ...CSR_SUBJECT, commonName: `key-${n}-sim` } },
      }),
      statement: /insert into "key_pairs"/,
      count: () => countOf('key_pairs'),
    },
    {
      name: 'POST /v1/integrations/{id}/certificates',
      send: async (n) => ({
        path: integrationPath('certificates'),
        body: { certificatePem: await issuedCertificate(n) },
      }),
      statement: /insert into "certificates"/,
      count: () => countOf('certificates'),
    },
    {
      name: 'POST /v1/integrations/{id}/certificates/{certificateId}/retire',
      send: async (n) => {
        const installed = await setUp(integrationPath('certificates'), { certificatePem: await issuedCertificate(n) });
        return { path: integrationPath(`certificates/${installed.id as string}/retire`), body: {} };
      },
      statement: /update "certificates"/,
      count: () => countOf('certificates', sql<boolean>`status = 'retired'`),
    },
    {
      name: 'POST /v1/accounts/{id}/sync-runs',
      send: (n) => ({ path: `/v1/accounts/${accountId}/sync-runs`, body: weekRange(n) }),
      statement: /insert into "sync_runs"/,
      count: () => countOf('sync_runs', sql<boolean>`parent_run_id is null`),
    },
    {
      name: 'POST /v1/accounts/{id}/syncs (old path)',
      send: (n) => ({ path: `/v1/accounts/${accountId}/syncs`, body: weekRange(n) }),
      statement: /insert into "sync_runs"/,
      count: () => countOf('sync_runs', sql<boolean>`parent_run_id is null`),
    },
    {
      name: 'POST /v1/integrations/{id}/sync-runs',
      send: (n) => ({ path: `/v1/integrations/${syncTenancy.integrationId}/sync-runs`, body: weekRange(n) }),
      statement: /insert into "sync_runs"/,
      count: () => countOf('sync_runs', sql<boolean>`parent_run_id is null`),
    },
    {
      name: 'POST /v1/integrations/{id}/validations',
      send: (n) => {
        const { from, to } = weekRange(n);
        return { path: integrationPath('validations'), body: { from, to } };
      },
      statement: /update "validation_reports"/,
      count: () => countOf('validation_reports', sql<boolean>`status = 'completed'`),
    },
    {
      name: 'POST /v1/integrations/{id}/review-links',
      send: async (n) => ({ path: integrationPath('review-links'), body: { contactId: await reviewer(n) } }),
      statement: /insert into "review_links"/,
      // Each run renews the link (ending the one emailed before) and queues its email.
      count: () => countOf('notification_deliveries', sql<boolean>`milestone = 'validation_report_ready'`),
    },
    {
      name: 'POST /v1/integrations/{id}/customer-reviews/{reviewId}/resolve',
      send: async (n) => {
        const contactId = await reviewer(n);
        await setUp(integrationPath('review-links'), { contactId });
        const link = await t.db
          .selectFrom('review_links')
          .select(['id', 'report_id'])
          .where('contact_id', '=', contactId)
          .executeTakeFirstOrThrow();
        const reviewId = uuidv7();
        await sql`insert into customer_reviews (id, organization_id, integration_id, link_id, report_id, contact_id,
            reviewer_name, reviewer_email, verdict, follow_up_status)
          values (${reviewId}, ${tenancy.organizationId}, ${tenancy.integrationId}, ${link.id}, ${link.report_id},
            ${contactId}, 'Reviewer', 'reviewer@example.com', 'problem', 'open')`.execute(t.db);
        return { path: integrationPath(`customer-reviews/${reviewId}/resolve`), body: {} };
      },
      statement: /update "customer_reviews"/,
      count: () => countOf('customer_reviews', sql<boolean>`follow_up_status = 'resolved'`),
    },
    {
      name: 'POST /v1/duplicate-suspicions/{id}/review',
      send: async (n) => {
        const id = uuidv7();
        await sql`insert into duplicate_suspicions (id, organization_id, account_id, booking_date, fingerprint,
            direction, amount_minor, currency, decimal_location, transaction_ids, live_count, bank_count, evidence,
            first_detected_at, last_detected_at)
          values (${id}, ${syncTenancy.organizationId}, ${accountId}, '2025-01-06', ${`fingerprint-${n}`}, 'debit',
            100, 'USD', 2, '{}', 2, 1, '{}', now(), now())`.execute(t.db);
        return { path: `/v1/duplicate-suspicions/${id}/review`, body: { status: 'not_duplicate', note: `note ${n}` } };
      },
      statement: /update "duplicate_suspicions"/,
      count: () => countOf('duplicate_suspicions', sql<boolean>`status = 'not_duplicate'`),
    },
    {
      name: 'POST /v1/api-keys/{id}/revoke',
      send: async (n) => {
        const { row } = await createApiKey(t.db, {
          name: `revoked ${n}`,
          role: 'viewer',
          organizationId: null,
          createdByKeyId: null,
        });
        return { path: `/v1/api-keys/${row.id}/revoke`, body: {} };
      },
      statement: /update "api_keys" set "revoked_at"/,
      count: () => countOf('api_keys', sql<boolean>`revoked_at is not null`),
    },
    {
      name: 'POST /v1/accounts/{id}/pause',
      send: async (n) => {
        const { id } = await createAccount(t.db, tenancy, { jpmAccountId: `PAUSE-${n}` });
        return { path: `/v1/accounts/${id}/pause`, body: { reason: `reason ${n}` } };
      },
      statement: /update "bank_accounts"/,
      count: () => countOf('bank_accounts', sql<boolean>`status = 'paused'`),
    },
    {
      name: 'POST /v1/accounts/{id}/resume',
      send: async (n) => {
        const { id } = await createAccount(t.db, tenancy, { jpmAccountId: `RESUME-${n}` });
        await sql`update bank_accounts set status = 'paused', status_reason = 'test' where id = ${id}`.execute(t.db);
        return { path: `/v1/accounts/${id}/resume`, body: {} };
      },
      statement: /update "bank_accounts"/,
      count: () => countOf('bank_accounts', sql<boolean>`status = 'active'`),
    },
    {
      name: 'POST /v1/integrations/{id}/stage',
      send: async () => {
        const { integrationId } = await createTenancy(t.db);
        return { path: `/v1/integrations/${integrationId}/stage`, body: { to: 'paused' } };
      },
      statement: /update "integrations"/,
      count: () => countOf('integrations', sql<boolean>`stage = 'paused'`),
    },
    {
      name: 'POST /v1/integrations/{id}/transitions (old path)',
      send: async () => {
        const { integrationId } = await createTenancy(t.db);
        return { path: `/v1/integrations/${integrationId}/transitions`, body: { to: 'paused' } };
      },
      statement: /update "integrations"/,
      count: () => countOf('integrations', sql<boolean>`stage = 'paused'`),
    },
    {
      name: 'POST /v1/webhooks/{id}/ping',
      send: async () => ({ path: `/v1/webhooks/${await webhook()}/ping`, body: {} }),
      statement: /insert into "?webhook_deliveries/,
      count: () => countOf('webhook_deliveries'),
    },
    {
      name: 'POST /v1/webhooks/{id}/deliveries/{deliveryId}/replay',
      send: async () => {
        const endpointId = await webhook();
        const ping = await setUp(`/v1/webhooks/${endpointId}/ping`, {});
        return { path: `/v1/webhooks/${endpointId}/deliveries/${ping.id as string}/replay`, body: {} };
      },
      statement: /insert into "?webhook_deliveries/,
      count: () => countOf('webhook_deliveries'),
    },
    {
      name: 'POST /v1/sync-runs/{id}/cancel',
      send: async (n) => {
        const run = await setUp(`/v1/accounts/${accountId}/sync-runs`, weekRange(n));
        return { path: `/v1/sync-runs/${run.id as string}/cancel`, body: {} };
      },
      statement: /update "?sync_runs"? set status = 'cancelled'/,
      count: () => countOf('sync_runs', sql<boolean>`parent_run_id is null and status = 'cancelled'`),
    },
    {
      name: 'POST /v1/integrations/{id}/accounts/discover',
      send: async () => ({ path: `/v1/integrations/${await simIntegration()}/accounts/discover`, body: {} }),
      statement: /insert into "bank_accounts"/,
      // The simulator reports one account: registered once.
      count: () => countOf('bank_accounts'),
    },
    {
      name: 'POST /v1/integrations/{id}/eligibility',
      send: (n) => ({ path: integrationPath('eligibility'), body: { jpmRepresentative: `Rep ${n}` } }),
      statement: /update "integrations"/,
    },
    {
      name: 'POST /v1/integrations/{id}/jpm-project',
      send: (n) => ({ path: integrationPath('jpm-project'), body: { projectId: `project-${n}` } }),
      statement: /update "integrations"/,
    },
    {
      name: 'POST /v1/integrations/{id}/api-access',
      send: (n) => ({ path: integrationPath('api-access'), body: { status: 'requested', products: [`product-${n}`] } }),
      statement: /update "integrations"/,
    },
  ];

  /** Sends the request with `key` while the proxy cuts its session at the COMMIT as `mode` says. */
  async function lostAtCommit(
    c: WriteCase,
    { path, body }: { path: string; body: Record<string, unknown> },
    key: string,
    mode: CutMode,
  ) {
    let cut = false;
    void proxy.cutAfter(c.statement, mode).then(() => (cut = true));
    const first = await request(app).post(path).set(admin).set('Idempotency-Key', key).send(body);
    // The answer comes from the cut session, so the cut happened first (else the request never sent the statement).
    expect({ cut, status: first.status, body: first.body as unknown }).toMatchObject({ cut: true });
    expectProblem(first, 503, 'database_unavailable');
    const retry = () => request(app).post(path).set(admin).set('Idempotency-Key', key).send(body);
    return { retry };
  }

  it('a request whose claim a retry took over rolls its write back (409) instead of writing beside the retry', async () => {
    const named = async () =>
      (
        await t.db
          .selectFrom('organizations')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('name', '=', 'Held Org')
          .executeTakeFirstOrThrow()
      ).n;
    const send = () =>
      request(app)
        .post('/v1/test/held-organizations')
        .set(admin)
        .set('Idempotency-Key', 'held-1')
        .send({ name: 'Held Org' })
        .then((r) => r);
    const first = send();
    const letFirstGo = await held.next();
    // The first request's process stalls past the takeover window: a retry takes its claim over and writes.
    await sql`update idempotency_keys set locked_at = now() - interval '1 hour' where key = 'held-1'`.execute(t.db);
    const second = send();
    (await held.next())();
    expect((await second).status).toBe(201);
    letFirstGo();
    expectProblem(await first, 409, 'idempotency_request_in_progress');
    expect(await named()).toBe('1');
    const replay = await send();
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual((await second).body);
  });

  // One describe per route, titled in full (describe.each would cut a long route name short).
  for (const c of cases) {
    describe(c.name, () => {
      const count = c.count ?? (() => Promise.resolve(0));
      const added = c.count ? 1 : 0;
      it('the write committed, its answer was lost: the retry replays the committed answer, one resource', async () => {
        const sent = await c.send(++keys);
        const before = await count();
        const { retry } = await lostAtCommit(c, sent, `committed-${keys}`, 'committed');
        expect(await count()).toBe(before + added);
        const second = await retry();
        expect(second.status).toBeLessThan(300);
        expect(second.headers['idempotent-replayed']).toBe('true');
        expect(await count()).toBe(before + added);
        const third = await retry();
        expect(third.headers['idempotent-replayed']).toBe('true');
        expect(third.body).toEqual(second.body);
      });

      it('the COMMIT never arrived: the retry waits for the claim to lapse, then writes once and replays after', async () => {
        const sent = await c.send(++keys);
        const before = await count();
        const key = `rolled-back-${keys}`;
        const { retry } = await lostAtCommit(c, sent, key, 'before-commit');
        expect(await count()).toBe(before);
        // Whether the write committed was unknown to the first request: its claim is kept, not released to a re-run.
        expectProblem(await retry(), 409, 'idempotency_request_in_progress');
        expect(await count()).toBe(before);
        // The takeover window passes (the claim has not been renewed since).
        await sql`update idempotency_keys set locked_at = now() - interval '1 hour' where key = ${key}`.execute(t.db);
        const second = await retry();
        expect(second.status).toBeLessThan(300);
        expect(second.headers['idempotent-replayed']).toBeUndefined();
        expect(await count()).toBe(before + added);
        const third = await retry();
        expect(third.headers['idempotent-replayed']).toBe('true');
        expect(third.body).toEqual(second.body);
        expect(await count()).toBe(before + added);
      });
    });
  }
});
