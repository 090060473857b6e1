import './node-version.ts';
import { parseArgs } from 'node:util';
import { createApiKey } from '../admin-api/api-keys.service.ts';
import { createContext, type AppContext } from './context.ts';
import { generateCsr, installCertificate } from '../credentials/index.ts';
import {
  createIntegration,
  recordApiAccess,
  recordEligibility,
  recordJpmProject,
  recordSecurityAdmin,
  transition,
} from '../onboarding/index.ts';
import { getRun, startWorkers, triggerSync, type RunView } from '../scheduler/index.ts';
import { uuidv7 } from '../shared/ids.ts';
import { createLogger } from '../shared/logger.ts';
import { formatMinorUnits, toMinorUnits } from '../shared/money.ts';
import { addDays, isWeekend, localDate, type IsoDate } from '../shared/time.ts';
import { startSimulator, signCsr, type RunningSimulator } from '../simulator/index.ts';
import { listAccountsOfIntegration } from '../storage/accounts.repo.ts';
import { migrateUp } from '../storage/migrator.ts';
import { insertOrganization } from '../storage/organizations.repo.ts';
import { integrationTotals, postedTransactionKeys } from '../storage/transaction-totals.repo.ts';
import { discoverAccounts } from '../sync/discover-accounts.ts';
import {
  createValidationReport,
  createValidationReportProvider,
  healAccountDays,
  type ValidationReportDocument,
} from '../validation/index.ts';
import { checkDependencies, exitOnDependencyError, loadConfigOrExit } from './bootstrap.ts';
import { validationRefetch, withValidationHook } from './validation-wiring.ts';
import { startApi } from './api.ts';
import { onShutdown, runSteps, shuttingDown, type Stoppable } from './lifecycle.ts';
import { startSearchIndex } from './events-wiring.ts';

/**
 * `npm run demo`: the whole job end to end against the built-in simulator, on a fresh clone with
 * only Postgres and Redis running. Onboards a demo customer through the six steps (CSR signed by
 * the simulator's CA, as J.P. Morgan issues one), discovers its accounts, backfills 90 days,
 * watches yesterday's current day, lets it post this morning and validates. The bank reports a few
 * postings late (in its balances at once, in its transaction reports only days later), so the first
 * report names broken days and the late item behind each. The demo then moves the bank's clock on,
 * morning by morning, running the prior-day sync and the validation sweep (which re-fetches open
 * days) as the worker would, until the late postings arrive, the days heal and the report passes;
 * then the integration goes `live`. `--once` exits after the summary, 0 only if it got there;
 * otherwise the service and simulator keep running until Ctrl-C.
 *
 * The demo moves a clock of its own ("yesterday afternoon" for the intraday run, then each
 * morning), shared by the service parts it runs and the simulator.
 */
const ZONE = 'America/New_York';
const OPS = 'demo@jpm-sync.example';
const BACKFILL_DAYS = 90;
/** Business mornings the demo moves the bank on at most while waiting for late postings. */
const MAX_MORNINGS = 10;

function previousBusinessDay(d: IsoDate): IsoDate {
  let p = addDays(d, -1);
  while (isWeekend(p)) {
    p = addDays(p, -1);
  }
  return p;
}

function nextBusinessDay(d: IsoDate): IsoDate {
  let n = addDays(d, 1);
  while (isWeekend(n)) {
    n = addDays(n, 1);
  }
  return n;
}

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

