import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { z } from 'zod';
import { AccountSchema } from '../../src/admin-api/accounts.dto.ts';
import { MilestoneEventSchema } from '../../src/admin-api/events.dto.ts';
import {
  CertificateSchema,
  ConnectionTestSchema,
  KeyPairSchema,
} from '../../src/admin-api/integration-credentials.dto.ts';
import { IntegrationSchema, SecurityAdminSchema, TransitionSchema } from '../../src/admin-api/integrations.dto.ts';
import { OrganizationSchema } from '../../src/admin-api/organizations.routes.ts';
import { pageSchema } from '../../src/http/pagination.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { localDate } from '../../src/shared/time.ts';
import { NO_QUIRKS, signCsr, startSimulator, type RunningSimulator } from '../../src/simulator/index.ts';
import { CSR_SUBJECT } from '../factories/onboarding.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { feedSettled } from '../helpers/db.ts';

const IntegrationPage = pageSchema(IntegrationSchema);
const TransitionPage = pageSchema(TransitionSchema);
const EventPage = pageSchema(MilestoneEventSchema);
const TransitionResult = z.object({ integration: IntegrationSchema, transition: TransitionSchema, kind: z.string() });
const Discovered = z.object({ added: z.number(), accounts: z.array(AccountSchema) });

type Auth = { Authorization: string };

