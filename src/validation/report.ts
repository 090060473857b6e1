import { ConflictError, NotFoundError, ValidationError, errorMessage } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { formatMinorUnits } from '../shared/money.ts';
import { addDays, assertIsoDate, diffDays, type IsoDate } from '../shared/time.ts';
import { listAccountsOfIntegration, type AccountRow } from '../storage/accounts.repo.ts';
import { listReportDays } from '../storage/account-days.repo.ts';
import { countUndatedOpenRejects } from '../storage/validation-ledger.repo.ts';
import { inTransaction, type BeforeCommit, type Database } from '../storage/db.ts';
import { findIntegrationHeading, lastApprovalAt } from '../storage/integration-lifecycle.repo.ts';
import { businessDayAt } from '../domain/business-day.ts';
import {
  completeValidationReport,
  failValidationReport,
  insertValidationReport,
} from '../storage/validation-reports.repo.ts';
import { proveAccountDays, type AccountDayState } from './balance-proof.ts';
import { coverage } from './coverage.ts';
import { explainDay, type DayEvidence } from './day-reasons.ts';
import { lastClosedDay } from './days.ts';
import { detectDuplicateSuspicions, listActiveSuspicions } from './duplicates.ts';
import type { AccountReport, SuspicionEntry, ValidationReportDocument } from './report-types.ts';

export interface ReportDeps {
  db: Database;
  now(): Date;
  logger?: Logger;
  /** An account not synced for this many hours is a coverage gap (default 26: a missed prior-day run). */
  staleHours?: number;
}

export interface ReportRequest {
  integrationId: string;
  from?: IsoDate;
  to?: IsoDate;
  requestedBy: string;
  /** Called after each account (the CLI draws its progress bar from it). */
  onProgress?: (p: { done: number; total: number; accountId: string }) => void;
}

const MAX_PERIOD_DAYS = 366;
export const DEFAULT_STALE_HOURS = 26;

export function mask(accountNumber: string): string {
  return accountNumber.length <= 4 ? accountNumber : `****${accountNumber.slice(-4)}`;
}

async function resolvePeriod(
  db: Database,
  integrationId: string,
  req: ReportRequest,
  accounts: readonly AccountRow[],
  now: Date,
) {
  const latestClosed =
    accounts
      .map((a) => lastClosedDay(now, a.time_zone, a))
      .sort()
      .at(-1) ?? lastClosedDay(now, 'UTC');
  // No day after the last closed one has final data yet: a period reaching past it ends there (as every account's
  // proofs do), and one starting after it has nothing to prove.
  const asked = req.to ? assertIsoDate(req.to, 'to') : latestClosed;
  const to = diffDays(asked, latestClosed) < 0 ? latestClosed : asked;
  let from: IsoDate;
  let basis: ValidationReportDocument['period']['basis'] = 'requested';
  let startOf = new Map<string, IsoDate>();
  if (req.from) {
    from = assertIsoDate(req.from, 'from');
    if (diffDays(from, latestClosed) < 0) {
      throw new ValidationError(
        `period start ${from} is after ${latestClosed}, the last day whose final data can exist; ask for a period starting on or before it`,
        [{ path: 'from', message: `must be ${latestClosed} or before` }],
      );
    }
  } else {
    const approvedAt = await lastApprovalAt(db, integrationId);
    if (approvedAt) {
      // Each account from its own business day at the approval (its zone, its bank's calendar); the period from the
      // earliest of them, so it holds every account's.
      const starts = accounts.map((a) => [a.id, businessDayAt(a, approvedAt)] as const);
      startOf = new Map(starts);
      from = starts.map(([, d]) => d).sort()[0] ?? businessDayAt({ time_zone: 'UTC', ...NO_BANK_DAY }, approvedAt);
      basis = 'since_approval';
    } else {
      from = addDays(to, -29);
      basis = 'last_30_days';
    }
  }
  if (basis === 'since_approval' && to === latestClosed) {
    refuseWhenNothingClosedYet(accounts, startOf, now);
  }
  if (diffDays(from, to) < 0) {
    throw new ValidationError(`period start ${from} is after its end ${to}`, [
      { path: 'from', message: 'must not be after to' },
    ]);
  }
  if (diffDays(from, to) >= MAX_PERIOD_DAYS) {
    throw new ValidationError(`a validation period is at most ${MAX_PERIOD_DAYS} days`, [
      { path: 'from', message: 'period too long' },
    ]);
  }
  // An account's own start is never before the period's (a requested period starts every account on its `from`).
  return { from, to, basis, fromOf: (a: AccountRow) => startOf.get(a.id) ?? from };
}

