import type { Express } from 'express';
import { JpmClient } from '../../src/jpm/client.ts';
import type { TlsCredential } from '../../src/jpm/credential-agents.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { addDays, diffDays, eachDay, type IsoDate } from '../../src/shared/time.ts';
import { accountDayView, type AccountDayView } from '../../src/simulator/bank-view.ts';
import {
  DEFAULT_QUIRKS,
  startSimulator,
  type FaultRule,
  type Quirks,
  type RunningSimulator,
} from '../../src/simulator/index.ts';
import type { Database } from '../../src/storage/db.ts';
import { bankClientOf } from '../../src/sync/jpm-bank.ts';
import type { SyncDeps } from '../../src/sync/sync-account.ts';
import { onPostedDays } from '../../src/validation/index.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import {
  candidateOf,
  checkApi,
  dedupe,
  EMPTY_VIEW,
  exactProblem,
  looseProblem,
  ModelViolation,
  type DayModel,
} from './model-checks.ts';
import { storedLiveRows, storedProof } from './model-rows.ts';
import { startQueuePath, syncThroughQueue, syncWithRetries, type QueuePath } from './model-service.ts';

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
 * day and the business days of the look-back before it; a range every business day in it), or any view the bank showed since (a look-back may re-read a
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
  credential: TlsCredential;
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

const LOOKBACK_DAYS = 5;

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
  readonly totals = {
    steps: 0,
    syncs: 0,
    failedSyncs: 0,
    rowsChecked: 0,
    pendingGone: 0,
    pendingBack: 0,
    faultsFired: 0,
  };
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
    const marks = Object.entries(this.seen)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([m, n]) => `${m} ${n}`)
      .join(', ');
    return `[model-bank] ${label}: ${this.scenarios} scenarios, ${JSON.stringify(this.totals)}; records by mark: ${marks}`;
  }
}

/** Runs one scenario; throws `ModelViolation` (with the step and the account-day diff) on the first mismatch. */
export async function runScenario(env: ModelEnv, sc: ModelScenario, via: ModelVia = 'direct'): Promise<ScenarioRun> {
  const sim = await startSimulator({
    pkiDir: env.pkiDir,
    seed: sc.seed,
    accounts: sc.currencies.map((currency) => ({ currency })),
    today: sc.start,
    progress: 0.3,
    historyDays: sc.historyDays,
    txPerDay: sc.txPerDay,
    quirks: { ...DEFAULT_QUIRKS, ...sc.quirks },
    holidays: sc.holidays,
    defaultPageSize: sc.pageSize,
  });
  const client = new JpmClient({
    baseUrl: sim.url,
    credentials: () => Promise.resolve(env.credential),
    refusalProbeMs: 300,
    timeouts: { connectMs: 2_000, headersMs: 1_500, bodyMs: 1_500, requestMs: 3_000 },
  });
  let queue: QueuePath | undefined;
  const run: ScenarioRun = {
    stepsRun: 0,
    syncs: 0,
    failedSyncs: 0,
    rowsChecked: 0,
    seen: {},
    pendingGone: 0,
    pendingBack: 0,
    faultsFired: 0,
    log: [],
  };
  const pendingBefore = new Map<string, Set<string>>();
  const everGone = new Set<string>();
  try {
    const bank = bankClientOf(client);
    const tenancy = await createTenancy(env.db, { baseUrl: sim.url, name: `model ${sc.seed}` });
    const accounts: { id: string; jpmAccountId: string }[] = [];
    for (const a of sim.accounts) {
      const row = await createAccount(env.db, tenancy, {
        jpmAccountId: a.accountId,
        currency: a.currency.code,
        decimalLocation: a.currency.decimalLocation,
      });
      accounts.push({ id: row.id, jpmAccountId: a.accountId });
    }
    let skew = 0;
    const now = () => new Date(`${addDays(sim.clock().today, skew)}T17:00:00Z`);
    const deps: SyncDeps = {
      db: env.db,
      clientFor: () => Promise.resolve(bank),
      now,
      logger: createLogger('sync'),
      lookbackDays: LOOKBACK_DAYS,
      onPostedDays: (accountId, dates) => onPostedDays(env.db, accountId, dates, now()),
    };
    if (via === 'queue') {
      queue = await startQueuePath(deps, env.dbUrl, LOOKBACK_DAYS);
    }
    const producer = queue?.producer;
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
          // Prior-day runs re-read the look-back days before the prior business day (late postings).
          const prior = sim.calendar.priorBusinessDay(today);
          covers = one.mode === 'intraday' ? [today] : sim.calendar.businessDays(addDays(prior, -LOOKBACK_DAYS), prior);
        }
        const outcome = producer
          ? await syncThroughQueue(producer, acct.id, job)
          : await syncWithRetries(deps, acct.id, job);
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
          run.log.push(
            `#${index} ${r.label}${syncs.length > 1 ? ' (together)' : ''}: ${r.outcome.ok ? 'ok' : `failed (${r.outcome.code})`}`,
          );
          if (r.outcome.ok) {
            for (const date of r.covers) {
              const views = viewsDuring(sim, accounts[r.ai]!.jpmAccountId, date, before, r.intraday);
              // A current-day walk holding no record of the account removes nothing (it has no date of its own:
              // src/sync/intraday.ts `ofDay`), so what the day held before may stand.
              const earlier =
                r.intraday && views.some((v) => v.records.length === 0)
                  ? track(r.ai, date).candidates.map((c) => c.view)
                  : [];
              required.set(`${r.ai}|${date}`, [...(required.get(`${r.ai}|${date}`) ?? []), ...earlier, ...views]);
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
        await checkApi(
          env.api,
          env.db,
          acct.id,
          `account ${ai} (****${acct.jpmAccountId.slice(-4)})`,
          firstDate,
          addDays(sim.clock().today, 1),
        );
      }
    }
    run.faultsFired = sim.stats().faultsInjected;
    return run;
  } finally {
    await queue?.close();
    await client.close();
    await sim.stop();
  }
}

/** The views a step may have stored for a day: for an intraday walk, every snapshot the clock passed through while pages shifted. */
function viewsDuring(
  sim: RunningSimulator,
  jpmAccountId: string,
  date: IsoDate,
  before: { today: IsoDate; progress: number },
  intraday: boolean,
): AccountDayView[] {
  const after = sim.clock();
  if (!intraday || after.progress === before.progress) {
    return [sim.view(jpmAccountId, date)];
  }
  const views: AccountDayView[] = [];
  for (let p = before.progress; p <= after.progress + 1e-9; p += 0.05) {
    views.push(
      accountDayView(
        sim.ledger,
        {
          today: after.today,
          progress: Math.min(p, after.progress),
          withdrawalsAt: after.withdrawalsAt ?? before.progress,
        },
        jpmAccountId,
        date,
      ),
    );
  }
  views.push(sim.view(jpmAccountId, date));
  return views;
}
