import type { Express } from 'express';
import request from 'supertest';
import { JpmClient } from '../../src/jpm/client.ts';
import type { JpmCredential } from '../../src/jpm/credential-agents.ts';
import { createQueues, getRun, startWorkers, triggerSync, type Queues, type RunningWorkers } from '../../src/scheduler/index.ts';
import { classifyFailure } from '../../src/scheduler/retry-policy.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { addDays, diffDays, eachDay, type IsoDate } from '../../src/shared/time.ts';
import { accountDayView, type AccountDayView } from '../../src/simulator/bank-view.ts';
import { DEFAULT_QUIRKS, startSimulator, type FaultRule, type Quirks, type RunningSimulator } from '../../src/simulator/index.ts';
import type { Database } from '../../src/storage/db.ts';
import { bankClientOf } from '../../src/sync/jpm-bank.ts';
import { syncAccountWindow, type SyncDeps } from '../../src/sync/sync-account.ts';
import { onPostedDays } from '../../src/validation/index.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { testQueuePrefix } from './db.ts';
import { REDIS_URL } from './env.ts';
import { TEST_STALL } from './recording-bank.ts';
import { apiProjection, expectedRow, rowProjection, storedLiveRows, storedProof, type ApiTransaction, type LiveRow, type StoredProof } from './model-rows.ts';

/**
 * The model-based differential test's runner: one generated bank history (a simulator with the
 * scenario's seed, quirks and holidays) and one generated sync schedule, run against the real sync
 * path (`syncAccountWindow`, the unit of work every queue window runs, with the worker's retry rule:
 * retryable failures again, permanent ones stop), the J.P. Morgan client over real mTLS, real Postgres.
 * After every step the stored live set of every account-day is held against the bank's own view
 * (`src/simulator/bank-view.ts`).
 *
 * What the model allows per account-day: the bank's view at the last step that had to cover the day
 * (a complete intraday walk covers the bank's current business day; a prior-day run its prior business
 * day; a range every business day in it), or any view the bank showed since (a look-back may re-read a
 * day earlier than we require), or nothing when no step covered the day yet. A step whose sync failed
 * for good leaves its days "unsettled": then every stored row must still be one the bank sent, at
 * most once.
 */
export interface ModelScenario {
  seed: string;
  quirks: Partial<Quirks>;
  holidays: IsoDate[];
  currencies: string[];
  txPerDay: number;
  pageSize: number;
  /** The bank's calendar date when the scenario starts. */
  start: IsoDate;
  historyDays: number;
  steps: ModelStep[];
}

export type SyncStep =
  | { do: 'sync'; account: number; mode: 'intraday' | 'prior_day'; faults?: FaultRule[] }
  /** A range backfill: from `back` calendar days before the bank's date, `length` days long. */
  | { do: 'range'; account: number; back: number; length: number; faults?: FaultRule[] };

export type ModelStep =
  /** Move the bank's clock `days` calendar days on (0: later the same day) and set the day's progress. */
  | { do: 'advance'; days: number; progress: number }
  /** Our clock against the bank's calendar date (a bank in another zone, a skewed machine clock). */
  | { do: 'skew'; days: number }
  | SyncStep
  /** Two syncs at the same time (the same account or both), as overlapping schedules and operators cause. */
  | { do: 'together'; syncs: SyncStep[] };

export interface ModelEnv {
  db: Database;
  /** The database's URL (the queue path's single-flight lock pool connects to it). */
  dbUrl: string;
  pkiDir: string;
  credential: JpmCredential;
  /** The read API over the same database: after the last step its live set must be the stored one, field for field. */
  api?: { app: Express; key: string };
}

/**
 * How a sync step reaches the service: `direct` calls the sync unit of work with the worker's retry
 * rule, immediately (fast: the bounded run); `queue` triggers a run through BullMQ (triggerSync, the
 * run planner, a flow of windows, real workers with their backoff, single flight and run bookkeeping)
 * and waits for it to finish.
 */
export type ModelVia = 'direct' | 'queue';

interface Candidate {
  key: string;
  rows: Map<string, LiveRow>;
  view: AccountDayView;
  /** Set when a step had to cover the day with exactly this view. */
  required: boolean;
}