const NO_BANK_DAY = { bank_business_day: null, bank_calendar_at: null } as const;

/**
 * Since approval, a report is owed once one account's bank has closed that account's first business day since the
 * approval. Until then there is nothing to report: not the caller's mistake (a 400), and never a report that passes
 * with nothing proved (every account not yet reportable adds no reason). Refused (409) naming each account's first day,
 * the earliest first, and the day after it: the earliest a report can be made (the bank closing the day is what makes
 * it; its prior-day data for the day is what proves it). Only a day, never an hour: J.P. Morgan states no time at
 * which it closes a business day.
 */
function refuseWhenNothingClosedYet(
  accounts: readonly AccountRow[],
  startOf: ReadonlyMap<string, IsoDate>,
  now: Date,
): void {
  const firstDays = accounts.map((a) => ({ a, day: startOf.get(a.id)! }));
  if (
    firstDays.length === 0 ||
    firstDays.some(({ a, day }) => diffDays(lastClosedDay(now, a.time_zone, a), day) <= 0)
  ) {
    return;
  }
  firstDays.sort((x, y) => (x.day < y.day ? -1 : x.day > y.day ? 1 : 0));
  const named = firstDays
    .map(
      ({ a, day }) =>
        `account ${mask(a.jpm_account_id)}: first business day ${day}, reportable from ${addDays(day, 1)} at the earliest`,
    )
    .join('; ');
  throw new ConflictError(
    "nothing to report yet: the bank has not closed any account's first business day since the approval. " +
      'A report can be made once it closes one, from the day after it at the earliest; made before ' +
      `J.P. Morgan's prior-day data for that day is in, it lists the day unproved. ${named}`,
    'validation_not_yet_reportable',
    {
      firstBusinessDays: firstDays.map(({ a, day }) => ({ accountId: a.id, day, reportableFrom: addDays(day, 1) })),
    },
  );
}

/**
 * An integration with no accounts (none registered yet, or every one removed) has nothing to prove, whatever the
 * period: not the caller's mistake (a 400), nor a report that fails for it, but a state the operator changes by adding
 * accounts (409 saying so).
 */
function refuseWithoutAccounts(integrationId: string, accounts: readonly AccountRow[]): void {
  if (accounts.length > 0) {
    return;
  }
  throw new ConflictError(
    `integration ${integrationId} has no accounts to validate; add its accounts first ` +
      `(POST /v1/integrations/${integrationId}/accounts/discover, or register each one), then ask again`,
    'integration_has_no_accounts',
  );
}

async function accountReport(
  deps: ReportDeps,
  a: AccountRow,
  from: IsoDate,
  periodTo: IsoDate,
  now: Date,
  sinceApproval: boolean,
): Promise<AccountReport> {
  const closed = lastClosedDay(now, a.time_zone, a);
  const to = diffDays(periodTo, closed) < 0 ? closed : periodTo;
  // Since approval, an account whose first business day the bank has not closed yet owes nothing yet: it is listed as
  // not yet reportable (its period empty, ending on its last closed day), not as a period with no business day in it.
  const notYet = sinceApproval && diffDays(closed, from) > 0;
  const { owed } = await proveAccountDays(deps.db, a.id, from, to, now);
  await detectDuplicateSuspicions(deps.db, a.id, from, to, now);
  const rows = owed.length === 0 ? [] : await listReportDays(deps.db, a.id, owed);
  const suspectedOn = new Map<string, number>();
  for (const s of await listActiveSuspicions(deps.db, [a.id], from, to)) {
    if (s.status === 'open') {
      suspectedOn.set(s.booking_date, (suspectedOn.get(s.booking_date) ?? 0) + 1);
    }
  }
  const undatedRejects = await countUndatedOpenRejects(deps.db, a.id, from);
  const days: Record<AccountDayState, number> = { proved: 0, broken: 0, unproved: 0 };
  const totals = { credits: 0n, debits: 0n, creditCount: 0, debitCount: 0 };
  for (const r of rows) {
    days[r.state as AccountDayState]++;
    totals.credits += BigInt(r.credits_minor);
    totals.debits += BigInt(r.debits_minor);
    totals.creditCount += r.credit_count;
    totals.debitCount += r.debit_count;
  }
  return {
    accountId: a.id,
    accountMasked: mask(a.jpm_account_id),
    accountName: a.account_name,
    currency: a.currency,
    decimalLocation: a.decimal_location,
    timeZone: a.time_zone,
    from,
    to: notYet ? to : diffDays(from, to) < 0 ? from : to,
    ...(notYet ? { notYetReportable: { firstDay: from, lastClosedDay: closed } } : {}),
    days,
    totals: {
      creditsMinor: totals.credits.toString(),
      debitsMinor: totals.debits.toString(),
      creditCount: totals.creditCount,
      debitCount: totals.debitCount,
    },
    calendar: rows.map((r) => {
      const differenceMinor = r.difference_minor === null ? null : String(r.difference_minor);
      const state = r.state as AccountDayState;
      const why = explainDay({
        state,
        reason: r.reason,
        differenceMinor,
        evidence: r.evidence as DayEvidence | null,
        healAttempts: r.heal_attempts,
        openSuspicions: suspectedOn.get(r.day) ?? 0,
        decimalLocation: a.decimal_location,
        currency: a.currency,
      });
      return { day: r.day, state, differenceMinor, ...why };
    }),
    ...(undatedRejects > 0 ? { undatedRejects } : {}),
    openSuspicions: 0,
  };
}

