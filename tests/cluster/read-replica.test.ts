import type { Express } from 'express';
import { createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/admin-api/api-keys.service.ts';
import { loadConfig } from '../../src/config/index.ts';
import { pageSchema } from '../../src/http/pagination.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { createContext, type AppContext } from '../../src/main/context.ts';
import {
  ChangePageSchema,
  LatestBalancesSchema,
  TransactionDetailSchema,
  TransactionSchema,
} from '../../src/read-api/dto.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { readDbRequestsTotal } from '../../src/shared/metrics.ts';
import { upsertBalances } from '../../src/storage/balances.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { bearer, bodyOf, expectProblem } from '../helpers/api-app.ts';
import { testQueuePrefix } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { migrate, startPostgresPair, type PostgresPair } from './support/postgres-replica.ts';

/**
 * DATABASE_READ_URL against a real streaming standby (README, "Read replica"): a private primary and a hot standby
 * made with pg_basebackup, the real API app over both. Which database served each read comes from
 * `jpm_read_db_requests_total`; that a stale read was possible is shown on the standby itself.
 */
const MAX_WAIT_MS = 300;
/** An API that waits long for the replica (test 3): its wait outlasts the test's own polling on a loaded machine. */
const PATIENT_WAIT_MS = 10_000;

let pair: PostgresPair | undefined;
const apps: { ctx: AppContext; app: Express }[] = [];
let api: { ctx: AppContext; app: Express; key: string };
let account: { id: string; organizationId: string; jpmAccountId: string };

function pg2(): PostgresPair {
  if (!pair) {
    throw new Error('no postgres pair');
  }
  return pair;
}

function apiOver(env: Record<string, string>): { ctx: AppContext; app: Express } {
  const { config, secrets } = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: pg2().primaryUrl,
    REDIS_URL,
    QUEUE_PREFIX: testQueuePrefix(),
    ...env,
  });
  const ctx = createContext(config, secrets);
  const built = { ctx, app: buildApiApp(ctx) };
  apps.push(built);
  return built;
}

/** `db/reason` → count of read API requests, from the process's metric. */
async function servedCounts(): Promise<Map<string, number>> {
  const metric = await readDbRequestsTotal.get();
  return new Map(metric.values.map((v) => [`${String(v.labels.db)}/${String(v.labels.reason)}`, v.value]));
}

/** Runs `fn` and answers which database served the reads it made (the metric's increments). */
async function servedBy<T>(fn: () => Promise<T>): Promise<{ result: T; by: Record<string, number> }> {
  const before = await servedCounts();
  const result = await fn();
  const by: Record<string, number> = {};
  for (const [k, v] of await servedCounts()) {
    if (v !== (before.get(k) ?? 0)) {
      by[k] = v - (before.get(k) ?? 0);
    }
  }
  return { result, by };
}