interface DayModel {
  candidates: Candidate[];
  unsettled: boolean;
}

const LOOKBACK_DAYS = 5;
const ATTEMPTS = 8;

export class ModelViolation extends Error {}

function candidateOf(view: AccountDayView, required: boolean): Candidate {
  const rows = new Map<string, LiveRow>();
  for (const r of view.records) {
    const row = expectedRow(view, r);
    rows.set(`${row.key}#${rows.size}`, row);
  }
  const key = [...rows.values()].map((r) => r.key).sort().join('\n');
  return { key, rows, view, required };
}

const EMPTY_VIEW = (accountId: string, date: IsoDate): AccountDayView => ({
  accountId, date, state: 'future', currency: '', decimalLocation: 0, records: [], final: null, unrevealedNetMinor: '0',
});

export interface ScenarioRun {
  stepsRun: number;
  syncs: number;
  failedSyncs: number;
  /** Stored rows held against the bank's view, over all steps. */
  rowsChecked: number;
  /** Marks of the records in views a step had to store (`withdrawn-returned`, `odd:bankRef={}`, …), counted. */
  seen: Record<string, number>;
  /** Pending rows that left the live set between two checks while their day was current (withdrawals), and came back. */
  pendingGone: number;
  pendingBack: number;
  /** Faults the simulator fired, all kinds together. */
  faultsFired: number;
  log: string[];
}

/** Totals over many scenarios, for a one-line summary of what a run exercised. */
export class ModelTally {
  scenarios = 0;
  readonly totals = { steps: 0, syncs: 0, failedSyncs: 0, rowsChecked: 0, pendingGone: 0, pendingBack: 0, faultsFired: 0 };
  readonly seen: Record<string, number> = {};

  add(run: ScenarioRun): void {
    this.scenarios++;
    this.totals.steps += run.stepsRun;
    for (const k of ['syncs', 'failedSyncs', 'rowsChecked', 'pendingGone', 'pendingBack', 'faultsFired'] as const) {
      this.totals[k] += run[k];
    }
    for (const [mark, n] of Object.entries(run.seen)) {
      this.seen[mark] = (this.seen[mark] ?? 0) + n;
    }
  }

  summary(label: string): string {
    const marks = Object.entries(this.seen).sort(([a], [b]) => a.localeCompare(b)).map(([m, n]) => `${m} ${n}`).join(', ');
    return `[model-bank] ${label}: ${this.scenarios} scenarios, ${JSON.stringify(this.totals)}; records by mark: ${marks}`;
  }
}

