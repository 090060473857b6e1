import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AccountSchema } from '../../src/admin-api/accounts.dto.ts';
import { SyncRunSchema } from '../../src/admin-api/syncs.routes.ts';
import { generateCsr, installCertificate } from '../../src/credentials/index.ts';
import { pageSchema } from '../../src/http/pagination.ts';
import { createIntegration } from '../../src/onboarding/index.ts';
import { scheduleId, startWorkers, type RunningWorkers } from '../../src/scheduler/index.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { addDays, localDate } from '../../src/shared/time.ts';
import { NO_QUIRKS, signCsr, startSimulator, type RunningSimulator } from '../../src/simulator/index.ts';
import { createSyncRun } from '../../src/storage/sync-runs.repo.ts';
import { CSR_SUBJECT, createOrganization } from '../factories/onboarding.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { TEST_STALL } from '../helpers/recording-bank.ts';

const AccountPage = pageSchema(AccountSchema);
const RunPage = pageSchema(SyncRunSchema);
const TriggeredRun = SyncRunSchema.extend({ joined: z.boolean() });
/** The answer of the old `…/syncs` paths, kept for one release. */
const Triggered = z.object({ runs: z.array(TriggeredRun) });
const TriggeredList = z.object({ data: z.array(TriggeredRun) });
const Discovered = z.object({ data: z.array(AccountSchema), added: z.number(), accounts: z.array(AccountSchema) });
const ZONE = 'America/New_York';
const OPS = 'ops@jpm-sync.example';

type Auth = { Authorization: string };