describe('admin API: integrations and onboarding over HTTP', () => {
  let api: TestApi;
  let admin: Auth;
  let sim: RunningSimulator;
  let pkiDir: string;
  let orgId: string;
  let otherOrgId: string;

  beforeAll(async () => {
    api = await createTestApi();
    admin = bearer(api.adminKey);
    pkiDir = await mkdtemp(join(tmpdir(), 'admin-integrations-pki-'));
    sim = await startSimulator({
      pkiDir,
      today: localDate(new Date(), 'America/New_York'),
      seed: 'admin-integrations',
      accounts: 3,
      historyDays: 5,
      txPerDay: 4,
      quirks: NO_QUIRKS,
    });
    orgId = bodyOf(
      OrganizationSchema,
      await request(api.app).post('/v1/organizations').set(admin).send({ name: 'Acme Treasury' }),
    ).id;
    otherOrgId = bodyOf(
      OrganizationSchema,
      await request(api.app).post('/v1/organizations').set(admin).send({ name: 'Other Corp' }),
    ).id;
  });
  afterAll(async () => {
    await api.close();
    await sim.stop();
    await rm(pkiDir, { recursive: true, force: true });
  });

  const create = async (auth: Auth, body: Record<string, unknown>) => {
    const res = await request(api.app)
      .post('/v1/integrations')
      .set(auth)
      .send({ baseUrl: sim.url, serverCaPem: sim.caCertPem, ...body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return bodyOf(IntegrationSchema, res);
  };
  const post = (path: string, body: object = {}, auth: Auth = admin) =>
    request(api.app).post(path).set(auth).send(body);
  const move = async (id: string, to: string, note?: string) => {
    const res = await post(`/v1/integrations/${id}/transitions`, { to, ...(note ? { note } : {}) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return bodyOf(TransitionResult, res);
  };
  const refused = async (id: string, to: string, guard: string) => {
    const problem = expectProblem(await post(`/v1/integrations/${id}/transitions`, { to }), 409, 'transition_refused');
    expect(problem.detail).toContain(`guard ${guard} failed`);
    return problem;
  };

  it('walks an integration from requested to validating over HTTP, each guard refusing until its facts are recorded', async () => {
    const created = await create(admin, {
      organizationId: orgId,
      name: 'Acme J.P. Morgan',
      expectations: { stageDays: { awaiting_approval: 21 } },
    });
    const id = created.id;
    expect(created).toMatchObject({
      stage: 'requested',
      environment: 'simulator',
      baseUrl: sim.url,
      organizationId: orgId,
      overdue: [],
      intradayRunsPerDay: 4,
    });
    expect(created.expectations.stageDays.awaiting_approval).toBe(21);

    // 1. eligibility
    await refused(id, 'kickoff', 'eligibility_complete');
    const partly = bodyOf(
      IntegrationSchema,
      await post(`/v1/integrations/${id}/eligibility`, { jpmAccessAccount: true, notChaseConnect: true }),
    );
    expect(partly.eligibility).toEqual({
      jpmAccessAccount: true,
      notChaseConnect: true,
      jpmRepresentative: null,
      signingAuthority: null,
    });
    expect((await refused(id, 'kickoff', 'eligibility_complete')).detail).toContain('J.P. Morgan representative named');
    await post(`/v1/integrations/${id}/eligibility`, {
      jpmRepresentative: 'Jordan Rep',
      signingAuthority: 'Sam Signer (CFO)',
    });
    expect((await move(id, 'kickoff', '1. eligible')).integration.stage).toBe('kickoff');

    // 2. kickoff → technical setup
    await refused(id, 'technical_setup', 'jpm_project_recorded');
    expect(
      bodyOf(IntegrationSchema, await post(`/v1/integrations/${id}/jpm-project`, { projectId: 'dev-portal-42' }))
        .jpmProjectId,
    ).toBe('dev-portal-42');
    await move(id, 'technical_setup');

    // 3. CSR and API access
    const refusedSetup = await refused(id, 'security_admins', 'csr_generated');
    expect(refusedSetup.detail).toContain('guard api_access_requested failed');
    const csrRes = await post(`/v1/integrations/${id}/csrs`, { subject: CSR_SUBJECT, algorithm: 'EC-P256' });
    expect(csrRes.status).toBe(201);
    const keyPair = bodyOf(KeyPairSchema, csrRes);
    expect(keyPair).toMatchObject({
      integrationId: id,
      environment: 'simulator',
      algorithm: 'EC-P256',
      commonName: 'acme-j-p-morgan-sim',
    });
    expect(keyPair.csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    expect(csrRes.text).not.toMatch(/PRIVATE KEY/);
    const download = bodyOf(
      KeyPairSchema,
      await request(api.app).get(`/v1/integrations/${id}/csrs/${keyPair.id}`).set(admin),
    );
    expect(download.csrPem).toBe(keyPair.csrPem);
    expectProblem(await request(api.app).get(`/v1/integrations/${id}/csrs/${uuidv7()}`).set(admin), 404, 'not_found');
    const requested = bodyOf(
      IntegrationSchema,
      await post(`/v1/integrations/${id}/api-access`, { status: 'requested' }),
    );
    expect(requested.apiAccess.products).toEqual(['balances', 'transactions']);
    await move(id, 'security_admins');

    // 4. security administrators
    await refused(id, 'awaiting_approval', 'security_admins_recorded');
    const customer = await post(`/v1/integrations/${id}/security-admins`, {
      side: 'customer',
      name: 'Casey Controller',
      email: 'casey@acme.example',
      role: 'Security administrator',
    });
    expect(customer.status).toBe(201);
    await post(`/v1/integrations/${id}/security-admins`, {
      side: 'ours',
      name: 'Riley Reconciler',
      email: 'riley@jpm-sync.example',
      role: 'Security administrator',
    });
    const admins = bodyOf(
      pageSchema(SecurityAdminSchema),
      await request(api.app).get(`/v1/integrations/${id}/security-admins`).set(admin),
    );
    // Stored and answered as `provider`; `ours`, its former name, is still accepted for one release.
    expect(admins.data.map((a) => a.side).sort()).toEqual(['customer', 'provider']);
    await move(id, 'awaiting_approval');

    // 5. J.P. Morgan approves: its CA signs our CSR; we install the certificate and test the connection.
    await refused(id, 'approved', 'active_certificate');
    const certRes = await post(`/v1/integrations/${id}/certificates`, {
      certificatePem: await signCsr(sim.pki, keyPair.csrPem),
      chainPem: sim.caCertPem,
    });
    expect(certRes.status, JSON.stringify(certRes.body)).toBe(201);
    const cert = bodyOf(CertificateSchema, certRes);
    expect(cert).toMatchObject({ keyPairId: keyPair.id, status: 'active', subjectCn: 'acme-j-p-morgan-sim' });
    expect(cert.daysToExpiry).toBeGreaterThan(300);
    const report = bodyOf(ConnectionTestSchema, await post(`/v1/integrations/${id}/test-connection`));
    expect(report).toMatchObject({ ok: true, failure: null, credentialId: cert.id, entitledAccounts: 3 });
    expect(report.steps.map((s) => [s.step, s.ok])).toEqual([
      ['credential', true],
      ['tls', true],
      ['balances', true],
    ]);
    expect((await refused(id, 'approved', 'api_access_confirmed')).detail).not.toContain('active_certificate');
    await post(`/v1/integrations/${id}/api-access`, { status: 'confirmed' });
    await move(id, 'approved', '5. approved');

    // 6. accounts from J.P. Morgan, then validation
    await refused(id, 'validating', 'accounts_configured');
    const discovered = bodyOf(
      Discovered,
      await post(`/v1/integrations/${id}/accounts/discover`, { timeZone: 'America/Chicago' }),
    );
    expect(discovered.added).toBe(3);
    expect(discovered.accounts.map((a) => a.jpmAccountMasked).sort()).toEqual(
      sim.accounts.map((a) => `****${a.accountId.slice(-4)}`).sort(),
    );
    expect(
      discovered.accounts.every(
        (a) => a.timeZone === 'America/Chicago' && a.status === 'active' && a.integrationId === id,
      ),
    ).toBe(true);
    expect(bodyOf(Discovered, await post(`/v1/integrations/${id}/accounts/discover`)).added).toBe(0);
    await move(id, 'validating', '6. data flowing');
    const live = await refused(id, 'live', 'validation_passed');
    expect(live.detail).toMatch(/validation report/);

    // History, milestones and the org-wide event feed tell the same story.
    const history = bodyOf(TransitionPage, await request(api.app).get(`/v1/integrations/${id}/transitions`).set(admin));
    expect(history.data.map((h) => [h.from, h.to])).toEqual([
      [null, 'requested'],
      ['requested', 'kickoff'],
      ['kickoff', 'technical_setup'],
      ['technical_setup', 'security_admins'],
      ['security_admins', 'awaiting_approval'],
      ['awaiting_approval', 'approved'],
      ['approved', 'validating'],
    ]);
    expect(history.data[1]).toMatchObject({
      note: '1. eligible',
      actor: expect.stringContaining(api.adminKey.split('_')[1] ?? '') as string,
    });
    await feedSettled(api.t.db);
    const events = bodyOf(
      EventPage,
      await request(api.app).get(`/v1/integrations/${id}/events?limit=500`).set(admin),
    ).data;
    const types = events.map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['integration.created', 'credentials.csr_generated', 'certificate.installed']),
    );
    expect(events.every((e) => e.integrationId === id && e.organizationId === orgId)).toBe(true);
    expect(JSON.stringify(events)).not.toMatch(/PRIVATE KEY/);
  });

  it('pages through history and events without gaps or repeats', async () => {
    const { id } = await create(admin, { organizationId: orgId, name: 'Paged' });
    for (const to of ['paused', 'requested', 'paused', 'requested']) {
      await move(id, to);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: Record<string, string | number> = cursor === null ? { limit: 2 } : { limit: 2, cursor };
      const res: request.Response = await request(api.app)
        .get(`/v1/integrations/${id}/transitions`)
        .query(q)
        .set(admin);
      const page: z.output<typeof TransitionPage> = bodyOf(TransitionPage, res);
      seen.push(...page.data.map((t) => t.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    expect(seen.map(BigInt)).toEqual([...seen.map(BigInt)].sort((a, b) => (a < b ? -1 : 1)));

    await feedSettled(api.t.db);
    const all = bodyOf(EventPage, await request(api.app).get('/v1/events?limit=500').set(admin)).data;
    const firstTwo = bodyOf(EventPage, await request(api.app).get('/v1/events?limit=2').set(admin));
    const next = bodyOf(
      EventPage,
      await request(api.app)
        .get('/v1/events')
        .query({ limit: 2, cursor: firstTwo.nextCursor ?? '' })
        .set(admin),
    );
    expect([...firstTwo.data, ...next.data].map((e) => e.id)).toEqual(all.slice(0, 4).map((e) => e.id));
    expectProblem(await request(api.app).get('/v1/events?cursor=bm9wZQ').set(admin), 400, 'invalid_cursor');
  });

  it('lists with stage and overdue filters and keyset pages', async () => {
    const late = await create(admin, { organizationId: orgId, name: 'Late one' });
    await api.t.db
      .updateTable('integrations')
      .set({ stage_due_at: new Date(Date.now() - 3 * 86_400_000) })
      .where('id', '=', late.id)
      .execute();
    const overdue = bodyOf(
      IntegrationPage,
      await request(api.app).get('/v1/integrations?overdue=true').set(admin),
    ).data;
    expect(overdue.map((i) => i.id)).toEqual([late.id]);
    expect(overdue[0]?.overdue).toEqual(['stage']);
    const validating = bodyOf(
      IntegrationPage,
      await request(api.app).get('/v1/integrations?stage=validating').set(admin),
    ).data;
    expect(validating.length).toBe(1);
    expect(validating.every((i) => i.stage === 'validating')).toBe(true);
    const everything = bodyOf(
      IntegrationPage,
      await request(api.app).get('/v1/integrations?limit=500').set(admin),
    ).data;
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const q: Record<string, string | number> = cursor === null ? { limit: 1 } : { limit: 1, cursor };
      const res: request.Response = await request(api.app).get('/v1/integrations').query(q).set(admin);
      const page: z.output<typeof IntegrationPage> = bodyOf(IntegrationPage, res);
      paged.push(...page.data.map((i) => i.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(paged).toEqual(everything.map((i) => i.id));
    expectProblem(await request(api.app).get('/v1/integrations?stage=orbit').set(admin), 400, 'validation_failed');
    expectProblem(await request(api.app).get('/v1/integrations?limit=501').set(admin), 400, 'validation_failed');
  });

  it('updates settings: name, intraday runs, expectations and environment (checked before anything changes)', async () => {
    const { id } = await create(admin, { organizationId: orgId, name: 'Settings' });
    const patch = (body: object) => request(api.app).patch(`/v1/integrations/${id}`).set(admin).send(body);
    const renamed = bodyOf(
      IntegrationSchema,
      await patch({
        name: 'Settings (renamed)',
        intradayRunsPerDay: 6,
        expectations: { processDays: 60, stageDays: { kickoff: 3 } },
      }),
    );
    expect(renamed).toMatchObject({
      name: 'Settings (renamed)',
      intradayRunsPerDay: 6,
      expectationsOverride: { processDays: 60, stageDays: { kickoff: 3 } },
    });
    expect(new Date(renamed.processDueAt ?? 0).getTime() - new Date(renamed.createdAt).getTime()).toBe(60 * 86_400_000);

    const invalid = expectProblem(
      await patch({ name: 'Never applied', environment: 'simulator', baseUrl: 'http://insecure.example' }),
      400,
      'validation_failed',
    );
    expect(invalid.errors).toEqual([{ path: 'body.baseUrl', message: 'must be https' }]);
    expect(bodyOf(IntegrationSchema, await request(api.app).get(`/v1/integrations/${id}`).set(admin)).name).toBe(
      'Settings (renamed)',
    );

    const cat = bodyOf(IntegrationSchema, await patch({ environment: 'cat' }));
    expect(cat).toMatchObject({ environment: 'cat', baseUrl: 'https://apigatewaycat.jpmorgan.com', serverCaPem: null });
    const cleared = bodyOf(IntegrationSchema, await patch({ expectations: null }));
    expect(cleared.expectationsOverride).toBeNull();

    expectProblem(await patch({}), 400, 'validation_failed');
    expectProblem(await patch({ intradayRunsPerDay: 11 }), 400, 'validation_failed');
    expectProblem(await patch({ expectations: { stageDays: { orbit: 3 } } }), 400, 'validation_failed');
    expectProblem(await patch({ stage: 'live' }), 400, 'validation_failed');
    expectProblem(
      await request(api.app).patch(`/v1/integrations/${uuidv7()}`).set(admin).send({ name: 'x' }),
      404,
      'not_found',
    );
  });

  it('applies a PATCH all or nothing: a part that fails in the database leaves every other part unapplied', async () => {
    const { id } = await create(admin, { organizationId: orgId, name: 'All or nothing' });
    const patch = (body: object) => request(api.app).patch(`/v1/integrations/${id}`).set(admin).send(body);
    const before = bodyOf(IntegrationSchema, await request(api.app).get(`/v1/integrations/${id}`).set(admin));
    // The last part the service writes (API access) fails inside Postgres, for this integration only.
    await sql`create function test_refuse_api_access() returns trigger language plpgsql as $$
      begin raise exception 'test: api access refused'; end $$`.execute(api.t.db);
    await sql`create trigger test_refuse_api_access before update on integrations for each row
      when (new.id = ${sql.lit(id)}::uuid and new.api_access_requested_at is not null)
      execute function test_refuse_api_access()`.execute(api.t.db);
    // Every part a PATCH takes; API access is written last.
    const everyPart = {
      name: 'Whole',
      intradayRunsPerDay: 5,
      environment: 'cat',
      expectations: { processDays: 40 },
      eligibility: { jpmAccessAccount: true },
      jpmProjectId: 'proj-whole',
      apiAccess: { status: 'requested' },
    };
    try {
      const res = await patch(everyPart);
      expect(res.status).toBe(500);
      expect(res.text).not.toMatch(/api access refused|\bat .*\.ts:\d+/);
      const after = bodyOf(IntegrationSchema, await request(api.app).get(`/v1/integrations/${id}`).set(admin));
      expect(after).toEqual(before);
      expect(before.name).not.toBe(everyPart.name);
    } finally {
      await sql`drop trigger test_refuse_api_access on integrations`.execute(api.t.db);
      await sql`drop function test_refuse_api_access()`.execute(api.t.db);
    }
    // Without the fault, the same PATCH applies every part.
    const applied = bodyOf(IntegrationSchema, await patch(everyPart));
    const { expectations, apiAccess: _requested, ...asGiven } = everyPart;
    expect(applied).toMatchObject({ ...asGiven, expectationsOverride: expectations });
    expect(applied.apiAccess.requestedAt).not.toBeNull();
  });

  it('a pause retried after it committed (409: already there) and a PATCH of intradayRunsPerDay ask for the schedule reconcile again', async () => {
    const { id } = await create(admin, { organizationId: orgId, name: 'Retried pause' });
    const move = (to: string) => request(api.app).post(`/v1/integrations/${id}/stage`).set(admin).send({ to });
    const maintenance = api.ctx.queues.queue('maintenance');
    const reconciles = async () =>
      (await maintenance.getJobs(['waiting', 'delayed', 'prioritized'])).filter(
        (j) => j.name === 'reconcile-schedules' && (j.data as { integrationId?: string }).integrationId === id,
      ).length;
    expect((await move('paused')).status).toBe(200);
    // As if that reconcile had been lost (Redis away after the commit: the caller saw a 500 and retries).
    await maintenance.drain(true);
    expect(await reconciles()).toBe(0);
    expectProblem(await move('paused'), 409, 'transition_refused');
    expect(await reconciles()).toBe(1);
    // A move refused for another reason asks for nothing.
    await maintenance.drain(true);
    expectProblem(await move('live'), 409, 'transition_refused');
    expect(await reconciles()).toBe(0);
    // A PATCH of intradayRunsPerDay asks for it even when the value is the stored one (its retry after a lost one).
    const patched = await request(api.app).patch(`/v1/integrations/${id}`).set(admin).send({ intradayRunsPerDay: 4 });
    expect(bodyOf(IntegrationSchema, patched).intradayRunsPerDay).toBe(4);
    expect(await reconciles()).toBe(1);
  });

  it('accepts the onboarding facts through PATCH too, and points security administrators to their own route', async () => {
    const { id } = await create(admin, { organizationId: orgId, name: 'Facts by PATCH' });
    const patch = (body: object) => request(api.app).patch(`/v1/integrations/${id}`).set(admin).send(body);
    const facts = bodyOf(
      IntegrationSchema,
      await patch({
        eligibility: {
          jpmAccessAccount: true,
          notChaseConnect: true,
          jpmRepresentative: 'Jordan Rep',
          signingAuthority: 'Sam Signer (CFO)',
        },
        jpmProjectId: 'dev-portal-7',
        apiAccess: { status: 'requested' },
      }),
    );
    expect(facts).toMatchObject({
      eligibility: {
        jpmAccessAccount: true,
        notChaseConnect: true,
        jpmRepresentative: 'Jordan Rep',
        signingAuthority: 'Sam Signer (CFO)',
      },
      jpmProjectId: 'dev-portal-7',
      apiAccess: { requestedAt: expect.any(String) as string, confirmedAt: null },
    });
    // The same facts as the POST routes record: the guards now let the integration through. A stage
    // move answers the integration (the resource it changed); the move itself is in the history.
    const moved = await post(`/v1/integrations/${id}/stage`, { to: 'kickoff', note: 'eligible (facts by PATCH)' });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(bodyOf(IntegrationSchema, moved)).toMatchObject({ id, stage: 'kickoff' });
    const history = (await request(api.app).get(`/v1/integrations/${id}/transitions`).set(admin)).body as {
      data: { to: string; note: string | null }[];
    };
    expect(history.data.at(-1)).toMatchObject({ to: 'kickoff', note: 'eligible (facts by PATCH)' });
    expectProblem(await post(`/v1/integrations/${id}/stage`, { to: 'live' }), 409, 'transition_refused');
    // Merged like POST …/eligibility: a later PATCH changes only what it names.
    expect(
      bodyOf(IntegrationSchema, await patch({ eligibility: { jpmRepresentative: 'Robin Rep' } })).eligibility,
    ).toEqual({
      jpmAccessAccount: true,
      notChaseConnect: true,
      jpmRepresentative: 'Robin Rep',
      signingAuthority: 'Sam Signer (CFO)',
    });
    expectProblem(await patch({ eligibility: { jpmAccessAccount: 'yes' } }), 400, 'validation_failed');
    expectProblem(await patch({ eligibility: { chaseConnect: false } }), 400, 'validation_failed');
    expectProblem(await patch({ apiAccess: { status: 'granted' } }), 400, 'validation_failed');
    const admins = expectProblem(
      await patch({ securityAdmins: [{ side: 'customer', name: 'Casey', email: 'c@x.example', role: 'r' }] }),
      400,
      'validation_failed',
    );
    expect(admins.detail).toContain(`POST /v1/integrations/${id}/security-admins`);
    expect(admins.errors).toEqual([
      { path: 'body.securityAdmins', message: `use POST /v1/integrations/${id}/security-admins` },
    ]);
  });

  it('documents the renamed routes: new paths in the OpenAPI document, the old ones as deprecated aliases', async () => {
    const doc = (await request(api.app).get('/openapi.json')).body as {
      paths: Record<string, Record<string, { deprecated?: boolean; description?: string }>>;
    };
    for (const [now, old] of [
      ['/v1/integrations/{id}/stage', '/v1/integrations/{id}/transitions'],
      ['/v1/integrations/{id}/key-pairs', '/v1/integrations/{id}/csrs'],
      ['/v1/accounts/{id}/sync-runs', '/v1/accounts/{id}/syncs'],
      ['/v1/integrations/{id}/sync-runs', '/v1/integrations/{id}/syncs'],
    ] as const) {
      expect(doc.paths[now]!.post!.deprecated, now).toBeUndefined();
      expect(doc.paths[old]!.post!.deprecated, old).toBe(true);
      expect(doc.paths[old]!.post!.description, old).toContain(`use \`POST ${now}\``);
    }
    expect(doc.paths['/v1/integrations/{id}/csrs/{keyPairId}']!.get!.deprecated).toBe(true);
    // GET of the history keeps its name: only the POST moved.
    expect(doc.paths['/v1/integrations/{id}/transitions']!.get!.deprecated).toBeUndefined();
  });

  it('refuses transitions that do not exist, validates bodies, and names the allowed stages', async () => {
    const { id } = await create(admin, { organizationId: orgId, name: 'Refusals' });
    const jump = expectProblem(
      await post(`/v1/integrations/${id}/transitions`, { to: 'live' }),
      409,
      'transition_refused',
    );
    expect(jump.detail).toContain('from requested it may go to kickoff, paused, cancelled');
    expectProblem(await post(`/v1/integrations/${id}/transitions`, { to: 'orbit' }), 400, 'validation_failed');
    expectProblem(
      await post('/v1/integrations', { organizationId: orgId, name: 'Bad env', environment: 'mars' }),
      400,
      'validation_failed',
    );
    const noBase = expectProblem(
      await post('/v1/integrations', { organizationId: orgId, name: 'No base URL' }),
      400,
      'validation_failed',
    );
    expect(noBase.errors).toEqual([{ path: 'body.baseUrl', message: 'required for simulator' }]);
    const noOrg = expectProblem(
      await post('/v1/integrations', { name: 'Whose?', baseUrl: sim.url }),
      400,
      'validation_failed',
    );
    expect(noOrg.errors).toEqual([{ path: 'body.organizationId', message: 'required' }]);
    expectProblem(
      await post('/v1/integrations', { organizationId: uuidv7(), name: 'Ghost org', baseUrl: sim.url }),
      404,
      'not_found',
    );
    const badCsr = expectProblem(
      await post(`/v1/integrations/${id}/csrs`, { subject: { ...CSR_SUBJECT, country: 'usa' } }),
      400,
      'validation_failed',
    );
    expect(badCsr.errors).toEqual([{ path: 'body.subject.country', message: expect.any(String) as string }]);
    expectProblem(
      await post(`/v1/integrations/${id}/csrs`, { subject: { ...CSR_SUBJECT, colour: 'red' } }),
      400,
      'validation_failed',
    );
    // Text a certificate cannot carry (a lone surrogate would not encode: it was a 500) is the client's to fix: half a
    // character is refused with any request body, a control character by the subject's own rule.
    for (const [field, value, path, message] of [
      ['organization', '\ud800', 'body.subject.organization', /lone UTF-16 surrogate/],
      ['locality', 'New\udfffYork', 'body.subject.locality', /lone UTF-16 surrogate/],
      ['state', 'N\u0007Y', 'body.subject.state', /printable/],
    ] as const) {
      const bad = expectProblem(
        await post(`/v1/integrations/${id}/key-pairs`, { subject: { ...CSR_SUBJECT, [field]: value } }),
        400,
        'validation_failed',
      );
      expect(bad.errors).toEqual([{ path, message: expect.stringMatching(message) as string }]);
    }
    expectProblem(
      await post(`/v1/integrations/${id}/security-admins`, {
        side: 'theirs',
        name: 'x',
        email: 'not-an-email',
        role: 'r',
      }),
      400,
      'validation_failed',
    );
    expectProblem(
      await post(`/v1/integrations/${id}/eligibility`, { jpmAccessAccount: 'yes' }),
      400,
      'validation_failed',
    );
    const cancelled = await move(id, 'cancelled');
    expect(cancelled.kind).toBe('cancel');
    const final = expectProblem(
      await post(`/v1/integrations/${id}/transitions`, { to: 'kickoff' }),
      409,
      'transition_refused',
    );
    expect(final.detail).toContain('cancelled is final');
  });

  it('installs, lists and retires certificates; refuses a foreign certificate, the last usable one, and a second retirement', async () => {
    const { id } = await create(admin, { organizationId: orgId, name: 'Rotation' });
    const csr = async () => bodyOf(KeyPairSchema, await post(`/v1/integrations/${id}/csrs`, { subject: CSR_SUBJECT }));
    const first = await csr();
    const second = await csr();
    const other = await create(admin, { organizationId: orgId, name: 'Another' });
    const foreign = bodyOf(KeyPairSchema, await post(`/v1/integrations/${other.id}/csrs`, { subject: CSR_SUBJECT }));
    const refusedCert = expectProblem(
      await post(`/v1/integrations/${id}/certificates`, { certificatePem: await signCsr(sim.pki, foreign.csrPem) }),
      422,
      'certificate_refused',
    );
    expect(refusedCert.detail).toContain('does not match any key pair');
    expectProblem(
      await post(`/v1/integrations/${id}/certificates`, { certificatePem: 'not a certificate' }),
      400,
      'certificate_invalid',
    );

    const certA = bodyOf(
      CertificateSchema,
      await post(`/v1/integrations/${id}/certificates`, {
        certificatePem: await signCsr(sim.pki, first.csrPem),
        chainPem: sim.caCertPem,
      }),
    );
    const again = bodyOf(
      CertificateSchema,
      await post(`/v1/integrations/${id}/certificates`, {
        certificatePem: certA.certificatePem,
        chainPem: sim.caCertPem,
      }),
    );
    expect(again.id).toBe(certA.id);
    // Once syncing (approved and later), the only usable certificate cannot be retired without force.
    await api.t.db.updateTable('integrations').set({ stage: 'approved' }).where('id', '=', id).execute();
    expectProblem(await post(`/v1/integrations/${id}/certificates/${certA.id}/retire`), 409, 'last_usable_certificate');
    const certB = bodyOf(
      CertificateSchema,
      await post(`/v1/integrations/${id}/certificates`, {
        certificatePem: await signCsr(sim.pki, second.csrPem),
        chainPem: sim.caCertPem,
      }),
    );
    const retired = bodyOf(CertificateSchema, await post(`/v1/integrations/${id}/certificates/${certA.id}/retire`));
    expect(retired).toMatchObject({
      id: certA.id,
      status: 'retired',
      retiredBy: expect.stringContaining('api-key:') as string,
    });
    expectProblem(await post(`/v1/integrations/${id}/certificates/${certA.id}/retire`), 409, 'certificate_not_active');
    expectProblem(await post(`/v1/integrations/${id}/certificates/${uuidv7()}/retire`), 404, 'not_found');
    const active = bodyOf(
      pageSchema(CertificateSchema),
      await request(api.app).get(`/v1/integrations/${id}/certificates?status=active`).set(admin),
    );
    expect(active.data.map((c) => c.id)).toEqual([certB.id]);
    const all = bodyOf(
      pageSchema(CertificateSchema),
      await request(api.app).get(`/v1/integrations/${id}/certificates`).set(admin),
    );
    expect(all.data.map((c) => c.id)).toEqual([certA.id, certB.id]);
    const csrs = bodyOf(
      pageSchema(KeyPairSchema),
      await request(api.app).get(`/v1/integrations/${id}/csrs?limit=1`).set(admin),
    );
    expect(csrs.data.map((k) => k.id)).toEqual([first.id]);
    expect(csrs.nextCursor).not.toBeNull();
  });

  it('installs a certificate pasted with indented lines (from YAML or an email), and refuses a quoted or broken paste saying what to fix', async () => {
    const { id } = await create(admin, { organizationId: orgId, name: 'Indented paste' });
    const keyPair = bodyOf(KeyPairSchema, await post(`/v1/integrations/${id}/csrs`, { subject: CSR_SUBJECT }));
    const pem = await signCsr(sim.pki, keyPair.csrPem);
    const indent = (text: string, prefix: string) =>
      text
        .trim()
        .split('\n')
        .map((line) => prefix + line)
        .join('\r\n');

    const installed = bodyOf(
      CertificateSchema,
      await post(`/v1/integrations/${id}/certificates`, {
        certificatePem: indent(pem, '    '),
        chainPem: indent(sim.caCertPem, '\t  '),
      }),
    );
    // Stored clean: the same certificate pasted without indentation is the same installation.
    expect(installed.certificatePem.trim()).toBe(pem.trim());
    const again = bodyOf(
      CertificateSchema,
      await post(`/v1/integrations/${id}/certificates`, { certificatePem: pem, chainPem: sim.caCertPem }),
    );
    expect(again.id).toBe(installed.id);

    const quoted = expectProblem(
      await post(`/v1/integrations/${id}/certificates`, { certificatePem: indent(pem, '> ') }),
      400,
      'certificate_invalid',
    );
    expect(quoted.detail).toMatch(/quoted with '>'.*remove/);
    const lines = pem.trim().split('\n');
    const broken = [...lines.slice(0, 2), `${lines[2] ?? ''}!`, ...lines.slice(3)].join('\n');
    const bad = expectProblem(
      await post(`/v1/integrations/${id}/certificates`, { certificatePem: broken }),
      400,
      'certificate_invalid',
    );
    expect(bad.detail).toContain('base64');
  });

  it('refuses a certificate block carrying more than the certificate (a private key appended to its base64), storing nothing', async () => {
    const { id } = await create(admin, { organizationId: orgId, name: 'Smuggled key' });
    const keyPair = bodyOf(KeyPairSchema, await post(`/v1/integrations/${id}/csrs`, { subject: CSR_SUBJECT }));
    const pem = await signCsr(sim.pki, keyPair.csrPem);
    const base64Of = (block: string) =>
      block
        .trim()
        .split('\n')
        .filter((line) => !line.startsWith('-----'))
        .join('');
    const keyDer = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      format: 'der',
      type: 'pkcs8',
    });
    const wrap = (base64: string) =>
      ['-----BEGIN CERTIFICATE-----', ...(base64.match(/.{1,64}/g) ?? []), '-----END CERTIFICATE-----'].join('\n');
    // One base64 text of the certificate's bytes followed by the key's, and the key's base64 lines pasted after the
    // certificate's (padding in between): a parser reads the certificate and ignores what follows.
    const appended = wrap(Buffer.concat([Buffer.from(base64Of(pem), 'base64'), keyDer]).toString('base64'));
    const pastedAfter = pem.replace(
      '-----END CERTIFICATE-----',
      `${keyDer.toString('base64')}\n-----END CERTIFICATE-----`,
    );
    const caAppended = wrap(Buffer.concat([Buffer.from(base64Of(sim.caCertPem), 'base64'), keyDer]).toString('base64'));
    for (const certificatePem of [appended, pastedAfter]) {
      const res = await post(`/v1/integrations/${id}/certificates`, { certificatePem });
      const problem = expectProblem(res, 400, 'certificate_invalid');
      // Padding inside the text when the certificate's length leaves some, else bytes after the certificate.
      expect(problem.detail).toMatch(/more than one certificate|padding "=" inside it/);
      expect(JSON.stringify(res.body)).not.toContain(keyDer.toString('base64').slice(0, 40));
    }
    const chained = await post(`/v1/integrations/${id}/certificates`, { certificatePem: pem, chainPem: caAppended });
    expectProblem(chained, 400, 'certificate_invalid');
    const stored = await api.t.db.selectFrom('certificates').select('id').where('integration_id', '=', id).execute();
    expect(stored).toHaveLength(0);

    const ca = await post('/v1/integrations', {
      organizationId: orgId,
      name: 'Smuggled CA',
      baseUrl: sim.url,
      serverCaPem: caAppended,
    });
    expect(expectProblem(ca, 400, 'validation_failed').detail).toContain('more than one certificate');
  });

  it('takes a server CA bundle pasted with indented lines, stored clean, and refuses a quoted one saying what to fix', async () => {
    const indented = sim.caCertPem
      .trim()
      .split('\n')
      .map((line) => `      ${line}`)
      .join('\n');
    const created = await create(admin, { organizationId: orgId, name: 'Indented CA', serverCaPem: indented });
    expect(created.serverCaPem?.trim()).toBe(sim.caCertPem.trim());
    const quoted = expectProblem(
      await post('/v1/integrations', {
        organizationId: orgId,
        name: 'Quoted CA',
        baseUrl: sim.url,
        serverCaPem: indented.replaceAll('      ', '> '),
      }),
      400,
      'validation_failed',
    );
    expect(quoted.detail).toContain("'>'");
  });

  it('reports a connection test without a certificate (the bank is not called) and removes security administrators', async () => {
    const { id } = await create(admin, { organizationId: orgId, name: 'No certificate' });
    const report = bodyOf(ConnectionTestSchema, await post(`/v1/integrations/${id}/test-connection`));
    expect(report).toMatchObject({ ok: false, credentialId: null, steps: [] });
    expect(report.credentialProblem?.code).toBeTruthy();
    expect(report.failure).toBe(report.credentialProblem?.code);
    const created = bodyOf(
      SecurityAdminSchema,
      await post(`/v1/integrations/${id}/security-admins`, {
        side: 'provider',
        name: 'Temp',
        email: 't@x.example',
        role: 'r',
      }),
    );
    expect(created.side).toBe('provider');
    const removed = await request(api.app).delete(`/v1/integrations/${id}/security-admins/${created.id}`).set(admin);
    expect(bodyOf(SecurityAdminSchema, removed).id).toBe(created.id);
    expectProblem(
      await request(api.app).delete(`/v1/integrations/${id}/security-admins/${created.id}`).set(admin),
      404,
      'not_found',
    );
  });

  it("scopes everything to the key's organization (404), lets viewers read but not write (403), and audits writes", async () => {
    const theirs = await create(admin, { organizationId: otherOrgId, name: 'Theirs' });
    const mine = await create(admin, { organizationId: orgId, name: 'Mine' });
    const scoped = bearer(await api.key('operator', orgId));
    const viewer = bearer(await api.key('viewer', orgId));
    const created = await create(scoped, { name: 'Created by a scoped key' });
    expect(created.organizationId).toBe(orgId);
    expectProblem(
      await post('/v1/integrations', { organizationId: otherOrgId, name: 'x', baseUrl: sim.url }, scoped),
      404,
      'not_found',
    );
    // Valid requests all (an invalid one is a 400 before anything is looked up).
    for (const [method, path, body] of [
      ['get', `/v1/integrations/${theirs.id}`, undefined],
      ['patch', `/v1/integrations/${theirs.id}`, { name: 'x' }],
      ['post', `/v1/integrations/${theirs.id}/transitions`, { to: 'kickoff' }],
      ['get', `/v1/integrations/${theirs.id}/transitions`, undefined],
      ['get', `/v1/integrations/${theirs.id}/events`, undefined],
      ['post', `/v1/integrations/${theirs.id}/eligibility`, { jpmAccessAccount: true }],
      ['post', `/v1/integrations/${theirs.id}/csrs`, { subject: CSR_SUBJECT }],
      ['get', `/v1/integrations/${theirs.id}/certificates`, undefined],
      ['post', `/v1/integrations/${theirs.id}/test-connection`, {}],
      ['get', `/v1/integrations/${theirs.id}/security-admins`, undefined],
      ['post', `/v1/integrations/${theirs.id}/accounts/discover`, {}],
      ['post', `/v1/integrations/${theirs.id}/api-access`, { status: 'requested' }],
    ] as const) {
      expectProblem(await request(api.app)[method](path).set(scoped).send(body), 404, 'not_found');
    }
    const listed = bodyOf(IntegrationPage, await request(api.app).get('/v1/integrations?limit=500').set(scoped)).data;
    expect(listed.length).toBeGreaterThan(1);
    expect(listed.every((i) => i.organizationId === orgId)).toBe(true);
    expectProblem(
      await request(api.app).get(`/v1/integrations?organizationId=${otherOrgId}`).set(scoped),
      404,
      'not_found',
    );
    await feedSettled(api.t.db);
    const events = bodyOf(EventPage, await request(api.app).get('/v1/events?limit=500').set(viewer)).data;
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.organizationId === orgId)).toBe(true);
    expect(events.some((e) => e.integrationId === theirs.id)).toBe(false);

    expect((await request(api.app).get(`/v1/integrations/${mine.id}`).set(viewer)).status).toBe(200);
    expect((await request(api.app).get(`/v1/integrations/${mine.id}/transitions`).set(viewer)).status).toBe(200);
    for (const [path, body] of [
      ['/v1/integrations', { name: 'v' }],
      [`/v1/integrations/${mine.id}/transitions`, { to: 'kickoff' }],
      [`/v1/integrations/${mine.id}/csrs`, { subject: CSR_SUBJECT }],
      [`/v1/integrations/${mine.id}/test-connection`, {}],
      [`/v1/integrations/${mine.id}/jpm-project`, { projectId: 'p' }],
    ] as const) {
      expectProblem(await post(path, body, viewer), 403, 'forbidden');
    }
    expectProblem(
      await request(api.app).patch(`/v1/integrations/${mine.id}`).set(viewer).send({ name: 'v' }),
      403,
      'forbidden',
    );

    const audit = await api.t.db
      .selectFrom('audit_log')
      .select(['route', 'target_type', 'target_id', 'organization_id', 'status_code'])
      .where('route', '=', '/v1/integrations')
      .where('status_code', '=', 201)
      .where('target_id', '=', created.id)
      .execute();
    expect(audit).toEqual([
      {
        route: '/v1/integrations',
        target_type: 'integration',
        target_id: created.id,
        organization_id: orgId,
        status_code: 201,
      },
    ]);
  });
});