/** Runs one scenario; throws `ModelViolation` (with the step and the account-day diff) on the first mismatch. */
export async function runScenario(env: ModelEnv, sc: ModelScenario, via: ModelVia = 'direct'): Promise<ScenarioRun> {
  const sim = await startSimulator({
    pkiDir: env.pkiDir, seed: sc.seed, accounts: sc.currencies.map((currency) => ({ currency })), today: sc.start, progress: 0.3,
    historyDays: sc.historyDays, txPerDay: sc.txPerDay, quirks: { ...DEFAULT_QUIRKS, ...sc.quirks }, holidays: sc.holidays, defaultPageSize: sc.pageSize,
  });
  const client = new JpmClient({
    baseUrl: sim.url, credentials: () => Promise.resolve(env.credential), refusalProbeMs: 300,
    timeouts: { connectMs: 2_000, headersMs: 1_500, bodyMs: 1_500, requestMs: 3_000 },
  });
  let queue: { queues: Queues; workers: RunningWorkers } | undefined;
  const run: ScenarioRun = { stepsRun: 0, syncs: 0, failedSyncs: 0, rowsChecked: 0, seen: {}, pendingGone: 0, pendingBack: 0, faultsFired: 0, log: [] };
  const pendingBefore = new Map<string, Set<string>>();
  const everGone = new Set<string>();
  try {
    const bank = bankClientOf(client);
    const tenancy = await createTenancy(env.db, { baseUrl: sim.url, name: `model ${sc.seed}` });
    const accounts: { id: string; jpmAccountId: string }[] = [];
    for (const a of sim.accounts) {
      const row = await createAccount(env.db, tenancy, { jpmAccountId: a.accountId, currency: a.currency.code, decimalLocation: a.currency.decimalLocation });
      accounts.push({ id: row.id, jpmAccountId: a.accountId });
    }
    let skew = 0;
    const now = () => new Date(`${addDays(sim.clock().today, skew)}T17:00:00Z`);
    const deps: SyncDeps = {
      db: env.db, clientFor: () => Promise.resolve(bank), now, logger: createLogger('sync'), lookbackDays: LOOKBACK_DAYS,
      onPostedDays: (accountId, dates) => onPostedDays(env.db, accountId, dates, now()),
    };
    if (via === 'queue') {
      const queues = createQueues({ redisUrl: REDIS_URL, prefix: testQueuePrefix() });
      const workers = startWorkers({ queues, sync: deps, logger: createLogger('scheduler') }, {
        redisUrl: REDIS_URL, database: { url: env.dbUrl, poolMax: 2 }, concurrency: 2, stall: TEST_STALL, busyRetryMs: 100,
      });
      await Promise.all(workers.workers.map((w) => w.waitUntilReady()));
      queue = { queues, workers };
    }
    const producer = queue && { db: env.db, queues: queue.queues, now, logger: createLogger('scheduler'), lookbackDays: LOOKBACK_DAYS };
    const model = new Map<string, DayModel>();
    const firstDate = sim.ledger.firstDate;
    const track = (acct: number, date: IsoDate) => {
      const k = `${acct}|${date}`;
      let m = model.get(k);
      if (!m) {
        m = { candidates: [candidateOf(EMPTY_VIEW(accounts[acct]!.jpmAccountId, date), false)], unsettled: false };
        model.set(k, m);
      }
      return m;
    };

    for (const [index, step] of sc.steps.entries()) {
      const before = sim.clock();
      const required = new Map<string, AccountDayView[]>();
      const failed: { account: number; days: IsoDate[] }[] = [];

      async function runSync(one: SyncStep) {
        const ai = one.account % accounts.length;
        const acct = accounts[ai]!;
        const today = before.today;
        let job: { mode: 'intraday' | 'prior_day' | 'range'; from?: IsoDate; to?: IsoDate };
        let covers: IsoDate[];
        if (one.do === 'range') {
          const from = addDays(today, -one.back);
          const to = addDays(from, one.length - 1);
          job = { mode: 'range', from, to };
          const prior = sim.calendar.priorBusinessDay(today);
          covers = diffDays(from, prior) < 0 ? [] : eachDay(from, diffDays(to, prior) < 0 ? prior : to);
        } else {
          job = { mode: one.mode };
          covers = one.mode === 'intraday' ? [today] : [sim.calendar.priorBusinessDay(today)];
        }
        const outcome = producer ? await syncThroughQueue(producer, acct.id, job) : await syncWithRetries(deps, acct.id, job);
        const label = `${one.do === 'range' ? `range ${job.from}..${job.to}` : job.mode} acct ${ai} at ${today} p=${before.progress.toFixed(2)}`;
        return { ai, covers, outcome, label, intraday: job.mode === 'intraday' };
      }
      if (step.do === 'advance') {
        sim.setClock({ today: addDays(before.today, step.days), progress: step.progress });
      } else if (step.do === 'skew') {
        skew = step.days;
      } else {
        const syncs = step.do === 'together' ? step.syncs : [step];
        for (const [i, one] of syncs.entries()) {
          if (one.faults && one.faults.length > 0) {
            sim.injectFaults({ rules: one.faults, seed: `${sc.seed}:${index}:${i}` });
          }
        }
        const results = await Promise.all(syncs.map((one) => runSync(one)));
        sim.clearFaults();
        for (const r of results) {
          run.syncs++;
          run.log.push(`#${index} ${r.label}${syncs.length > 1 ? ' (together)' : ''}: ${r.outcome.ok ? 'ok' : `failed (${r.outcome.code})`}`);
          if (r.outcome.ok) {
            for (const date of r.covers) {
              const views = viewsDuring(sim, accounts[r.ai]!.jpmAccountId, date, before, r.intraday);
              required.set(`${r.ai}|${date}`, [...(required.get(`${r.ai}|${date}`) ?? []), ...views]);
            }
          } else {
            run.failedSyncs++;
            failed.push({ account: r.ai, days: eachDay(addDays(before.today, -(LOOKBACK_DAYS + 10)), before.today) });
          }
        }
      }
      run.stepsRun++;
      await checkAll();

      async function checkAll(): Promise<void> {
        const today = sim.clock().today;
        for (const [ai, acct] of accounts.entries()) {
          const stored = await storedLiveRows(env.db, acct.id, firstDate, addDays(today, 1));
          const proofs = await storedProof(env.db, acct.id);
          for (const date of eachDay(firstDate, addDays(today, 1))) {
            const m = track(ai, date);
            const req = required.get(`${ai}|${date}`);
            if (req) {
              m.candidates = dedupe(req.map((v) => candidateOf(v, true)));
              m.unsettled = false;
              for (const r of req.at(-1)?.records ?? []) {
                for (const mark of r.marks) {
                  run.seen[mark] = (run.seen[mark] ?? 0) + 1;
                }
              }
            } else {
              const current = candidateOf(sim.view(acct.jpmAccountId, date), false);
              if (m.candidates.at(-1)?.key !== current.key) {
                m.candidates.push(current);
              }
            }
            if (failed.some((f) => f.account === ai && f.days.includes(date))) {
              m.unsettled = true;
            }
            const mine = stored.get(date) ?? [];
            run.rowsChecked += mine.length;
            const pending = new Set(mine.filter((r) => r.fields.status === 'pending').map((r) => r.identity));
            for (const id of pendingBefore.get(`${ai}|${date}`) ?? []) {
              if (!pending.has(id) && date === today) {
                run.pendingGone++;
                everGone.add(`${ai}|${id}`);
              }
            }
            for (const id of pending) {
              if (everGone.delete(`${ai}|${id}`)) {
                run.pendingBack++;
              }
            }
            pendingBefore.set(`${ai}|${date}`, pending);
            const problem = m.unsettled ? looseProblem(m, mine) : exactProblem(m, mine, proofs.get(date));
            if (problem) {
              throw new ModelViolation(
                `step #${index} (${JSON.stringify(step)}), account ${ai} (****${acct.jpmAccountId.slice(-4)}), day ${date}, bank clock ${JSON.stringify(sim.clock())}, our clock ${now().toISOString()}:\n${problem}\nsteps so far:\n  ${run.log.join('\n  ')}`,
              );
            }
          }
        }
      }
    }
    if (env.api) {
      for (const [ai, acct] of accounts.entries()) {
        await checkApi(env.api, env.db, acct.id, `account ${ai} (****${acct.jpmAccountId.slice(-4)})`, firstDate, addDays(sim.clock().today, 1));
      }
    }
    run.faultsFired = sim.stats().faultsInjected;
    return run;
  } finally {
    if (queue) {
      await queue.workers.close();
      await removeKeys(queue.queues);
      await queue.queues.close();
    }
    await client.close();
    await sim.stop();
  }
}