/** Waits until the standby has replayed everything the primary has flushed. */
async function replicaCaughtUp(): Promise<void> {
  const [primary] = await pg2().query<{ lsn: string }>('primary', 'select pg_current_wal_flush_lsn()::text as lsn');
  for (let i = 0; ; i++) {
    const [row] = await pg2().query<{ done: boolean }>(
      'standby',
      `select pg_last_wal_replay_lsn() >= '${primary?.lsn ?? ''}'::pg_lsn as done`,
    );
    if (row?.done === true) {
      return;
    }
    if (i > 500) {
      throw new Error('the standby did not catch up');
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function ingest(bankId: string, amount: string): Promise<void> {
  await ingestWire(api.ctx.db, account, [
    wireTransaction({ transactionId: bankId, jpmAccountId: account.jpmAccountId, amount, asOfDate: '2026-11-02' }),
  ]);
}

async function storeBalance(asOfDate: string, endingMinor: string): Promise<void> {
  await upsertBalances(api.ctx.db, [
    {
      id: uuidv7(),
      organization_id: account.organizationId,
      account_id: account.id,
      as_of_date: asOfDate,
      kind: 'final',
      currency: 'USD',
      decimal_location: 2,
      opening_ledger_minor: null,
      opening_available_minor: null,
      ending_ledger_minor: endingMinor,
      ending_available_minor: null,
      record_timestamp: null,
      content_hash: `test-${asOfDate}-${endingMinor}`,
      raw: {},
    },
  ]);
}

async function listBankIds(app: Express = api.app): Promise<string[]> {
  const res = await request(app).get(`/v1/transactions?accountId=${account.id}`).set(bearer(api.key));
  expect(res.status).toBe(200);
  return bodyOf(pageSchema(TransactionSchema), res)
    .data.map((t) => t.jpmTransactionId ?? '')
    .sort();
}

async function searchBankIds(text: string): Promise<string[]> {
  const res = await request(api.app)
    .get(`/v1/transactions?q=${encodeURIComponent(text)}&organizationId=${account.organizationId}`)
    .set(bearer(api.key));
  expect(res.status).toBe(200);
  return bodyOf(pageSchema(TransactionSchema), res)
    .data.map((t) => t.jpmTransactionId ?? '')
    .sort();
}

async function latestFinal(): Promise<string | null | undefined> {
  const res = await request(api.app).get(`/v1/balances/latest?accountId=${account.id}`).set(bearer(api.key));
  expect(res.status).toBe(200);
  return bodyOf(pageSchema(LatestBalancesSchema), res).data[0]?.final?.endingLedger;
}

async function onStandby(bankId: string): Promise<number> {
  const rows = await pg2().query<{ n: string }>(
    'standby',
    `select count(*)::text as n from transactions where jpm_transaction_id = '${bankId}'`,
  );
  return Number(rows[0]?.n);
}

beforeAll(async () => {
  pair = await startPostgresPair('jpm_sync_replica', migrate);
  const built = apiOver({ DATABASE_READ_URL: pair.standbyUrl, DATABASE_READ_MAX_WAIT_MS: String(MAX_WAIT_MS) });
  const key = (
    await createApiKey(built.ctx.db, { name: 'reader', role: 'viewer', organizationId: null, createdByKeyId: null })
  ).token;
  api = { ...built, key };
  const tenancy = await createTenancy(api.ctx.db);
  account = await createAccount(api.ctx.db, tenancy);
}, 120_000);

afterAll(async () => {
  for (const a of apps) {
    await a.ctx.close();
  }
  await pair?.destroy();
});

describe('read API on a streaming replica (DATABASE_READ_URL)', () => {
  it('serves transactions and balances from the replica once it has replayed them', async () => {
    await ingest('T1', '100.00');
    await storeBalance('2026-11-02', '10000');
    await replicaCaughtUp();
    const list = await servedBy(listBankIds);
    expect(list.result).toEqual(['T1']);
    expect(list.by).toEqual({ 'replica/caught_up': 1 });
    // Text search reads the search step's position and the change feed's index in one snapshot: on the standby too.
    const search = await servedBy(() => searchBankIds('misc credit'));
    expect(search.result).toEqual(['T1']);
    expect(search.by).toEqual({ 'replica/caught_up': 1 });
    const balance = await servedBy(latestFinal);
    expect(balance.result).toBe('100.00');
    expect(balance.by).toEqual({ 'replica/caught_up': 1 });
  });

  it('never serves what the primary had committed before the request from a replica that has not replayed it', async () => {
    const cursorRes = await request(api.app).get('/v1/changes?from=now').set(bearer(api.key));
    const cursor = bodyOf(ChangePageSchema, cursorRes).nextCursor;
    await pg2().pauseReplay();
    // What a sync run writes before it reports done: its transactions, a new closing balance.
    await ingest('T2', '200.00');
    await storeBalance('2026-11-03', '20000');
    // The standby really lacks them: a read there would be stale.
    expect(await onStandby('T2')).toBe(0);

    const list = await servedBy(listBankIds);
    expect(list.result).toEqual(['T1', 'T2']);
    expect(list.by).toEqual({ 'primary/replica_behind': 1 });
    const search = await servedBy(() => searchBankIds('misc credit'));
    expect(search.result).toEqual(['T1', 'T2']);
    expect(search.by).toEqual({ 'primary/replica_behind': 1 });
    const balance = await servedBy(latestFinal);
    expect(balance.result).toBe('200.00');
    expect(balance.by).toEqual({ 'primary/replica_behind': 1 });
    const t2 = bodyOf(
      pageSchema(TransactionSchema),
      await request(api.app).get(`/v1/transactions?accountId=${account.id}&reference=BR-T2`).set(bearer(api.key)),
    ).data[0];
    const detail = await servedBy(() =>
      request(api.app)
        .get(`/v1/transactions/${t2?.id ?? ''}`)
        .set(bearer(api.key)),
    );
    expect(detail.result.status).toBe(200);
    expect(bodyOf(TransactionDetailSchema, detail.result).jpmTransactionId).toBe('T2');
    expect(detail.by).toEqual({ 'primary/replica_behind': 1 });
    // The change feed reads the primary whatever the replica does: T2's event is there, no read routed.
    const feed = await servedBy(() => request(api.app).get(`/v1/changes?cursor=${cursor}`).set(bearer(api.key)));
    expect(bodyOf(ChangePageSchema, feed.result).data.map((e) => e.transaction?.jpmTransactionId)).toEqual(['T2']);
    expect(feed.by).toEqual({});
    expect(await onStandby('T2')).toBe(0);
  });

  it('waits for a replica that replays within DATABASE_READ_MAX_WAIT_MS and then reads there', async () => {
    const patient = apiOver({
      DATABASE_READ_URL: pg2().standbyUrl,
      DATABASE_READ_MAX_WAIT_MS: String(PATIENT_WAIT_MS),
    });
    await pg2().resumeReplay();
    await replicaCaughtUp();
    expect((await servedBy(() => listBankIds(patient.app))).by).toEqual({ 'replica/caught_up': 1 });
    await pg2().pauseReplay();
    await ingest('T3', '300.00');
    const watcher = new pg.Client({ connectionString: pg2().standbyUrl });
    await watcher.connect();
    try {
      const { rows } = await watcher.query<{ now: string }>('select clock_timestamp()::text as now');
      const since = rows[0]?.now ?? '';
      const pending = servedBy(() => listBankIds(patient.app));
      // Resume only once the API is looking at the paused standby's replay position (waiting for T3's commit).
      for (let i = 0; !(await lookedAtReplay(watcher, since)); i++) {
        expect(i).toBeLessThan(1_000);
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(await onStandby('T3')).toBe(0);
      await pg2().resumeReplay();
      const { result, by } = await pending;
      expect(result).toContain('T3');
      expect(by).toEqual({ 'replica/caught_up': 1 });
    } finally {
      await watcher.end();
    }
  });

  it("answers a client's mistake from the replica as a 4xx, not run again on the primary", async () => {
    // Two rows of its own, so that a first page of one has a next cursor whatever ran before.
    await ingest('M1', '1.00');
    await ingest('M2', '2.00');
    await pg2().resumeReplay();
    await replicaCaughtUp();
    expect((await servedBy(listBankIds)).by).toEqual({ 'replica/caught_up': 1 });
    // A cursor of another query (decoded inside the read), an unknown transaction, an unknown account.
    const first = await request(api.app).get(`/v1/transactions?accountId=${account.id}&limit=1`).set(bearer(api.key));
    const cursor = bodyOf(pageSchema(TransactionSchema), first).nextCursor ?? '';
    expect(cursor).not.toBe('');
    const mistakes = [
      [`/v1/transactions?organizationId=${account.organizationId}&limit=1&cursor=${cursor}`, 400, 'invalid_cursor'],
      [`/v1/transactions/${uuidv7()}`, 404, 'not_found'],
      [`/v1/transactions?accountId=${uuidv7()}`, 404, 'not_found'],
    ] as const;
    for (const [path, status, code] of mistakes) {
      const { result, by } = await servedBy(() => request(api.app).get(path).set(bearer(api.key)));
      expectProblem(result, status, code);
      // Not retried on the primary, and not counted as a read the replica served.
      expect(by).toEqual({});
    }
  });

  it('with a DATABASE_READ_URL that cannot serve (no such database, nothing listening, no answer) reads answer from the primary', async () => {
    const standby = new URL(pg2().standbyUrl);
    const noDatabase = new URL(standby);
    noDatabase.pathname = '/no_such_database';
    const noServer = new URL(standby);
    noServer.port = '1';
    // Accepts connections and never answers: the replica phase's time bound (wait + 1 s) gives it up.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentUrl = new URL(standby);
    silentUrl.port = String((silent.address() as AddressInfo).port);
    for (const wrong of [noDatabase, noServer, silentUrl]) {
      const misconfigured = apiOver({ DATABASE_READ_URL: wrong.toString(), DATABASE_READ_MAX_WAIT_MS: '100' });
      const served: string[] = [];
      for (let i = 0; i < 2; i++) {
        const { result, by } = await servedBy(() =>
          request(misconfigured.app).get(`/v1/transactions?accountId=${account.id}`).set(bearer(api.key)),
        );
        expect(result.status).toBe(200);
        expect(bodyOf(pageSchema(TransactionSchema), result).data.map((t) => t.jpmTransactionId)).toContain('T1');
        served.push(...Object.keys(by));
      }
      // The first read finds the replica failing; the second skips it.
      expect(served).toEqual(['primary/replica_error', 'primary/replica_unavailable']);
      const ready = await request(misconfigured.app).get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({
        status: 'degraded',
        checks: { 'postgres-replica': { status: 'unavailable' } },
      });
    }
    silent.close();
  });

  it('gives up a replica session that stops answering after it connected, and reads from the primary', async () => {
    await pg2().resumeReplay();
    await replicaCaughtUp();
    const [clock] = await pg2().query<{ now: string }>('standby', 'select clock_timestamp()::text as now');
    const stuck = apiOver({ DATABASE_READ_URL: pg2().standbyUrl, DATABASE_READ_MAX_WAIT_MS: '100' });
    expect((await servedBy(() => listBankIds(stuck.app))).by).toEqual({ 'replica/caught_up': 1 });
    // That API's replica session (its backend on the standby, started just now) freezes.
    const backends = await pg2().query<{ pid: number }>(
      'standby',
      `select pid from pg_stat_activity where application_name = 'jpm-sync-reads'
         and backend_start > '${clock?.now ?? ''}'::timestamptz`,
    );
    expect(backends.length).toBeGreaterThan(0);
    const pids = backends.map((b) => b.pid);
    for (const pid of pids) {
      process.kill(pid, 'SIGSTOP');
    }
    try {
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the read waited on the frozen replica session')), 20_000);
      });
      const { result, by } = await Promise.race([servedBy(() => listBankIds(stuck.app)), hung]);
      clearTimeout(timer);
      expect(result).toContain('T1');
      expect(by).toEqual({ 'primary/replica_error': 1 });
    } finally {
      for (const pid of pids) {
        process.kill(pid, 'SIGCONT');
      }
    }
  });

  it('reads from the primary while the replica is down, says so on /readyz, and returns to it', async () => {
    const ready = await request(api.app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', checks: { 'postgres-replica': { status: 'ok' } } });
    await pg2().stopStandby();
    for (let i = 0; i < 2; i++) {
      const { result, by } = await servedBy(listBankIds);
      expect(result).toEqual(expect.arrayContaining(['T1', 'T2']));
      expect(Object.keys(by)).toHaveLength(1);
      expect(Object.keys(by)[0]).toMatch(/^primary\/replica_(error|unavailable)$/);
    }
    const degraded = await request(api.app).get('/readyz');
    expect(degraded.status).toBe(200);
    expect(degraded.body).toMatchObject({
      status: 'degraded',
      checks: { postgres: { status: 'ok' }, 'postgres-replica': { status: 'unavailable' } },
    });
    await pg2().startStandby();
    await replicaCaughtUp();
    // After the retry interval (5 s) the replica serves again.
    let by: Record<string, number> = {};
    for (let i = 0; !by['replica/caught_up']; i++) {
      expect(i).toBeLessThan(100);
      await new Promise((r) => setTimeout(r, 100));
      ({ by } = await servedBy(listBankIds));
    }
    const back = await request(api.app).get('/readyz');
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ status: 'ready', checks: { 'postgres-replica': { status: 'ok' } } });
  });

  it('without DATABASE_READ_URL reads the primary and /readyz has no replica check', async () => {
    const plain = apiOver({});
    const { result, by } = await servedBy(() =>
      request(plain.app).get(`/v1/transactions?accountId=${account.id}`).set(bearer(api.key)),
    );
    expect(result.status).toBe(200);
    expect(by).toEqual({ 'primary/no_replica': 1 });
    const ready = await request(plain.app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(Object.keys((ready.body as { checks: object }).checks)).not.toContain('postgres-replica');
  });

  // Last: it promotes the standby.
  it('refuses a replica that follows a node promoted away from the primary (another timeline) and the promoted node itself: reads from the primary', async () => {
    await pg2().resumeReplay();
    await replicaCaughtUp();
    const followerUrl = await pg2().promoteStandbyWithFollower();
    // The primary goes on taking writes that neither the promoted node nor its follower will ever have.
    await ingest('T-after-failover', '7.00');
    const state = async (url: string) => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const { rows } = await c.query<{ standby: boolean; tli: number; system: string }>(
          `select pg_is_in_recovery() as standby, (select timeline_id from pg_control_checkpoint()) as tli,
             (select system_identifier::text from pg_control_system()) as system`,
        );
        return rows[0]!;
      } finally {
        await c.end();
      }
    };
    const primary = await state(pg2().primaryUrl);
    // The follower is a standby of the same cluster (the identity check passes), on the promoted node's timeline.
    await expect.poll(async () => (await state(followerUrl)).tli, { timeout: 20_000 }).toBeGreaterThan(primary.tli);
    expect(await state(followerUrl)).toMatchObject({ standby: true, system: primary.system });
    expect(await state(pg2().standbyUrl)).toMatchObject({ standby: false, system: primary.system });
    for (const readUrl of [followerUrl, pg2().standbyUrl]) {
      const diverged = apiOver({ DATABASE_READ_URL: readUrl, DATABASE_READ_MAX_WAIT_MS: '100' });
      const { result, by } = await servedBy(() => listBankIds(diverged.app));
      expect(result).toContain('T-after-failover');
      expect(by).toEqual({ 'primary/replica_refused': 1 });
      const ready = await request(diverged.app).get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({
        status: 'degraded',
        checks: { 'postgres-replica': { status: 'unavailable' } },
      });
    }
  });
});

/** Has an API replica session looked at the standby's replay position since `since` (the standby's clock)? */
async function lookedAtReplay(watcher: pg.Client, since: string): Promise<boolean> {
  const { rows } = await watcher.query<{ n: string }>(
    `select count(*)::text as n from pg_stat_activity where application_name = 'jpm-sync-reads'
       and query like '%pg_last_wal_replay_lsn%' and query_start > $1::timestamptz`,
    [since],
  );
  return Number(rows[0]?.n) > 0;
}
