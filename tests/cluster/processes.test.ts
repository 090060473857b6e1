import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createApiKey } from '../../src/admin-api/api-keys.service.ts';
import { generateCsr, installCertificate } from '../../src/credentials/index.ts';
import { createIntegration } from '../../src/onboarding/index.ts';
import { createQueues, type Queues } from '../../src/scheduler/index.ts';
import { DEFAULT_GUARD_SETTINGS } from '../../src/scheduler/integration-guard.ts';
import { accountOffsetSeconds, scheduleId } from '../../src/scheduler/schedules.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { addDays, dayOfWeek, diffDays, type IsoDate } from '../../src/shared/time.ts';
import { NO_QUIRKS, signCsr, startSimulator, type RunningSimulator } from '../../src/simulator/index.ts';
import { createAccount } from '../factories/tenancy.ts';
import { CSR_SUBJECT, createOrganization } from '../factories/onboarding.ts';
import { createTestDb, testQueuePrefix, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { obliterate } from '../helpers/orchestration.ts';
import { findLeaks } from '../chaos/support/logs.ts';
import { compareWithTruth, duplicateKeys, unfinishedRuns, type Scope } from '../chaos/support/truth.ts';
import { maxPerWindow, requestedDates } from './support/bank-log.ts';
import { ProcessGroup, type ProductProcess } from './support/processes.ts';

/**
 * Issue 21's cluster run: 2 api, 3 worker and 2 scheduler processes of the product (`node src/main/start.ts`, one
 * role each) against one fresh database, the shared Redis under a queue prefix of their own, and the J.P. Morgan
 * simulator over mutual TLS answering every call 150 ms late. 200 accounts in 2 integrations (a certificate each).
 *
 * The operator, through the api processes (alternately, with an admin API key), backfills the last four days before
 * the workers come up (a backlog far above the integrations' rate limits), then runs an intraday round while every
 * process is restarted in turn (SIGTERM, its replacement started alongside); then one process of each role is
 * SIGKILLed and replaced while windows run, the bank closes its day and a prior-day round follows. 32 accounts have
 * their intraday or prior-day schedule slot inside the run: the processes' wall clock is moved (`shifted-clock.ts`,
 * the same offset for all) to 09:00 UTC on a Wednesday, and those accounts' ids put their slot 50–100 s later.
 *
 * Afterwards: the stored data equals the simulator's ledger, every run ended succeeded with its windows and counts
 * adding up and nothing left in the queues, each slot fired exactly once across both schedulers, the bank's per-
 * integration rate limit held across all workers (from the simulator's request log), every SIGTERM ended in a clean
 * exit, and nothing any process printed is an unexpected warning, an error or a secret.
 */
const INTEGRATIONS = 2;
const ACCOUNTS_PER_INTEGRATION = 100;
const SCHEDULED_PER_MODE_PER_INTEGRATION = 8;
const LATENCY_MS = 150;
const WORKER_CONCURRENCY = 8;
const BACKFILL_DAYS = 4;
/** Schedule slots of the scheduled accounts: seconds after the shifted clock's 09:00:00 UTC. */
const SLOT_FROM_S = 50;
const SLOT_TO_S = 100;
/** The integration guard's settings (the worker role runs the defaults). */
const GUARD = DEFAULT_GUARD_SETTINGS;
/** The most bank calls one window job makes here (a prior-day window: PRIOR_DAY, two transaction calls, balances). */
const CALLS_PER_WINDOW = 4;
/** Longest a window job makes calls after taking its token (150 ms a call, a busy machine). */
const WINDOW_SLACK_S = 4;
const RATE_WINDOW_S = 40;
/** This test's own budget (the project's default is 300 s): start, the backlog, the restarts, the checks. */
const TEST_TIMEOUT_MS = 480_000;

/** Warnings a restart, a kill or the bank's latency can explain; anything else warn or above fails the test. */
const EXPECTED_WARNINGS = new Set([
  // The SIGKILLed worker's jobs, taken back by another worker.
  'stalled job moved back to wait',
  // An intraday window that runs after the bank closed its day (held back by the kill): the walk of the bank's new
  // current day finds the closed day's pending rows, which the prior-day run settles.
  'intraday walk held records of another business day; nothing removed',
]);

interface Operator {
  post(path: string, body: object): Promise<{ status: number; body: unknown }>;
  get(path: string): Promise<{ status: number; body: unknown }>;
}

interface TriggeredRun {
  id: string;
  accountId: string;
  mode: string;
  joined: boolean;
}

/** The next Wednesday after today (UTC): a business day of the bank and of the account schedules. */
function nextWednesday(): IsoDate {
  let d = addDays(new Date().toISOString().slice(0, 10), 1);
  while (dayOfWeek(d) !== 3) {
    d = addDays(d, 1);
  }
  return d;
}

/** An account id whose schedule slot is `from..to` seconds past the hour (accountOffsetSeconds). */
function idWithOffset(from: number, to: number): string {
  for (;;) {
    const id = uuidv7();
    const s = accountOffsetSeconds(id);
    if (s >= from && s <= to) {
      return id;
    }
  }
}

/**
 * A bank call's share of one window job, such that no window's calls add up to more than 1: a range window makes
 * exactly one data call (its transactions, or its balances, for the backfill's 4 days); an intraday window one
 * CURRENT_DAY transaction call; a prior-day window two transaction calls (its 6 days in ≤ 5-day requests). Questions
 * about the bank's day and relative balance calls count nothing.
 */
function windowShare(r: Parameters<typeof requestedDates>[0]): number {
  const dates = requestedDates(r);
  if (!dates) {
    return 0;
  }
  const tx = r.path.startsWith('/tsapi/');
  if ('relative' in dates) {
    return tx && dates.relative === 'CURRENT_DAY' ? 1 : 0;
  }
  const backfillWindow = diffDays(dates.from, dates.to) === BACKFILL_DAYS - 1;
  return backfillWindow ? 1 : tx ? 0.5 : 0;
}

describe('cluster: 2 api, 3 worker, 2 scheduler processes through a rolling restart and kills', () => {
  let t: TestDb;
  let sim: RunningSimulator;
  let pkiDir: string;
  let queues: Queues;
  let group: ProcessGroup | undefined;
  const prefix = testQueuePrefix();
  const masterKey = randomBytes(32).toString('base64');
  let apiToken = '';
  const today = nextWednesday();
  const nextDay = addDays(today, 1);
  /** Our wall clock minus the processes' (set when they start). */
  let clockOffsetMs = 0;
  let slotsBase = 0;
  const integrations: { id: string; fingerprint: string }[] = [];
  const scopes: Scope[] = [];
  /** Accounts whose intraday (tz UTC: 09:00 is an intraday hour) or prior-day (UTC−3: 06:00) slot is in the run. */
  const scheduled = { intraday: new Set<string>(), prior_day: new Set<string>() };
  const log: string[] = [];
  const note = (line: string) => log.push(`${new Date().toISOString().slice(11, 23)} ${line}`);

  beforeAll(async () => {
    t = await createTestDb();
    pkiDir = await mkdtemp(join(tmpdir(), 'cluster-pki-'));
    sim = await startSimulator({
      pkiDir,
      seed: 'cluster-processes',
      today,
      progress: 0.5,
      accounts: INTEGRATIONS * ACCOUNTS_PER_INTEGRATION,
      historyDays: 10,
      txPerDay: 5,
      quirks: NO_QUIRKS,
      latencyMs: LATENCY_MS,
      recordRequests: true,
    });
    queues = createQueues({ redisUrl: REDIS_URL, prefix });
    const { secrets } = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: t.url,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      CREDENTIALS_MASTER_KEY: masterKey,
    });
    const organizationId = await createOrganization(t.db, 'Cluster Treasury');
    for (let i = 0; i < INTEGRATIONS; i++) {
      const integration = await createIntegration(t.db, {
        organizationId,
        name: `Cluster ${i + 1}`,
        environment: 'simulator',
        baseUrl: sim.url,
        serverCaPem: sim.caCertPem,
        actor: 'ops@cluster.example',
      });
      const kp = await generateCsr(t.db, secrets, {
        integrationId: integration.id,
        subject: CSR_SUBJECT,
        actor: 'ops@cluster.example',
      });
      const certificatePem = await signCsr(sim.pki, kp.csrPem);
      await installCertificate(t.db, {
        integrationId: integration.id,
        certificatePem,
        chainPem: sim.caCertPem,
        actor: 'ops@cluster.example',
      });
      await t.db.updateTable('integrations').set({ stage: 'live' }).where('id', '=', integration.id).execute();
      integrations.push({ id: integration.id, fingerprint: new X509Certificate(certificatePem).fingerprint256 });
      const tenancy = { organizationId, integrationId: integration.id };
      const mine = sim.accounts.slice(i * ACCOUNTS_PER_INTEGRATION, (i + 1) * ACCOUNTS_PER_INTEGRATION);
      for (const [k, a] of mine.entries()) {
        const mode =
          k < SCHEDULED_PER_MODE_PER_INTEGRATION
            ? 'intraday'
            : k < 2 * SCHEDULED_PER_MODE_PER_INTEGRATION
              ? 'prior_day'
              : undefined;
        // The others fire at 09/11/14/16 and 06 New York time, 10 minutes past the hour or later: never in the run.
        const id = mode ? idWithOffset(SLOT_FROM_S, SLOT_TO_S) : idWithOffset(600, 3599);
        await createAccount(t.db, tenancy, {
          id,
          jpmAccountId: a.accountId,
          currency: a.currency.code,
          decimalLocation: a.currency.decimalLocation,
          timeZone: mode === 'intraday' ? 'UTC' : mode === 'prior_day' ? 'Etc/GMT+3' : 'America/New_York',
        });
        if (mode) {
          scheduled[mode].add(id);
        }
        scopes.push({
          accountId: id,
          jpmAccountId: a.accountId,
          decimalLocation: a.currency.decimalLocation,
          from: addDays(today, -BACKFILL_DAYS),
          to: today,
        });
      }
    }
    apiToken = (
      await createApiKey(t.db, { name: 'cluster operator', role: 'admin', organizationId: null, createdByKeyId: null })
    ).token;
  });

  afterAll(async () => {
    await group?.stopAll();
    // CLUSTER_LOGS_DIR=/tmp/x keeps every process's output for a look afterwards.
    if (process.env.CLUSTER_LOGS_DIR) {
      await group?.writeLogs(process.env.CLUSTER_LOGS_DIR);
    }
    console.log(`cluster run:\n  ${log.join('\n  ')}`);
    await obliterate(queues).catch(() => undefined);
    await queues?.close().catch(() => undefined);
    await sim?.stop();
    await rm(pkiDir, { recursive: true, force: true });
    await t?.drop();
  });

  it(
    'keeps every record exactly once, fires each slot once and holds the bank rate limit',
    async () => {
      const started = Date.now();
      // The processes' clock reads 09:00:00 UTC on `today` now; the scheduled accounts' slots come 50-100 s later.
      slotsBase = Date.parse(`${today}T09:00:00Z`);
      clockOffsetMs = slotsBase - Date.now();
      group = new ProcessGroup({
        clockOffsetMs,
        env: {
          NODE_ENV: 'test',
          TZ: 'UTC',
          DATABASE_URL: t.url,
          REDIS_URL,
          QUEUE_PREFIX: prefix,
          LOG_LEVEL: 'info',
          LOG_FORMAT: 'json',
          PORT: '0',
          HOST: '127.0.0.1',
          DB_POOL_MAX: '3',
          // The product's default: a worker finishes its active windows (on this busy 2-core machine that takes seconds).
          SHUTDOWN_TIMEOUT_MS: '25000',
          JPM_REQUEST_TIMEOUT_MS: '20000',
          CREDENTIALS_MASTER_KEY: masterKey,
          SIMULATOR_PKI_DIR: pkiDir,
        },
        // 3 × 8 windows at once: far more than the integrations' rate limits let through, so the guard has work to do.
        roleEnv: { worker: { WORKER_CONCURRENCY: String(WORKER_CONCURRENCY), DB_POOL_MAX: '6' } },
      });
      const g = group;
      await Promise.all([g.start('scheduler', 2), g.start('api', 2)]);
      // No timing assertion here: a scheduler late for a slot shows in the slot checks below (each slot fired once).
      note(`schedulers and api processes started in ${Date.now() - started} ms`);

      let turn = 0;
      const operator: Operator = {
        async post(path, body) {
          return call(path, { method: 'POST', body: JSON.stringify(body) });
        },
        async get(path) {
          return call(path, { method: 'GET' });
        },
      };
      async function call(path: string, init: RequestInit): Promise<{ status: number; body: unknown }> {
        const apis = g.running('api');
        const api = apis[turn++ % apis.length]!;
        const res = await fetch(`http://127.0.0.1:${api.port}${path}`, {
          ...init,
          headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json' },
        });
        return { status: res.status, body: await res.json() };
      }
      const triggered: TriggeredRun[] = [];
      /** One request per integration, all at once (spread over the api processes). */
      async function round(body: object): Promise<void> {
        await Promise.all(
          integrations.map(async ({ id }) => {
            const res = await operator.post(`/v1/integrations/${id}/sync-runs`, body);
            expect(res.status, JSON.stringify(res.body)).toBe(202);
            const runs = (res.body as { data: TriggeredRun[] }).data;
            expect(runs).toHaveLength(ACCOUNTS_PER_INTEGRATION);
            triggered.push(...runs);
          }),
        );
        note(`${JSON.stringify(body)} triggered`);
      }

      // The backfill, queued before the workers come up (a deploy meeting a backlog): they could run it far faster
      // than the integrations' rate limits allow.
      await round({ mode: 'range', from: addDays(today, -BACKFILL_DAYS), to: addDays(today, -1) });
      await g.start('worker', 3);
      note(`workers started, ${Date.now() - started} ms after the start`);
      // A rolling restart: one process of each role at a time, never a whole role down.
      const graceful: { name: string; code: number | null; signal: string | null; tail: string[] }[] = [];
      const replace = async (p: ProductProcess | undefined) => {
        if (p) {
          const { exit } = await g.replace(p, 'SIGTERM');
          graceful.push({ name: p.name, ...exit, tail: p.lines.slice(-8) });
        }
      };
      const firstGeneration = { api: g.running('api'), worker: g.running('worker'), scheduler: g.running('scheduler') };
      await round({ mode: 'intraday' });
      for (let i = 0; i < 3; i++) {
        await Promise.all([
          replace(firstGeneration.api[i]),
          replace(firstGeneration.worker[i]),
          replace(firstGeneration.scheduler[i]),
        ]);
        note(`rolling restart ${i + 1}/3 done`);
      }
      // Then one SIGKILL per role while windows run, each replaced: the worker killed is one that holds a job (BullMQ
      // stores each worker's `host:pid` on the jobs it takes), whose jobs stall and come back.
      let holder: ProductProcess | undefined;
      await expect
        .poll(
          async () => {
            const active = await queues.queue('sync').getJobs(['active']);
            const holders = new Set(active.map((j) => j.processedBy));
            holder = g.running('worker').find((p) => holders.has(`${hostname()}:${p.pid}`));
            return holder !== undefined;
          },
          { timeout: 30_000, interval: 100 },
        )
        .toBe(true);
      await Promise.all([
        g.replace(holder!, 'SIGKILL'),
        ...(['api', 'scheduler'] as const).map(async (role) => g.replace(g.running(role)[0]!, 'SIGKILL')),
      ]);
      note(`one process of each role SIGKILLed and replaced (the worker ${holder!.name} held a job)`);
      // The bank closes the day: its next business day starts; the prior-day round fetches the closed one.
      sim.setClock({ today: nextDay, progress: 0.3 });
      await round({ mode: 'prior_day' });

      // Everything ends: no unfinished run, the scheduled slots past, nothing waiting or running in the queues.
      const lastSlot = slotsBase + SLOT_TO_S * 1000;
      await expect
        .poll(
          async () => {
            const unfinished = (await unfinishedRuns(t.db)).length;
            const counts = await queues
              .queue('sync')
              .getJobCounts('waiting', 'active', 'prioritized', 'waiting-children');
            const busy = Object.values(counts).reduce((s, n) => s + n, 0);
            const past = Date.now() + clockOffsetMs > lastSlot + 5_000;
            return unfinished === 0 && busy === 0 && past;
          },
          // What is left of the test's budget, less a minute for the checks and the stop.
          { timeout: Math.max(30_000, started + TEST_TIMEOUT_MS - 60_000 - Date.now()), interval: 1_000 },
        )
        .toBe(true);
      note(`all runs finished ${Date.now() - started} ms after the start`);

      // 1. The stored data is the bank's ledger, exactly.
      const comparison = await compareWithTruth(t.db, sim, scopes, { liveOnly: true });
      note(`ledger: ${comparison.rowsCompared} rows compared`);
      expect.soft(comparison.problems).toEqual([]);
      expect
        .soft({
          duplicates: comparison.duplicates,
          missing: comparison.missing,
          mismatched: comparison.mismatched,
        })
        .toEqual({
          duplicates: 0,
          missing: 0,
          mismatched: 0,
        });
      expect.soft(comparison.rowsCompared).toBeGreaterThan(INTEGRATIONS * ACCOUNTS_PER_INTEGRATION * BACKFILL_DAYS);
      expect.soft(await duplicateKeys(t.db)).toBe(0);
      // What is left out as history was replaced by a live row of its account (an intraday row by the final one).
      const orphans = await t.db
        .selectFrom('transactions as old')
        .leftJoin('transactions as live', (j) =>
          j.onRef('live.id', '=', 'old.superseded_by').onRef('live.account_id', '=', 'old.account_id'),
        )
        .select(['old.id', 'old.status', 'live.status as live_status'])
        .where('old.status', 'in', ['superseded', 'removed'])
        .where((eb) =>
          eb.or([
            eb.and([eb('old.status', '=', 'superseded'), eb('live.status', 'is', null)]),
            eb('live.status', 'in', ['superseded', 'removed']),
          ]),
        )
        .execute();
      expect.soft(orphans).toEqual([]);

      // 2. No job lost or run twice in effect: every run the operator or a schedule started exists once, ended
      // succeeded, with each planned window succeeded once and the run's counts the sum of its windows'.
      const parents = await t.db
        .selectFrom('sync_runs')
        .select([
          'id',
          'account_id',
          'mode',
          'trigger',
          'status',
          'windows_total',
          'windows_done',
          'fetched',
          'inserted',
        ])
        .where('parent_run_id', 'is', null)
        .execute();
      const windows = await t.db
        .selectFrom('sync_runs')
        .select([
          'id',
          'parent_run_id',
          'status',
          'fetched',
          'inserted',
          'kind',
          'window_from',
          'window_to',
          'attempts',
        ])
        .where('parent_run_id', 'is not', null)
        .execute();
      const scheduleRuns = parents.filter((r) => r.trigger === 'schedule');
      const expectedIds = new Set([...triggered.map((r) => r.id), ...scheduleRuns.map((r) => r.id)]);
      expect.soft(parents.map((r) => r.id).sort()).toEqual([...expectedIds].sort());
      expect
        .soft(parents.filter((r) => r.status !== 'succeeded').map((r) => `${r.id} ${r.mode} ${r.status}`))
        .toEqual([]);
      const byParent = Map.groupBy(windows, (w) => w.parent_run_id!);
      const badCounts: string[] = [];
      for (const p of parents) {
        const ws = byParent.get(p.id) ?? [];
        const planned = p.mode === 'range' ? 2 : 1;
        const sum = (k: 'fetched' | 'inserted') => ws.reduce((s, w) => s + Number(w[k]), 0);
        if (
          ws.length !== planned ||
          p.windows_total !== planned ||
          p.windows_done !== planned ||
          ws.some((w) => w.status !== 'succeeded') ||
          new Set(ws.map((w) => `${w.kind}|${w.window_from}|${w.window_to}`)).size !== ws.length ||
          Number(p.fetched) !== sum('fetched') ||
          Number(p.inserted) !== sum('inserted')
        ) {
          badCounts.push(`${p.id} ${p.mode}: ${ws.length} windows ${JSON.stringify(p)}`);
        }
      }
      expect.soft(badCounts.slice(0, 5)).toEqual([]);
      const runsByMode = Map.groupBy(
        parents.filter((r) => r.trigger !== 'schedule'),
        (r) => r.mode,
      );
      expect.soft(runsByMode.get('range')).toHaveLength(INTEGRATIONS * ACCOUNTS_PER_INTEGRATION);
      for (const q of ['sync', 'maintenance'] as const) {
        const counts = await queues.queue(q).getJobCounts('failed', 'waiting', 'active', 'waiting-children');
        expect.soft(counts, `queue ${q}`).toEqual({ failed: 0, waiting: 0, active: 0, 'waiting-children': 0 });
      }
      // Every operator read agrees, through whichever api process answers.
      for (const r of triggered.filter((x) => x.mode === 'range').slice(0, 40)) {
        const res = await operator.get(`/v1/sync-runs/${r.id}`);
        expect(res.status).toBe(200);
        expect.soft((res.body as { status: string }).status).toBe('succeeded');
      }

      // 3. Each schedule slot fired exactly once across both schedulers (and their replacements): one scheduled-sync
      // job per slot, each tied to one run of its account and mode (its own, or the unfinished run for the same request
      // it joined); no other schedule fired, and no account has more than its two schedulers.
      const schedulers = await queues.queue('sync').getJobSchedulers(0, -1);
      expect.soft(schedulers).toHaveLength(2 * INTEGRATIONS * ACCOUNTS_PER_INTEGRATION);
      const firedJobs = (await queues.queue('sync').getJobs(['completed'], 0, -1)).filter(
        (j) => j.name === 'scheduled-sync',
      );
      const jobsPerScheduler = Map.groupBy(firedJobs, (j) => j.repeatJobKey ?? '?');
      const wantSchedulers = [
        ...[...scheduled.intraday].map((id) => scheduleId(id, 'intraday')),
        ...[...scheduled.prior_day].map((id) => scheduleId(id, 'prior_day')),
      ].sort();
      expect.soft([...jobsPerScheduler.keys()].sort()).toEqual(wantSchedulers);
      expect
        .soft([...jobsPerScheduler.values()].filter((jobs) => jobs.length !== 1).map((jobs) => jobs.map((j) => j.id)))
        .toEqual([]);
      const parentById = new Map(parents.map((p) => [p.id, p]));
      const slotRuns = firedJobs.map((j) => {
        const runs = (j.returnvalue as { runs?: { runId: string; accountId: string }[] } | null)?.runs ?? [];
        const data = j.data as { accountId: string; mode: string };
        const run = runs.length === 1 ? parentById.get(runs[0]!.runId) : undefined;
        return { job: j.id, ok: run?.account_id === data.accountId && run.mode === data.mode, runId: run?.id };
      });
      expect.soft(slotRuns.filter((r) => !r.ok)).toEqual([]);
      // A run the schedule created is one slot's: no schedule run without its job.
      const claimed = new Set(slotRuns.map((r) => r.runId));
      expect.soft(scheduleRuns.filter((r) => !claimed.has(r.id)).map((r) => r.id)).toEqual([]);
      note(
        `${firedJobs.length} slots fired: ${scheduleRuns.length} runs of their own, ${firedJobs.length - scheduleRuns.length} joined`,
      );

      // 4. The bank's rate limit per integration held across all workers. The integration guard gives a window job a
      // token from one bucket per integration in Redis (capacity, then refillPerSecond): in any RATE_WINDOW_S, the
      // window jobs with calls in it took their tokens within that time plus one window's length, so they number at most
      // capacity + refill × (RATE_WINDOW_S + slack). Counted from the simulator's log (each call its share of a window,
      // the shares of one window adding up to 1), per client certificate; and the calls themselves at most
      // CALLS_PER_WINDOW times that. The window is long (the backfill backlog lasts longer), so the slack is small beside
      // it: without the guard the workers start ~9-13 windows a second here against the bound's ~5.5. And the limit
      // must have been reached: at least half the refill over the window, or a slow run would pass untested.
      const bankLog = sim.requestLog();
      const windowsBound = GUARD.capacity + GUARD.refillPerSecond * (RATE_WINDOW_S + WINDOW_SLACK_S);
      const windowsIn = maxPerWindow(bankLog, RATE_WINDOW_S * 1000, windowShare);
      const callsIn = maxPerWindow(bankLog, RATE_WINDOW_S * 1000);
      note(
        `bank: ${bankLog.length} calls; most per integration in ${RATE_WINDOW_S} s: windows ${[...windowsIn.values()].join(', ')} (bound ${windowsBound}), calls ${[...callsIn.values()].join(', ')} (bound ${CALLS_PER_WINDOW * windowsBound})`,
      );
      expect.soft([...windowsIn.keys()].sort()).toEqual(integrations.map((i) => i.fingerprint).sort());
      // The shares never count a window more than once (a window whose range reached a day the bank closed meanwhile
      // counts less: the count stays a lower bound).
      const shares = bankLog.reduce((sum, r) => sum + windowShare(r), 0);
      const attempts = windows.reduce((sum, w) => sum + Number(w.attempts), 0);
      expect.soft(shares).toBeLessThanOrEqual(attempts + 3 * WORKER_CONCURRENCY);
      for (const [client, n] of windowsIn) {
        expect.soft(n, `windows of ${client.slice(0, 11)}… in ${RATE_WINDOW_S} s`).toBeLessThanOrEqual(windowsBound);
        expect
          .soft(n, `windows of ${client.slice(0, 11)}… in ${RATE_WINDOW_S} s: the rate limit was never reached`)
          .toBeGreaterThanOrEqual((GUARD.refillPerSecond * RATE_WINDOW_S) / 2);
      }
      for (const [client, n] of callsIn) {
        expect
          .soft(n, `calls of ${client.slice(0, 11)}… in ${RATE_WINDOW_S} s`)
          .toBeLessThanOrEqual(CALLS_PER_WINDOW * windowsBound);
      }

      // 5. Restarts were graceful; the logs hold no unexpected warning or error and no secret.
      expect
        .soft(
          graceful
            .filter((e) => e.code !== 0)
            .map((e) => `${e.name} exited ${e.code ?? e.signal}: ${e.tail.join('\n')}`),
        )
        .toEqual([]);
      const lines = g.allLines();
      const unexpected: string[] = [];
      for (const line of lines) {
        let o: { level?: number; msg?: string };
        try {
          o = JSON.parse(line) as { level?: number; msg?: string };
        } catch {
          unexpected.push(`not JSON: ${line.slice(0, 200)}`);
          continue;
        }
        if ((o.level ?? 0) >= 40 && !EXPECTED_WARNINGS.has(o.msg ?? '')) {
          unexpected.push(line.slice(0, 400));
        }
      }
      note(`${lines.length} log lines from ${g.all.length} processes`);
      expect.soft(unexpected.slice(0, 10)).toEqual([]);
      expect
        .soft(
          findLeaks(lines, { accountNumbers: sim.accounts.map((a) => a.accountId), secrets: [apiToken, masterKey] }),
        )
        .toEqual([]);
      note(`test body took ${Date.now() - started} ms`);
    },
    TEST_TIMEOUT_MS,
  );
});