/** A sync run through the queue: triggered as an operator would, finished when its row says so. */
async function syncThroughQueue(
  producer: Parameters<typeof triggerSync>[0], accountId: string, job: { mode: 'intraday' | 'prior_day' | 'range'; from?: IsoDate; to?: IsoDate },
): Promise<{ ok: true } | { ok: false; code: string }> {
  const request = job.mode === 'range' ? { mode: 'range' as const, from: job.from ?? '', to: job.to ?? '' } : { mode: job.mode };
  let runId: string;
  try {
    const { runs } = await triggerSync(producer, { accountId, request, trigger: 'manual' });
    runId = runs[0]?.runId ?? '';
  } catch (err) {
    return { ok: false, code: `trigger refused: ${err instanceof Error ? err.message : String(err)}` };
  }
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await getRun({ db: producer.db }, runId);
    if (r.finishedAt !== null) {
      return r.status === 'succeeded' ? { ok: true } : { ok: false, code: `run ${r.status}` };
    }
    if (Date.now() > deadline) {
      return { ok: false, code: `run still ${r.status} after 120 s` };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The views a step may have stored for a day: for an intraday walk, every snapshot the clock passed through while pages shifted. */
function viewsDuring(sim: RunningSimulator, jpmAccountId: string, date: IsoDate, before: { today: IsoDate; progress: number }, intraday: boolean): AccountDayView[] {
  const after = sim.clock();
  if (!intraday || after.progress === before.progress) {
    return [sim.view(jpmAccountId, date)];
  }
  const views: AccountDayView[] = [];
  for (let p = before.progress; p <= after.progress + 1e-9; p += 0.05) {
    views.push(accountDayView(sim.ledger, { today: after.today, progress: Math.min(p, after.progress), withdrawalsAt: after.withdrawalsAt ?? before.progress }, jpmAccountId, date));
  }
  views.push(sim.view(jpmAccountId, date));
  return views;
}

function dedupe(cs: Candidate[]): Candidate[] {
  const seen = new Set<string>();
  return cs.filter((c) => (seen.has(c.key) ? false : (seen.add(c.key), true)));
}

async function syncWithRetries(deps: SyncDeps, accountId: string, job: { mode: 'intraday' | 'prior_day' | 'range'; from?: IsoDate; to?: IsoDate }): Promise<{ ok: true } | { ok: false; code: string }> {
  let last = 'unknown';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      await syncAccountWindow(deps, { runId: null, accountId, kinds: ['transactions', 'balances'], ...job });
      return { ok: true };
    } catch (err) {
      const f = classifyFailure(err);
      last = `${f.code}: ${f.message}`;
      if (f.kind === 'permanent') {
        return { ok: false, code: last };
      }
    }
  }
  return { ok: false, code: `gave up after ${ATTEMPTS} attempts, last ${last}` };
}