async function waitForRuns(ctx: AppContext, runIds: readonly string[], label: string): Promise<RunView[]> {
  const tty = process.stderr.isTTY;
  for (;;) {
    const runs = await Promise.all(runIds.map((id) => getRun({ db: ctx.db }, id)));
    const total = runs.reduce((s, r) => s + Math.max(r.progress.windowsTotal, 1), 0);
    const done = runs.reduce(
      (s, r) =>
        s +
        (['succeeded', 'failed', 'partial', 'cancelled'].includes(r.status)
          ? Math.max(r.progress.windowsTotal, 1)
          : r.progress.windowsDone),
      0,
    );
    const records = runs.reduce((s, r) => s + r.counts.fetched, 0);
    if (tty) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      process.stderr.write(
        `\r  ${label.padEnd(22)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} windows, ${records} records`,
      );
    }
    if (runs.every((r) => ['succeeded', 'failed', 'partial', 'cancelled'].includes(r.status))) {
      if (tty) {
        process.stderr.write('\n');
      }
      const failed = runs.filter((r) => r.status !== 'succeeded');
      if (failed.length > 0) {
        throw new Error(
          `${label}: ${failed.length} run(s) did not succeed: ${failed.map((r) => `${r.status} ${r.error?.code ?? ''} ${r.error?.message ?? ''}`).join('; ')}`,
        );
      }
      out(`  ${label}: ${runs.length} run(s) succeeded, ${records} records read`);
      return runs;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function onboard(ctx: AppContext, sim: RunningSimulator, organizationId: string): Promise<string> {
  const integration = await createIntegration(ctx.db, {
    organizationId,
    name: 'Demo Treasury',
    environment: 'simulator',
    baseUrl: sim.url,
    serverCaPem: sim.caCertPem,
    actor: OPS,
  });
  const id = integration.id;
  const move = (to: Parameters<typeof transition>[1]['to'], note: string) =>
    transition(ctx.db, { integrationId: id, to, actor: OPS, note });
  await recordEligibility(ctx.db, {
    integrationId: id,
    actor: OPS,
    checklist: {
      jpmAccessAccount: true,
      notChaseConnect: true,
      jpmRepresentative: 'Jordan Rep (J.P. Morgan)',
      signingAuthority: 'Sam Signer (CFO)',
    },
  });
  await move('kickoff', '1. eligibility confirmed: J.P. Morgan Access, a JPM rep, signing authority');
  await recordJpmProject(ctx.db, { integrationId: id, projectId: 'demo-dev-portal-project', actor: OPS });
  await move('technical_setup', '2. kickoff held; developer-portal project created');
  const keyPair = await generateCsr(ctx.db, ctx.secrets, {
    integrationId: id,
    actor: OPS,
    subject: {
      country: 'US',
      state: 'New York',
      locality: 'New York',
      organization: 'Demo Treasury Inc',
      organizationalUnit: 'Treasury',
    },
  });
  await recordApiAccess(ctx.db, { integrationId: id, status: 'requested', actor: OPS });
  await move('security_admins', '3. key generated, CSR submitted, API access requested');
  await recordSecurityAdmin(ctx.db, {
    integrationId: id,
    side: 'customer',
    name: 'Casey Controller',
    email: 'casey@demo-treasury.example',
    role: 'Security administrator',
    actor: OPS,
  });
  await recordSecurityAdmin(ctx.db, {
    integrationId: id,
    side: 'ours',
    name: 'Riley Reconciler',
    email: 'riley@jpm-sync.example',
    role: 'Security administrator',
    actor: OPS,
  });
  await move('awaiting_approval', '4. security administrators designated');
  // 5. J.P. Morgan approves and issues the certificate: here the simulator's CA signs our CSR.
  const certificatePem = await signCsr(sim.pki, keyPair.csrPem);
  await installCertificate(ctx.db, { integrationId: id, certificatePem, chainPem: sim.caCertPem, actor: OPS });
  await recordApiAccess(ctx.db, { integrationId: id, status: 'confirmed', actor: OPS });
  await move('approved', '5. approved; certificate installed');
  out(
    `  onboarded integration ${id}: requested → kickoff → technical_setup → security_admins → awaiting_approval → approved`,
  );
  return id;
}

interface Summary {
  accounts: number;
  transactions: number;
  pending: number;
  superseded: number;
  removed: number;
  balances: number;
  duplicates: number;
  truthMissing: number;
  truthExtra: number;
  /** Late postings already in the bank's balances that its transaction reports do not return yet. */
  unrevealed: string[];
}

async function summarize(ctx: AppContext, sim: RunningSimulator, integrationId: string): Promise<Summary> {
  const row = await integrationTotals(ctx.db, integrationId);
  // Compare every posted row with the bank's own final ledger (ids and amounts to the minor unit).
  const truth = sim.groundTruth();
  const posted = await postedTransactionKeys(ctx.db, integrationId);
  const from = posted.reduce((m, r) => (r.booking_date < m ? r.booking_date : m), '9999-12-31');
  const ours = new Set(posted.map((r) => `${r.jpm_account_id}|${r.jpm_transaction_id}|${r.amount_minor}`));
  const theirs = new Set(
    truth.accounts.flatMap((a) =>
      a.transactions
        .filter((t) => t.asOfDate >= from)
        .map((t) => `${a.accountId}|${t.transactionId}|${toMinorUnits(t.amount, a.decimalLocation)}`),
    ),
  );
  return {
    accounts: Number(row.accounts),
    transactions: Number(row.transactions),
    pending: Number(row.pending),
    superseded: Number(row.superseded),
    removed: Number(row.removed),
    balances: Number(row.balances),
    duplicates: Number(row.duplicates),
    truthMissing: [...theirs].filter((k) => !ours.has(k)).length,
    truthExtra: [...ours].filter((k) => !theirs.has(k)).length,
    unrevealed: truth.accounts.flatMap((a) =>
      a.unrevealed.map(
        (u) =>
          `${u.asOfDate} ${u.debitCreditCode === 'CREDIT' ? '+' : '-'}${u.amount} ${a.currency} (reported from ${u.revealDate})`,
      ),
    ),
  };
}

interface LateItem {
  jpmAccountId: string;
  day: IsoDate;
  signedMinor: bigint;
  text: string;
  revealDate: IsoDate;
}

/** Late postings the bank already has in its balances but does not report in its transactions yet. */
function lateItems(sim: RunningSimulator): LateItem[] {
  return sim.groundTruth().accounts.flatMap((a) =>
    a.unrevealed.map((u) => {
      const minor = toMinorUnits(u.amount, a.decimalLocation);
      const signed = u.debitCreditCode === 'CREDIT' ? minor : -minor;
      return {
        jpmAccountId: a.accountId,
        day: u.asOfDate,
        signedMinor: signed,
        text: `${signed < 0n ? '' : '+'}${formatMinorUnits(signed, a.decimalLocation)} ${a.currency}`,
        revealDate: u.revealDate,
      };
    }),
  );
}

const verdictLine = (r: ValidationReportDocument): string =>
  `${r.passed ? 'passed' : 'not passed'}: ${r.summary.proved} account-days proved, ${r.summary.broken} broken, ${r.summary.unproved} unproved`;

/** For each broken day, the late item that explains it to the minor unit (the story of the demo). */
function explainBroken(
  report: ValidationReportDocument,
  late: readonly LateItem[],
  jpmIdOf: ReadonlyMap<string, string>,
): void {
  for (const a of report.accounts) {
    for (const d of a.calendar.filter((c) => c.state !== 'proved')) {
      const off = d.differenceMinor === null ? null : BigInt(d.differenceMinor);
      const items = late.filter((l) => l.jpmAccountId === jpmIdOf.get(a.accountId) && l.day === d.day);
      const sum = items.reduce((t, l) => t + l.signedMinor, 0n);
      const what =
        off === null
          ? `${d.state} (${(d.reason ?? 'unknown').replaceAll('_', ' ')})`
          : `off by ${formatMinorUnits(off, a.decimalLocation)} ${a.currency}`;
      const why =
        items.length > 0 && off === sum
          ? `broken by exactly this late item: ${items.map((l) => `${l.text}, in the bank's balance already, reported in its transactions from ${l.revealDate}`).join('; ')}`
          : 'no late posting explains it';
      out(`      ${a.accountMasked} ${d.day} ${what}: ${why}`);
    }
  }
}

interface HealContext {
  ctx: AppContext;
  sim: RunningSimulator;
  integrationId: string;
  producer: Parameters<typeof triggerSync>[0];
  refetch: ReturnType<typeof validationRefetch>;
  setMorning: (day: IsoDate) => void;
  period: { from: IsoDate; to: IsoDate };
}

const stateKey = (accountId: string, day: IsoDate): string => `${accountId}|${day}`;

function openDays(report: ValidationReportDocument): Map<string, string> {
  return new Map(
    report.accounts.flatMap((a) =>
      a.calendar
        .filter((d) => d.state !== 'proved')
        .map((d) => [stateKey(a.accountId, d.day), a.accountMasked] as const),
    ),
  );
}

/**
 * Moves the bank on one business morning at a time: the prior-day sync (which also re-reads the
 * last few days), then the validation sweep's heal of every day still open (a re-fetch), then a new
 * report over the same period. Stops when the report passes or after MAX_MORNINGS.
 */
async function healUntilPassed(
  h: HealContext,
  start: IsoDate,
  first: ValidationReportDocument,
): Promise<ValidationReportDocument> {
  const accounts = await listAccountsOfIntegration(h.ctx.db, h.integrationId);
  const jpmIdOf = new Map(accounts.map((a) => [a.id, a.jpm_account_id]));
  const lateFor = (late: readonly LateItem[], accountId: string, day: IsoDate) =>
    late.filter((l) => l.jpmAccountId === jpmIdOf.get(accountId) && l.day === day);
  let report = first;
  let day = start;
  for (let morning = 0; !report.passed && morning < MAX_MORNINGS; morning++) {
    day = nextBusinessDay(day);
    const now = () => new Date(`${day}T14:30:00Z`);
    const before = lateItems(h.sim);
    h.setMorning(day);
    out(`  ${day}, 09:30 in New York`);
    const prior = await triggerSync(h.producer, {
      integrationId: h.integrationId,
      request: { mode: 'prior_day' },
      trigger: 'demo',
    });
    await waitForRuns(
      h.ctx,
      prior.runs.map((r) => r.runId),
      `  prior-day ${previousBusinessDay(day)}`,
    );
    for (const a of accounts) {
      const healed = await healAccountDays({ db: h.ctx.db, refetch: h.refetch, now }, { accountId: a.id });
      for (const w of healed.windows.filter((x) => x.outcome !== 'healed')) {
        for (const d of w.days) {
          const pending = lateFor(lateItems(h.sim), a.id, d.day);
          const why =
            pending.length > 0
              ? `its late posting ${pending.map((l) => `${l.text} is reported only from ${l.revealDate}`).join(', ')}`
              : w.outcome === 'refetch_failed'
                ? `the re-fetch failed: ${w.error ?? ''}`
                : 'still open';
          out(
            `    validation sweep re-fetched ****${a.jpm_account_id.slice(-4)} ${d.day} (attempt ${d.attempt}): ${why}`,
          );
        }
      }
    }
    const wasOpen = openDays(report);
    report = await createValidationReport(
      { db: h.ctx.db, now },
      { integrationId: h.integrationId, ...h.period, requestedBy: OPS },
    );
    const stillOpen = openDays(report);
    for (const [key, masked] of wasOpen) {
      if (!stillOpen.has(key)) {
        const [accountId = '', healedDay = ''] = key.split('|');
        const items = lateFor(before, accountId, healedDay);
        out(
          `    ${masked} ${healedDay} healed: the bank now reports ${items.length > 0 ? items.map((l) => l.text).join(', ') : 'the missing items'} → proved`,
        );
      }
    }
    out(`    validation report ${report.period.from} to ${report.period.to}: ${verdictLine(report)}`);
  }
  return report;
}

/**
 * The demo's queues, unless QUEUE_PREFIX says otherwise: a prefix of its database's own. A demo on another database
 * (`DATABASE_URL=… npm run demo`) or a service beside it on the same Redis would otherwise share the default prefix,
 * and each process's workers would take the other's jobs and drop them (their runs are in the other database), so the
 * runs waited for ever.
 */
function demoQueuePrefix(env: NodeJS.ProcessEnv): string | undefined {
  if (env.QUEUE_PREFIX !== undefined) {
    return env.QUEUE_PREFIX;
  }
  let database = 'jpm_sync';
  try {
    database = decodeURIComponent(new URL(env.DATABASE_URL ?? '').pathname.slice(1)) || database;
  } catch {
    // No DATABASE_URL (the default database), or one the configuration refuses with its own message.
  }
  return `{jpm-sync-demo-${database.replace(/[^A-Za-z0-9_.-]/g, '_')}}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { once: { type: 'boolean', default: false } } });
  const startedAt = Date.now();
  // The demo prints its own story; service logs below warnings would drown it (LOG_LEVEL still wins).
  const { config, secrets, logger } = loadConfigOrExit({
    ...process.env,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    QUEUE_PREFIX: demoQueuePrefix(process.env),
  });
  out('jpm-sync demo: the whole job against the built-in J.P. Morgan simulator');
  await checkDependencies(config, secrets, { redis: true, createDb: true }).catch(exitOnDependencyError);
  const ctx = createContext(config, secrets);
  const stops: Stoppable[] = [];
  onShutdown(
    logger,
    config.shutdownTimeoutMs,
    () => [...stops.reverse(), { name: 'context', stop: () => ctx.close() }],
    {
      // --once promises 0 only for a demo that ended live: one stopped before its summary did not.
      exitCode: values.once ? 1 : 0,
      onSignal: () => {
        if (values.once) {
          out('--once: stopped before the summary (exit 1); the service and simulator stop now.');
        }
      },
    },
  );

  const migrated = await migrateUp(ctx.db);
  if (migrated.error) {
    throw migrated.error instanceof Error ? migrated.error : new Error('migration failed');
  }
  out(`  database ${new URL(config.database.url).pathname.slice(1)} migrated`);

  // The demo's business days: yesterday (intraday), then this morning (prior-day), in New York.
  // On a weekend the demo plays the Friday before: the bank's business days are its clock.
  let today = localDate(new Date(), ZONE);
  while (isWeekend(today)) {
    today = addDays(today, -1);
  }
  const yesterday = previousBusinessDay(today);
  // The demo's clock, shared by the sync workers and the simulator; it stays on the demo's last
  // morning afterwards so syncs triggered through the API agree with the simulated bank's day.
  let clock = new Date(`${yesterday}T20:00:00Z`);
  const now = () => clock;
  const sim = await startSimulator({
    host: config.simulator.host,
    port: 0,
    pkiDir: config.simulator.pkiDir,
    seed: 'demo',
    today: yesterday,
    progress: 0.6,
    historyDays: BACKFILL_DAYS + 10,
    txPerDay: 30,
    accounts: [{ currency: 'USD' }, { currency: 'USD' }, { currency: 'EUR' }, { currency: 'JPY' }, { currency: 'KWD' }],
  });
  stops.push({ name: 'simulator', stop: () => sim.stop() });
  out(`  simulator listening at ${sim.url} (mutual TLS, dev CA in ${config.simulator.pkiDir})`);

  const organizationId = uuidv7();
  await insertOrganization(ctx.db, { id: organizationId, name: 'Demo Treasury Inc' });
  const integrationId = await onboard(ctx, sim, organizationId);
  const discovered = await discoverAccounts(
    ctx.db,
    await ctx.clientFor(integrationId),
    { id: integrationId, organizationId },
    ZONE,
  );
  out(
    `  discovered ${discovered.accounts.length} accounts from J.P. Morgan: ${discovered.accounts.map((a) => `****${a.jpm_account_id.slice(-4)} ${a.currency}`).join(', ')}`,
  );
  await transition(ctx.db, {
    integrationId,
    to: 'validating',
    actor: OPS,
    note: '6. accounts configured; data flowing; validation next',
  });
  // When the demo stops, so does its simulator: pause the integration so a later `npm start` on this
  // database does not schedule syncs against a bank that is gone.
  stops.push({
    name: 'pause-demo-integration',
    stop: async () =>
      void (await transition(ctx.db, {
        integrationId,
        to: 'paused',
        actor: OPS,
        note: 'demo ended; its simulator stopped',
      })),
  });

  const api = await startApi(ctx);
  stops.push(api);
  const syncDeps = withValidationHook({
    db: ctx.db,
    clientFor: (id) => ctx.clientFor(id),
    now,
    logger: createLogger('sync'),
    lookbackDays: config.sync.lookbackDays,
  });
  const workers = startWorkers(
    {
      queues: ctx.queues,
      sync: syncDeps,
      logger: createLogger('scheduler'),
    },
    {
      redisUrl: config.redis.url,
      redisClusterNodes: config.redis.clusterNodes,
      database: { url: config.database.url, password: secrets.databasePassword },
      concurrency: config.queue.concurrency,
    },
  );
  stops.push({ name: 'worker', stop: () => workers.close() });
  // Text search (q=) after commit, as the worker role runs it.
  const search = startSearchIndex(ctx);
  stops.push({ name: 'search-index', stop: () => search.stop() });
  const producer = {
    db: ctx.db,
    queues: ctx.queues,
    now,
    logger: createLogger('scheduler'),
    lookbackDays: config.sync.lookbackDays,
  };

  const from = addDays(yesterday, -BACKFILL_DAYS);
  const backfill = await triggerSync(producer, {
    integrationId,
    request: { mode: 'range', from, to: addDays(yesterday, -1) },
    trigger: 'demo',
  });
  await waitForRuns(
    ctx,
    backfill.runs.map((r) => r.runId),
    `backfill ${BACKFILL_DAYS} days`,
  );
  const intraday = await triggerSync(producer, { integrationId, request: { mode: 'intraday' }, trigger: 'demo' });
  await waitForRuns(
    ctx,
    intraday.runs.map((r) => r.runId),
    `intraday ${yesterday}`,
  );
  // The next morning: yesterday's current day comes back as prior-day data with new ids.
  clock = new Date(`${today}T14:30:00Z`);
  sim.setClock({ today, progress: 0.2 });
  const prior = await triggerSync(producer, { integrationId, request: { mode: 'prior_day' }, trigger: 'demo' });
  await waitForRuns(
    ctx,
    prior.runs.map((r) => r.runId),
    `prior-day ${yesterday}`,
  );

  // Step 6: the validation report a controller would accept; live only when it passes.
  const period = { from, to: yesterday };
  const late = lateItems(sim);
  const firstReport = await createValidationReport({ db: ctx.db, now }, { integrationId, ...period, requestedBy: OPS });
  out(`  validation report ${firstReport.period.from} to ${firstReport.period.to}: ${verdictLine(firstReport)}`);
  const jpmIdOf = new Map(
    (await listAccountsOfIntegration(ctx.db, integrationId)).map((a) => [a.id, a.jpm_account_id]),
  );
  explainBroken(firstReport, late, jpmIdOf);
  let report = firstReport;
  if (!report.passed) {
    out('');
    out("Moving the bank's clock on, one business morning at a time, until it reports the late postings:");
    report = await healUntilPassed(
      {
        ctx,
        sim,
        integrationId,
        producer,
        period,
        refetch: validationRefetch(ctx.db, syncDeps),
        setMorning: (day) => {
          clock = new Date(`${day}T14:30:00Z`);
          sim.setClock({ today: day, progress: 0.2 });
        },
      },
      today,
      firstReport,
    );
  }
  let stage = 'validating';
  if (report.passed) {
    await transition(
      ctx.db,
      { integrationId, to: 'live', actor: OPS, note: 'validation report passed' },
      { validationReportPassed: createValidationReportProvider(ctx.db, { now }) },
    );
    stage = 'live';
  }
  const s = await summarize(ctx, sim, integrationId);
  const key = await createApiKey(ctx.db, {
    name: 'demo admin',
    role: 'admin',
    organizationId: null,
    createdByKeyId: null,
  });
  const address = api.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const base =
    config.http.publicBaseUrl || `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${port}`;
  out('');
  out('Summary');
  out(`  accounts                  ${s.accounts}`);
  out(`  transactions (posted)     ${s.transactions}`);
  out(`  pending (current day)     ${s.pending}`);
  out(`  pending superseded        ${s.superseded} (linked to their posted items)`);
  out(`  pending never posted      ${s.removed} (marked removed, kept)`);
  out(`  balances                  ${s.balances}`);
  out(`  duplicates                ${s.duplicates}`);
  out(`  vs the bank's ledger      ${s.truthMissing} missing, ${s.truthExtra} extra`);
  out(`  first validation report   ${verdictLine(firstReport)} (late postings the bank had not reported yet)`);
  out(`  validation report         ${verdictLine(report)}`);
  for (const reason of report.passed ? [] : report.reasons.slice(0, 3)) {
    out(`                            - ${reason}`);
  }
  if (s.unrevealed.length > 0) {
    out(`  late postings not yet     ${s.unrevealed.join('; ')}`);
    out(
      '  reported by the bank      (after the validated period; in its balances already, their days heal the same way)',
    );
  }
  out(`  integration stage         ${stage}`);
  out(`  time taken                ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  out('');
  out(`  API         ${base}/v1   (docs: ${base}/docs, OpenAPI: ${base}/openapi.json, queues: ${base}/admin/queues)`);
  out(`  console     ${base}/console/   (sign in with the admin key: onboarding board, runs, validation calendar)`);
  out(`  admin key   ${key.token}   (shown once; send it as "Authorization: Bearer …")`);
  out(`  report      ${base}/v1/validations/${report.id}.html   (with the admin key)`);
  out(`  try         curl -H "Authorization: Bearer ${key.token}" ${base}/v1/transactions?limit=5`);
  const ok = stage === 'live' && s.duplicates === 0 && s.truthMissing === 0 && s.truthExtra === 0;
  if (values.once) {
    out('');
    out(
      `--once: ${ok ? 'ended live' : 'did NOT end live with the data matching the bank (exit 1)'}; the service and simulator stop now (run \`npm run demo\` without it to keep them up).`,
    );
    await runSteps(logger, [...stops.reverse(), { name: 'context', stop: () => ctx.close() }]);
    process.exit(ok ? 0 : 1);
  }
  out('');
  out('The service and the simulator keep running; Ctrl-C stops them.');
}

main().catch((err: unknown) => {
  if (shuttingDown()) {
    // A step failing because the stop closed what it used: the stop finishes and exits with its own status.
    return;
  }
  process.stderr.write(`jpm-sync demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