function verdict(doc: Omit<ValidationReportDocument, 'passed' | 'reasons'>): string[] {
  const reasons: string[] = [];
  for (const a of doc.accounts) {
    const label = `account ${a.accountMasked}`;
    if (a.calendar.length === 0 && !a.notYetReportable) {
      reasons.push(`${label}: no business day in the period`);
    }
    const broken = a.calendar.filter((d) => d.state === 'broken');
    if (broken.length > 0) {
      const shown = broken
        .slice(0, 3)
        .map(
          (d) =>
            `${d.day} off by ${formatMinorUnits(BigInt(d.differenceMinor ?? '0'), a.decimalLocation)} ${a.currency}${d.reason ? ` (${d.reason.replaceAll('_', ' ')})` : ''}`,
        );
      reasons.push(`${label}: ${broken.length} broken day(s): ${shown.join(', ')}${broken.length > 3 ? ', …' : ''}`);
    }
    if (a.undatedRejects) {
      reasons.push(
        `${label}: ${a.undatedRejects} rejected record(s) with no readable booking date still open (see the account's rejects)`,
      );
    }
    const unproved = a.calendar.filter((d) => d.state === 'unproved');
    if (unproved.length > 0) {
      const shown = unproved.slice(0, 3).map((d) => `${d.day} (${(d.reason ?? 'unknown').replaceAll('_', ' ')})`);
      reasons.push(
        `${label}: ${unproved.length} unproved day(s): ${shown.join(', ')}${unproved.length > 3 ? ', …' : ''}`,
      );
    }
  }
  const open = doc.suspicions.filter((s) => s.status === 'open').length;
  const confirmed = doc.suspicions.filter((s) => s.status === 'confirmed_duplicate').length;
  if (open > 0) {
    reasons.push(`${open} open duplicate suspicion(s) awaiting review`);
  }
  if (confirmed > 0) {
    reasons.push(`${confirmed} confirmed duplicate(s) still held as live transactions`);
  }
  for (const s of doc.coverage.staleAccounts) {
    const a = doc.accounts.find((x) => x.accountId === s.accountId);
    reasons.push(
      `account ${a?.accountMasked ?? s.accountId}: not synced in the last ${doc.coverage.staleHours} weekday hours`,
    );
  }
  const unrecovered = doc.coverage.failedWindows.filter((w) => !w.recovered).length;
  if (unrecovered > 0) {
    reasons.push(`${unrecovered} failed sync window(s) not yet covered by a later successful run`);
  }
  return reasons;
}

/**
 * Builds, stores and returns a validation report for an integration. Recomputes every owed
 * account-day of the period and the duplicate suspicions first, so the report reflects the data as
 * it is now. A report that cannot be built is stored as `failed` with the error, then rethrown.
 */