function describeRows(rows: Iterable<LiveRow>): string {
  return [...rows].map((r) => `    ${r.summary}`).join('\n') || '    (none)';
}

/** Exact: the stored live rows are one of the allowed views, row for row; and its balance proof holds. */
function exactProblem(m: DayModel, stored: LiveRow[], proof: StoredProof | undefined): string | undefined {
  const key = stored.map((r) => r.key).sort().join('\n');
  const hit = m.candidates.find((c) => c.key === key);
  if (!hit) {
    const best = m.candidates.at(-1)!;
    const want = [...best.rows.values()].map((r) => r.key);
    const missing = [...best.rows.values()].filter((r) => !stored.some((s) => s.key === r.key));
    const extra = stored.filter((s) => !want.includes(s.key));
    const dupes = stored.filter((s, i) => stored.findIndex((t) => t.key === s.key) !== i);
    return [
      `stored live set is none of the bank's ${m.candidates.length} view(s) of the day; against the latest (${best.view.state}${best.required ? ', required' : ''}):`,
      `  missing (${missing.length}):\n${describeRows(missing)}`,
      `  extra (${extra.length}):\n${describeRows(extra)}`,
      ...(dupes.length > 0 ? [`  duplicates (${dupes.length}):\n${describeRows(dupes)}`] : []),
      ...(missing.length + extra.length === 0 ? ['  (same rows, different multiplicity)'] : []),
      ...diffFields(missing, extra),
    ].join('\n');
  }
  // The balance proof: on a closed day pinned by a required posted fetch, J.P. Morgan's final balance is
  // stored to the minor unit and opening + credits − debits = closing, short by exactly the late postings
  // the bank has not revealed yet.
  const v = hit.view;
  if (hit.required && v.state === 'closed' && v.final && m.candidates.length === 1) {
    if (!proof) {
      return 'no balance proof (account_days) for a fetched closed day';
    }
    const want = { opening: v.final.openingLedgerMinor, closing: v.final.endingLedgerMinor, difference: v.unrevealedNetMinor, state: v.unrevealedNetMinor === '0' ? 'proved' : 'broken' };
    const got = { opening: proof.openingLedgerMinor, closing: proof.closingLedgerMinor, difference: proof.differenceMinor ?? '0', state: proof.state };
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      return `balance proof: expected ${JSON.stringify(want)}, stored ${JSON.stringify(got)} (reason ${proof.reason ?? '-'})`;
    }
  }
  return undefined;
}