/** Polls `probe` until it returns a value (not undefined); fails with `what` after a generous bound. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, boundMs = 30_000): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`never happened: ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('admin API: accounts and syncs (simulator over mTLS, real queue workers)', () => {
  let api: TestApi;
  let admin: Auth;
  let sim: RunningSimulator;
  let pkiDir: string;
  let orgId: string;
  let integrationId: string;
  let worker: RunningWorkers | undefined;
  const today = localDate(new Date(), ZONE);
  const accountIds: Record<string, string> = {};

  beforeAll(async () => {
    api = await createTestApi();
    admin = bearer(api.adminKey);
    pkiDir = await mkdtemp(join(tmpdir(), 'admin-syncs-pki-'));
    sim = await startSimulator({
      pkiDir,
      today,
      seed: 'admin-syncs',
      accounts: [{ currency: 'USD' }, { currency: 'JPY' }, { currency: 'KWD' }],
      historyDays: 20,
      txPerDay: 5,
      quirks: NO_QUIRKS,
    });
    // An onboarded integration with a certificate the simulator's CA issued (the HTTP walk is in admin-integrations.test.ts).
    orgId = await createOrganization(api.t.db);
    const integration = await createIntegration(api.t.db, {
      organizationId: orgId,
      name: 'Acme Syncs',
      environment: 'simulator',
      baseUrl: sim.url,
      serverCaPem: sim.caCertPem,
      actor: OPS,
    });
    integrationId = integration.id;
    const kp = await generateCsr(api.t.db, api.ctx.secrets, { integrationId, subject: CSR_SUBJECT, actor: OPS });
    await installCertificate(api.t.db, {
      integrationId,
      certificatePem: await signCsr(sim.pki, kp.csrPem),
      chainPem: sim.caCertPem,
      actor: OPS,
    });
    await api.t.db.updateTable('integrations').set({ stage: 'validating' }).where('id', '=', integrationId).execute();
  });
  afterAll(async () => {
    await worker?.close();
    await obliterate(api);
    await api.close();
    await sim.stop();
    await rm(pkiDir, { recursive: true, force: true });
  });

  const post = (path: string, body: object = {}, auth: Auth = admin) =>
    request(api.app).post(path).set(auth).send(body);
  const get = (path: string, auth: Auth = admin) => request(api.app).get(path).set(auth);
  const runOf = async (runId: string) => bodyOf(SyncRunSchema, await get(`/v1/sync-runs/${runId}`));
  const schedulers = async () =>
    new Map((await api.ctx.queues.queue('sync').getJobSchedulers(0, -1)).map((s) => [s.key, s.pattern ?? '']));

  it('registers an account by hand (currency digits by default, idempotent) and discovers the rest from J.P. Morgan', async () => {
    const [usd, jpy, kwd] = sim.accounts;
    const res = await post(`/v1/integrations/${integrationId}/accounts`, {
      jpmAccountId: jpy!.accountId,
      bankId: '02100002',
      currency: 'JPY',
      timeZone: ZONE,
      accountName: 'Tokyo',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const registered = bodyOf(AccountSchema, res);
    expect(registered).toMatchObject({
      integrationId,
      organizationId: orgId,
      currency: 'JPY',
      decimalLocation: 0,
      status: 'active',
      timeZone: ZONE,
      scheduleOverride: null,
    });
    expect(registered.jpmAccountMasked).toBe(`****${jpy!.accountId.slice(-4)}`);
    const again = bodyOf(
      AccountSchema,
      await post(`/v1/integrations/${integrationId}/accounts`, {
        jpmAccountId: jpy!.accountId,
        bankId: '02100002',
        currency: 'JPY',
        timeZone: ZONE,
      }),
    );
    expect(again.id).toBe(registered.id);

    const bad = expectProblem(
      await post(`/v1/integrations/${integrationId}/accounts`, {
        jpmAccountId: '1',
        bankId: 'b',
        currency: 'usd',
        timeZone: 'Mars/Olympus',
      }),
      400,
      'validation_failed',
    );
    expect(bad.errors?.map((e) => e.path).sort()).toEqual(['body.currency', 'body.timeZone']);
    expectProblem(
      await post(`/v1/integrations/${uuidv7()}/accounts`, {
        jpmAccountId: '1',
        bankId: 'b',
        currency: 'USD',
        timeZone: ZONE,
      }),
      404,
      'not_found',
    );

    const discovered = bodyOf(
      Discovered,
      await post(`/v1/integrations/${integrationId}/accounts/discover`, { timeZone: ZONE }),
    );
    expect(discovered.added).toBe(2);
    expect(discovered.accounts).toEqual(discovered.data);
    for (const a of discovered.data) {
      accountIds[a.currency] = a.id;
    }
    expect(accountIds.JPY).toBe(registered.id);
    expect(discovered.data.find((a) => a.jpmAccountMasked === `****${kwd!.accountId.slice(-4)}`)?.decimalLocation).toBe(
      3,
    );
    expect(discovered.data.find((a) => a.jpmAccountMasked === `****${usd!.accountId.slice(-4)}`)?.decimalLocation).toBe(
      2,
    );

    const got = bodyOf(AccountSchema, await get(`/v1/accounts/${accountIds.USD}`));
    expect(got).toMatchObject({ id: accountIds.USD, currency: 'USD', lastSyncedAt: null });
    expectProblem(await get(`/v1/accounts/${uuidv7()}`), 404, 'not_found');
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const q: Record<string, string | number> =
        cursor === null ? { limit: 1, integrationId } : { limit: 1, integrationId, cursor };
      const r: request.Response = await request(api.app).get('/v1/accounts').query(q).set(admin);
      const page: z.output<typeof AccountPage> = bodyOf(AccountPage, r);
      paged.push(...page.data.map((a) => a.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(paged.sort()).toEqual(Object.values(accountIds).sort());

    // Found by the bank's full account number (exact), answered masked.
    const byNumber = bodyOf(
      AccountPage,
      await request(api.app).get('/v1/accounts').query({ accountNumber: usd!.accountId }).set(admin),
    );
    expect(byNumber.data.map((a) => a.id)).toEqual([accountIds.USD]);
    expect(byNumber.data[0]!.jpmAccountMasked).toBe(`****${usd!.accountId.slice(-4)}`);
    expect(JSON.stringify(byNumber)).not.toContain(usd!.accountId);
    const operator = bearer(await api.key('operator'));
    expect(
      bodyOf(
        AccountPage,
        await request(api.app).get('/v1/accounts').query({ accountNumber: kwd!.accountId }).set(operator),
      ).data.map((a) => a.id),
    ).toEqual([accountIds.KWD]);
    for (const near of [usd!.accountId.slice(1), `${usd!.accountId}0`, usd!.accountId.slice(-4)]) {
      expect(
        bodyOf(AccountPage, await request(api.app).get('/v1/accounts').query({ accountNumber: near }).set(admin)).data,
      ).toEqual([]);
    }
    expectProblem(
      await request(api.app).get('/v1/accounts').query({ accountNumber: '12 34' }).set(admin),
      400,
      'validation_failed',
    );
  });

  it('validates sync requests and cancels a queued run (joined by a second identical trigger)', async () => {
    const path = `/v1/accounts/${accountIds.KWD}/sync-runs`;
    expectProblem(await post(path, { mode: 'weekly' }), 400, 'validation_failed');
    expectProblem(await post(path, { mode: 'intraday', from: today }), 400, 'validation_failed');
    expectProblem(await post(path, { mode: 'range', from: '2025-13-01', to: '2025-12-31' }), 400, 'validation_failed');
    const inverted = expectProblem(
      await post(path, { mode: 'range', from: addDays(today, -2), to: addDays(today, -5) }),
      400,
      'validation_failed',
    );
    expect(inverted.errors).toEqual([{ path: 'body.from', message: 'must not be after to' }]);
    expectProblem(await post(`/v1/accounts/${uuidv7()}/sync-runs`, { mode: 'intraday' }), 404, 'not_found');

    // A mutating call answers the resource it created: the run itself.
    const body = { mode: 'range', from: addDays(today, -12), to: addDays(today, -3) };
    const first = await post(path, body);
    expect(first.status).toBe(202);
    const run = bodyOf(TriggeredRun, first);
    expect(run).toMatchObject({
      accountId: accountIds.KWD,
      status: 'queued',
      mode: 'range',
      trigger: 'manual',
      joined: false,
      window: { from: body.from, to: body.to },
    });
    expect(run.progress.windowsTotal).toBe(run.windows?.length);
    // The old path (one release) answers the same run under `runs`.
    const second = bodyOf(Triggered, await post(`/v1/accounts/${accountIds.KWD}/syncs`, body)).runs[0];
    expect(second).toMatchObject({ id: run.id, joined: true });
    expectProblem(await post(`/v1/accounts/${accountIds.KWD}/syncs`, { mode: 'weekly' }), 400, 'validation_failed');

    const windowId = run.windows![0]!.id;
    expect(bodyOf(SyncRunSchema, await get(`/v1/sync-runs/${windowId}`)).id).toBe(windowId);
    // A window is read like a run, so cancelling one is not "not found": it names the run to cancel.
    expect(expectProblem(await post(`/v1/sync-runs/${windowId}/cancel`), 409, 'run_is_window').detail).toBe(
      `sync run ${windowId} is a window of run ${run.id}; a window is not cancelled alone: cancel run ${run.id}`,
    );
    const cancelled = bodyOf(SyncRunSchema, await post(`/v1/sync-runs/${run.id}/cancel`));
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.finishedAt).not.toBeNull();
    expect(cancelled.windows?.every((w) => w.status === 'cancelled')).toBe(true);
    expectProblem(await post(`/v1/sync-runs/${run.id}/cancel`), 409, 'run_finished');
    expectProblem(await post(`/v1/sync-runs/${uuidv7()}/cancel`), 404, 'not_found');
  });

  it('runs a triggered range sync to succeeded on a queue worker, then a whole-integration prior-day sync', async () => {
    worker = startWorkers(
      {
        queues: api.ctx.queues,
        sync: {
          db: api.ctx.db,
          clientFor: (id) => api.ctx.clientFor(id),
          now: () => new Date(),
          logger: createLogger('sync'),
          lookbackDays: 2,
        },
        logger: createLogger('scheduler'),
      },
      {
        redisUrl: REDIS_URL,
        database: { url: api.t.url, poolMax: 3 },
        concurrency: 2,
        stall: TEST_STALL,
        busyRetryMs: 200,
      },
    );
    const res = await post(`/v1/accounts/${accountIds.USD}/syncs`, {
      mode: 'range',
      from: addDays(today, -9),
      to: addDays(today, -2),
    });
    expect(res.status).toBe(202);
    const runId = bodyOf(Triggered, res).runs[0]!.id;
    const done = await eventually(
      'the range run finished',
      async () => {
        const r = await runOf(runId);
        return r.finishedAt === null ? undefined : r;
      },
      90_000,
    );
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.progress.windowsDone).toBe(done.progress.windowsTotal);
    expect(done.windows?.map((w) => w.status)).toEqual(done.windows?.map(() => 'succeeded'));
    expect(done.counts.fetched).toBeGreaterThan(0);
    expect(done.counts.balances).toBeGreaterThan(0);
    const stored = await api.t.db
      .selectFrom('transactions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('account_id', '=', accountIds.USD!)
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(done.counts.inserted);
    expect(bodyOf(AccountSchema, await get(`/v1/accounts/${accountIds.USD}`)).lastSyncedAt).not.toBeNull();

    const all = await post(`/v1/integrations/${integrationId}/sync-runs`, { mode: 'prior_day' });
    expect(all.status).toBe(202);
    const runs = bodyOf(TriggeredList, all).data;
    expect(runs.map((r) => r.accountId).sort()).toEqual(Object.values(accountIds).sort());
    for (const r of runs) {
      const finished = await eventually(
        `prior-day run ${r.id} finished`,
        async () => {
          const v = await runOf(r.id);
          return v.finishedAt === null ? undefined : v;
        },
        90_000,
      );
      expect(finished.status).toBe('succeeded');
    }
  });

  it("pause, resume and a schedule override reconcile the account's job schedulers", async () => {
    const id = accountIds.JPY!;
    const intraday = scheduleId(id, 'intraday');
    const priorDay = scheduleId(id, 'prior_day');
    // Registration asked for a reconcile: the integration's 4 intraday runs and the prior-day run.
    await eventually('schedulers after registration', async () =>
      (await schedulers()).get(intraday)?.includes(' 9,11,14,16 ') ? true : undefined,
    );
    expect((await schedulers()).has(priorDay)).toBe(true);

    const put = (body: object) => request(api.app).put(`/v1/accounts/${id}/schedule`).set(admin).send(body);
    expect(bodyOf(AccountSchema, await put({ intradayRunsPerDay: 2 })).scheduleOverride).toEqual({
      intradayRunsPerDay: 2,
    });
    await eventually('two intraday runs', async () =>
      (await schedulers()).get(intraday)?.includes(' 10,15 ') ? true : undefined,
    );
    await put({ intradayRunsPerDay: 0 });
    await eventually('no intraday runs', async () => ((await schedulers()).has(intraday) ? undefined : true));
    expect((await schedulers()).has(priorDay)).toBe(true);
    expect(bodyOf(AccountSchema, await put({ intradayRunsPerDay: null })).scheduleOverride).toBeNull();
    await eventually('back to the integration setting', async () =>
      (await schedulers()).get(intraday)?.includes(' 9,11,14,16 ') ? true : undefined,
    );
    expectProblem(await put({ intradayRunsPerDay: 11 }), 400, 'validation_failed');
    expectProblem(await put({}), 400, 'validation_failed');

    const paused = bodyOf(AccountSchema, await post(`/v1/accounts/${id}/pause`, { reason: 'customer asked' }));
    expect(paused).toMatchObject({ status: 'paused', statusReason: 'customer asked' });
    await eventually('schedulers removed', async () => {
      const s = await schedulers();
      return s.has(intraday) || s.has(priorDay) ? undefined : true;
    });
    expect(bodyOf(AccountSchema, await post(`/v1/accounts/${id}/pause`)).status).toBe('paused');
    expectProblem(await post(`/v1/accounts/${id}/syncs`, { mode: 'intraday' }), 409, 'account_not_active');
    const active = bodyOf(AccountPage, await get(`/v1/accounts?integrationId=${integrationId}&status=active`)).data.map(
      (a) => a.id,
    );
    expect(active).not.toContain(id);
    expect(bodyOf(AccountPage, await get(`/v1/accounts?status=paused`)).data.map((a) => a.id)).toEqual([id]);

    expect(bodyOf(AccountSchema, await post(`/v1/accounts/${id}/resume`))).toMatchObject({
      status: 'active',
      statusReason: null,
    });
    await eventually('schedulers restored', async () => {
      const s = await schedulers();
      return s.has(intraday) && s.has(priorDay) ? true : undefined;
    });
  });

  it('lists runs newest first with filters and keyset pages', async () => {
    // Manual runs only: a schedule tick may fire while the schedulers exist.
    const all = bodyOf(RunPage, await get('/v1/sync-runs?limit=500&trigger=manual')).data;
    expect(all.length).toBe(5);
    expect(all.map((r) => r.createdAt)).toEqual([...all.map((r) => r.createdAt)].sort().reverse());
    expect(all.every((r) => r.windows === undefined)).toBe(true);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const q: Record<string, string | number> =
        cursor === null ? { limit: 2, trigger: 'manual' } : { limit: 2, trigger: 'manual', cursor };
      const r: request.Response = await request(api.app).get('/v1/sync-runs').query(q).set(admin);
      const page: z.output<typeof RunPage> = bodyOf(RunPage, r);
      paged.push(...page.data.map((x) => x.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(paged).toEqual(all.map((r) => r.id));
    expect(bodyOf(RunPage, await get('/v1/sync-runs?status=cancelled')).data.map((r) => r.accountId)).toEqual([
      accountIds.KWD,
    ]);
    const usd = bodyOf(RunPage, await get(`/v1/sync-runs?accountId=${accountIds.USD}&trigger=manual`)).data;
    expect(usd.map((r) => r.mode)).toEqual(['prior_day', 'range']);
    expect(
      bodyOf(
        RunPage,
        await get(`/v1/sync-runs?integrationId=${integrationId}&mode=prior_day&trigger=manual&status=succeeded`),
      ).data,
    ).toHaveLength(3);
    expect(bodyOf(RunPage, await get('/v1/sync-runs?trigger=backfill')).data).toEqual([]);
    expectProblem(await get('/v1/sync-runs?status=done'), 400, 'validation_failed');
    expectProblem(await get('/v1/sync-runs?cursor=eyJ2IjoxLCJrIjpbIngiLCJ5Il19'), 400, 'invalid_cursor');
  });

  it("keeps other organizations' accounts and runs invisible (404) and lets viewers read but not write (403)", async () => {
    const other = await createTenancy(api.t.db, { baseUrl: sim.url, name: 'Other Corp' });
    const theirAccount = await createAccount(api.t.db, other);
    const theirRun = await createSyncRun(api.t.db, {
      organizationId: other.organizationId,
      integrationId: other.integrationId,
      accountId: theirAccount.id,
      trigger: 'manual',
      mode: 'intraday',
    });
    const scoped = bearer(await api.key('operator', orgId));
    const viewer = bearer(await api.key('viewer', orgId));
    for (const res of [
      await get(`/v1/accounts/${theirAccount.id}`, scoped),
      await post(`/v1/accounts/${theirAccount.id}/pause`, {}, scoped),
      await post(`/v1/accounts/${theirAccount.id}/resume`, {}, scoped),
      await post(`/v1/accounts/${theirAccount.id}/syncs`, { mode: 'intraday' }, scoped),
      await request(api.app)
        .put(`/v1/accounts/${theirAccount.id}/schedule`)
        .set(scoped)
        .send({ intradayRunsPerDay: 1 }),
      await post(`/v1/integrations/${other.integrationId}/syncs`, { mode: 'intraday' }, scoped),
      await post(
        `/v1/integrations/${other.integrationId}/accounts`,
        { jpmAccountId: '1', bankId: 'b', currency: 'USD', timeZone: ZONE },
        scoped,
      ),
      await get(`/v1/sync-runs/${theirRun}`, scoped),
      await post(`/v1/sync-runs/${theirRun}/cancel`, {}, scoped),
      await get(`/v1/accounts?organizationId=${other.organizationId}`, scoped),
    ]) {
      expectProblem(res, 404, 'not_found');
    }
    expect(
      bodyOf(AccountPage, await get('/v1/accounts?limit=500', scoped)).data.every((a) => a.organizationId === orgId),
    ).toBe(true);
    const runs = bodyOf(RunPage, await get('/v1/sync-runs?limit=500&trigger=manual', viewer)).data;
    expect(runs.length).toBe(5);
    expect(runs.some((r) => r.id === theirRun)).toBe(false);

    expect((await get(`/v1/accounts/${accountIds.USD}`, viewer)).status).toBe(200);
    for (const res of [
      await post(`/v1/accounts/${accountIds.USD}/pause`, {}, viewer),
      await post(`/v1/accounts/${accountIds.USD}/syncs`, { mode: 'intraday' }, viewer),
      await post(`/v1/integrations/${integrationId}/syncs`, { mode: 'intraday' }, viewer),
      await post(`/v1/sync-runs/${runs[0]!.id}/cancel`, {}, viewer),
      await request(api.app).put(`/v1/accounts/${accountIds.USD}/schedule`).set(viewer).send({ intradayRunsPerDay: 1 }),
      await post(`/v1/integrations/${integrationId}/accounts/discover`, {}, viewer),
    ]) {
      expectProblem(res, 403, 'forbidden');
    }
    expect(bodyOf(AccountSchema, await get(`/v1/accounts/${accountIds.USD}`)).status).toBe('active');

    // The account-number filter: viewers may list accounts but not look numbers up; an operator of
    // one organization never finds another organization's account by its number.
    expectProblem(
      await request(api.app).get('/v1/accounts').query({ accountNumber: theirAccount.jpmAccountId }).set(viewer),
      403,
      'forbidden',
    );
    expect(
      bodyOf(
        AccountPage,
        await request(api.app).get('/v1/accounts').query({ accountNumber: theirAccount.jpmAccountId }).set(scoped),
      ).data,
    ).toEqual([]);
    expect(
      bodyOf(
        AccountPage,
        await request(api.app).get('/v1/accounts').query({ accountNumber: theirAccount.jpmAccountId }).set(admin),
      ).data.map((a) => a.id),
    ).toEqual([theirAccount.id]);
  });
});

/** Removes every Redis key of the test's queue prefix (queues, schedulers, guard keys). */
async function obliterate(api: TestApi): Promise<void> {
  const { redis, prefix } = api.ctx.queues;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) {
      await redis.del(...keys);
    }
  } while (cursor !== '0');
}