export async function createValidationReport(
  deps: ReportDeps,
  req: ReportRequest,
  beforeCommit?: BeforeCommit<ValidationReportDocument>,
): Promise<ValidationReportDocument> {
  const now = deps.now();
  const integration = await findIntegrationHeading(deps.db, req.integrationId);
  if (!integration) {
    throw new NotFoundError('integration', req.integrationId, 'integration_not_found');
  }
  const accounts = (await listAccountsOfIntegration(deps.db, integration.id)).filter((a) => a.status !== 'removed');
  refuseWithoutAccounts(integration.id, accounts);
  const { fromOf, ...period } = await resolvePeriod(deps.db, integration.id, req, accounts, now);
  const id = uuidv7();
  await insertValidationReport(deps.db, {
    id,
    organizationId: integration.organization_id,
    integrationId: integration.id,
    periodFrom: period.from,
    periodTo: period.to,
    requestedBy: req.requestedBy,
    createdAt: now,
  });
  try {
    const reports: AccountReport[] = [];
    for (const a of accounts) {
      reports.push(await accountReport(deps, a, fromOf(a), period.to, now, period.basis === 'since_approval'));
      req.onProgress?.({ done: reports.length, total: accounts.length, accountId: a.id });
    }
    const staleHours = deps.staleHours ?? DEFAULT_STALE_HOURS;
    const cov = await coverage(
      deps.db,
      integration.id,
      accounts.map((a) => a.id),
      period.from,
      period.to,
      now,
      staleHours,
      new Map(reports.map((r) => [r.accountId, r.from])),
    );
    const byId = new Map(reports.map((r) => [r.accountId, r]));
    for (const h of cov.bankHolidays ?? []) {
      const r = byId.get(h.accountId);
      if (r && h.day >= r.from) {
        r.noBusinessDays = [...(r.noBusinessDays ?? []), h.day];
      }
    }
    const suspicions: SuspicionEntry[] = (
      await listActiveSuspicions(
        deps.db,
        accounts.map((a) => a.id),
        period.from,
        period.to,
      )
    )
      // Each account's own period (since approval, its business day then).
      .filter((s) => s.status !== 'not_duplicate' && s.booking_date >= (byId.get(s.account_id)?.from ?? period.from))
      .map((s) => ({
        id: s.id,
        accountId: s.account_id,
        accountMasked: byId.get(s.account_id)?.accountMasked ?? '',
        bookingDate: s.booking_date,
        direction: s.direction,
        amountMinor: String(s.amount_minor),
        currency: s.currency,
        decimalLocation: s.decimal_location,
        liveCount: s.live_count,
        bankCount: s.bank_count,
        status: s.status,
        transactionIds: s.transaction_ids,
      }));
    for (const s of suspicions) {
      const r = byId.get(s.accountId);
      if (r && s.status === 'open') {
        r.openSuspicions++;
      }
    }
    const body = {
      id,
      integration: {
        id: integration.id,
        name: integration.name,
        organizationId: integration.organization_id,
        stage: integration.stage,
      },
      period,
      generatedAt: now.toISOString(),
      summary: {
        accounts: reports.length,
        proved: reports.reduce((n, r) => n + r.days.proved, 0),
        broken: reports.reduce((n, r) => n + r.days.broken, 0),
        unproved: reports.reduce((n, r) => n + r.days.unproved, 0),
        openSuspicions: suspicions.filter((s) => s.status === 'open').length,
      },
      totalsByCurrency: totalsByCurrency(reports),
      accounts: reports,
      suspicions,
      coverage: { ...cov, staleHours },
    };
    const reasons = verdict(body);
    const doc: ValidationReportDocument = { ...body, passed: reasons.length === 0, reasons };
    await inTransaction(deps.db, async (trx) => {
      await completeValidationReport(trx, id, {
        passed: doc.passed,
        reasons: JSON.stringify(reasons),
        report: JSON.stringify(doc),
        completedAt: deps.now(),
      });
      await beforeCommit?.(trx, doc);
    });
    deps.logger?.info(
      { reportId: id, integrationId: integration.id, passed: doc.passed, ...body.summary },
      'validation report completed',
    );
    return doc;
  } catch (err) {
    await failValidationReport(deps.db, id, { errorMessage: errorMessage(err), completedAt: deps.now() });
    throw err;
  }
}

/**
 * Credits and debits per currency over all accounts, exact: accounts of one currency may keep different scales (an
 * account registered with its own decimal location), so each currency is added at its finest scale, every amount
 * brought to it by a power of ten (bigint), never minor units of one scale added to another's.
 */
function totalsByCurrency(reports: readonly AccountReport[]): ValidationReportDocument['totalsByCurrency'] {
  const scale = new Map<string, number>();
  for (const r of reports) {
    scale.set(r.currency, Math.max(scale.get(r.currency) ?? 0, r.decimalLocation));
  }
  const out = new Map<string, { credits: bigint; debits: bigint; creditCount: number; debitCount: number }>();
  for (const r of reports) {
    const factor = 10n ** BigInt(scale.get(r.currency)! - r.decimalLocation);
    const t = out.get(r.currency) ?? { credits: 0n, debits: 0n, creditCount: 0, debitCount: 0 };
    t.credits += BigInt(r.totals.creditsMinor) * factor;
    t.debits += BigInt(r.totals.debitsMinor) * factor;
    t.creditCount += r.totals.creditCount;
    t.debitCount += r.totals.debitCount;
    out.set(r.currency, t);
  }
  return [...out]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([currency, t]) => ({
      currency,
      decimalLocation: scale.get(currency)!,
      creditsMinor: t.credits.toString(),
      debitsMinor: t.debits.toString(),
      creditCount: t.creditCount,
      debitCount: t.debitCount,
    }));
}