/** For rows that differ in a field or two, say which (a mangled reference or narrative shows here). */
function diffFields(missing: LiveRow[], extra: LiveRow[]): string[] {
  const out: string[] = [];
  for (const e of extra) {
    const twin = missing.find((m) => m.identity === e.identity);
    if (!twin) {
      continue;
    }
    for (const f of Object.keys(twin.fields) as (keyof LiveRow['fields'])[]) {
      const want = JSON.stringify(twin.fields[f]);
      const got = JSON.stringify(e.fields[f]);
      if (want !== got) {
        let at = 0;
        while (at < want.length && want[at] === got[at]) {
          at++;
        }
        const from = Math.max(0, at - 60);
        out.push(`  ${twin.identity} ${f} differs at ${at}: bank …${want.slice(from, at + 120)}… / stored …${got.slice(from, at + 120)}…`);
      }
    }
  }
  return out;
}

/** Unsettled (a sync failed for good): every stored row is a record of one of the views, none twice. */
function looseProblem(m: DayModel, stored: LiveRow[]): string | undefined {
  const known = new Set(m.candidates.flatMap((c) => [...c.rows.values()].map((r) => r.key)));
  const unknown = stored.filter((s) => !known.has(s.key));
  const maxCount = new Map<string, number>();
  for (const c of m.candidates) {
    const counts = new Map<string, number>();
    for (const r of c.rows.values()) {
      counts.set(r.key, (counts.get(r.key) ?? 0) + 1);
    }
    for (const [k, n] of counts) {
      maxCount.set(k, Math.max(n, maxCount.get(k) ?? 0));
    }
  }
  const counts = new Map<string, number>();
  for (const s of stored) {
    counts.set(s.key, (counts.get(s.key) ?? 0) + 1);
  }
  const dupes = stored.filter((s) => (counts.get(s.key) ?? 0) > (maxCount.get(s.key) ?? 0));
  if (unknown.length + dupes.length === 0) {
    return undefined;
  }
  return `unsettled day (a sync failed): stored rows the bank never sent (${unknown.length}):\n${describeRows(unknown)}\n  more copies than the bank sent (${dupes.length}):\n${describeRows(dupes)}`;
}

/** Removes every Redis key of the scenario's queue prefix. */
async function removeKeys(queues: Queues): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await queues.redis.scan(cursor, 'MATCH', `${queues.prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) {
      await queues.redis.del(...keys);
    }
  } while (cursor !== '0');
}

/** GET /v1/transactions (live statuses, every page) against the stored live rows: the same rows, exact text. */
async function checkApi(api: { app: Express; key: string }, db: Database, accountId: string, label: string, from: IsoDate, to: IsoDate): Promise<void> {
  const got: string[] = [];
  let cursor: string | null = null;
  do {
    const q = `accountId=${accountId}&status=pending,posted&bookingDateFrom=${from}&bookingDateTo=${to}&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await request(api.app).get(`/v1/transactions?${q}`).set('authorization', `Bearer ${api.key}`);
    if (res.status !== 200) {
      throw new ModelViolation(`read API for ${label}: ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
    }
    const body = res.body as { data: ApiTransaction[]; nextCursor: string | null };
    got.push(...body.data.map(apiProjection));
    cursor = body.nextCursor;
  } while (cursor);
  const stored = [...(await storedLiveRows(db, accountId, from, to)).values()].flat().map(rowProjection);
  const missing = stored.filter((r) => !got.includes(r));
  const extra = got.filter((r) => !stored.includes(r));
  if (missing.length + extra.length > 0 || got.length !== stored.length) {
    throw new ModelViolation(
      `read API live set of ${label} differs from the stored one (${got.length} vs ${stored.length} rows):\n  stored, not served:\n    ${missing.join('\n    ').slice(0, 3000)}\n  served, not stored:\n    ${extra.join('\n    ').slice(0, 3000)}`,
    );
  }
}
