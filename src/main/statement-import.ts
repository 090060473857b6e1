import { isUnscheduledStage } from '../domain/sync-rules.ts';
import type { SyncTrigger } from '../domain/types.ts';
import { ConflictError, NotFoundError, ValidationError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import { getIntegrationSyncState } from '../storage/integrations.repo.ts';
import { balancesOn } from '../storage/balances.repo.ts';
import { bankDayFetchesOn } from '../storage/bank-day-fetches.repo.ts';
import { walksOfDays, type WalkOfDays } from '../storage/posted-day-walks.repo.ts';
import { datesWithPostedRows, postedMoneyFacts } from '../storage/transactions.repo.ts';
import type { Database, Executor } from '../storage/db.ts';
import { statementEmpty, type StatementText } from '../admin-api/statements.routes.ts';
import {
  identityReference,
  normalizeStatementAccount,
  StatementReader,
  type StatementAccount,
  type StatementFormat,
} from '../statements/index.ts';
import { importBatch, type ImportResult } from '../sync/import-batch.ts';
import { onPostedDays } from '../validation/index.ts';

/**
 * A statement file into one account: read it (BAI2 or camt.052/053; a file refused as a whole, e.g. a
 * control total that does not add up, writes nothing), take the account's part, and store it as a
 * sync run through the source port (src/sync/import-batch.ts), with the day proofs recomputed as
 * after an API sync. Shared by `POST /v1/accounts/{id}/statements` and `jpm-sync import`, which both
 * hand the file over as it is read (never held whole as text; its parsed records are held until stored).
 */
export interface StatementImport extends ImportResult {
  format: StatementFormat;
  fileId: string;
  /** Business days whose posted data the file holds in full (their proofs were recomputed); no interim previous-day day. */
  days: string[];
  /** Accounts in the file other than this one (not imported). */
  otherAccounts: number;
  /** Days the file reports only in a copy or duplicate statement (camt `CpyDplctInd`) that were stored already: skipped. */
  copiesSkipped: string[];
}

/** The file writes the account number as the bank does; some files drop its leading zeros. */
function sameNumber(a: string, b: string): boolean {
  return a.trim() === b.trim() || a.trim().replace(/^0+/, '') === b.trim().replace(/^0+/, '');
}

/**
 * An import is a sync run: an account that takes no sync (paused, failed or removed) or whose integration is paused or
 * cancelled (final) takes no import either (409, the codes a sync trigger answers with), nothing written. Checked
 * before anything is written, and again under the account's write lock with the import's first page: an account paused
 * (or an integration paused or cancelled) while the file was read is refused there, its run recorded as failed with the
 * code. A sync window already running finishes, and so does an import whose first page was stored.
 */
async function refuseAccountTakingNoSync(ex: Executor, accountId: string): Promise<void> {
  const account = await getAccount(ex, accountId);
  if (!account) {
    throw new NotFoundError('account', accountId, 'account_not_found');
  }
  if (account.status !== 'active') {
    const why = account.status_reason ? ` (${account.status_reason})` : '';
    throw new ConflictError(
      `account ${account.id} is ${account.status}${why}; only an active account takes a statement import. Nothing was ` +
        (account.status === 'removed'
          ? 'imported: register the account again, then import the file'
          : `imported: resume it (POST /v1/accounts/${account.id}/resume), then import the file`),
      'account_not_active',
    );
  }
  const integration = await getIntegrationSyncState(ex, account.integration_id);
  if (integration?.stage === 'cancelled') {
    throw new ConflictError(
      `integration ${account.integration_id} is cancelled, which is final: its accounts take no sync and no statement ` +
        'import. Nothing was imported',
      'integration_cancelled',
    );
  }
  if (integration && isUnscheduledStage(integration.stage)) {
    throw new ConflictError(
      `integration ${account.integration_id} is ${integration.stage}; resume it before importing. Nothing was imported`,
      'integration_paused',
    );
  }
}

/**
 * A BAI2 correction group (group status 3) replaces a group the bank sent before. Nothing stored is ever taken
 * back (a posted row missing from a later report of its day stays), so stored over a day we hold, the corrected
 * items would land beside the ones they correct (an amount corrected: both amounts posted). Such a file is
 * refused, nothing written; over a day we hold nothing of, the correction is simply the day's report.
 *
 * Checked twice: once before anything is written (a plain refusal, no run recorded), and again in the transaction of
 * the import's first page under the account's write lock, with every record of those days in that page: an API sync
 * storing such a day between the first check and the import's write is seen there (the import is refused, nothing of
 * it stored, its run recorded as failed with this error).
 */
async function refuseCorrectionOfStoredDays(ex: Executor, accountId: string, days: readonly string[]): Promise<void> {
  const held = await datesWithPostedRows(ex, accountId, days);
  if (held.length > 0) {
    throw new ConflictError(
      `the file holds a correction group (group status 3) for ${held.join(', ')}, a day whose posted items are ` +
        'stored already: a correction replaces items the bank sent before, and stored items are never taken back, ' +
        'so the corrected items would be stored beside those they correct. Nothing was imported; a correction is ' +
        'imported only for a day with no posted item stored',
      'statement_correction_conflict',
      { days: held },
    );
  }
}

/**
 * A statement marked as a copy or duplicate of one sent before (camt `CpyDplctInd` COPY, DUPL, CODU) is the bank's
 * word that its original was sent: of a day we hold, it would store its items again where it differs in a reference
 * and overwrite balances (a duplicate intraday report an older balance over a newer one). Its days held are skipped
 * (nothing of them written, named in the answer); its other days are stored as the day's report, since the original
 * never reached us. The check is made again under the account's write lock with the first page (as for a
 * correction): a day another sync stored in between refuses the import (409), and importing again skips it.
 *
 * The days among `days` of which the account holds what a copy of the file's format would write: a camt.053's posted
 * rows or final balance, a camt.052's rows of any status or current-day balance (any channel).
 */
async function daysHeld(ex: Executor, accountId: string, format: StatementFormat, days: readonly string[]) {
  const intraday = format === 'camt052';
  const rows = await datesWithPostedRows(
    ex,
    accountId,
    days,
    intraday ? ['pending', 'posted', 'superseded', 'removed'] : ['posted'],
  );
  const balances = await balancesOn(ex, accountId, days);
  const kind = intraday ? 'current_day' : 'final';
  return days.filter((d) => rows.includes(d) || balances.has(`${d}|${kind}`)).sort();
}

/** The file's account section without what its copies (`fromCopy`) say of `days`. */
function withoutCopiesOf(section: StatementAccount, days: readonly string[]): StatementAccount {
  const skip = new Set(days);
  return {
    ...section,
    entries: section.entries.filter((e) => !(e.fromCopy && skip.has(e.bookingDate))),
    balances: section.balances.filter((b) => !(b.fromCopy && skip.has(b.date))),
  };
}

async function refuseCopiesOfStoredDays(
  ex: Executor,
  accountId: string,
  format: StatementFormat,
  days: readonly string[],
): Promise<void> {
  const held = await daysHeld(ex, accountId, format, days);
  if (held.length > 0) {
    throw new ConflictError(
      `the file holds a copy or duplicate statement (CpyDplctInd) of ${held.join(', ')}, a day another sync stored ` +
        'while the file was imported: nothing was imported. Import the file again: the copy of a stored day is skipped',
      'statement_copy_conflict',
      { days: held },
    );
  }
}

/**
 * The file's account section without the posted items its interim previous-day report gives of `days`, days whose
 * complete report is stored and holds every one of them (`refuseInterimBeyondComplete`): the items are stored already,
 * and written again an item one channel reports without a reference the other carries would be a second row of it.
 */
function withoutInterimItemsOf(section: StatementAccount, days: readonly string[]): StatementAccount {
  const skip = new Set(days);
  return {
    ...section,
    entries: section.entries.filter((e) => !(e.status === 'posted' && skip.has(e.bookingDate))),
  };
}

/**
 * Under the account's write lock with the import's first page: an interim previous-day report of a day whose complete
 * report another sync stored since the file was first read (its items were kept for writing) is refused, nothing
 * written; importing the file again reads it against that report (`withoutInterimItemsOf`).
 */
async function refuseInterimOfDaysStoredSince(ex: Executor, accountId: string, days: readonly string[]): Promise<void> {
  // A walk of the day (an API sync, or a final statement import) has stored a page and not yet its evidence (it may
  // have stored the day in full: its items would be written beside the walk's rows). Refused the same way; importing
  // again after the walk is read against its evidence. Read before the evidence: a walk's evidence commits with the end
  // of its marker, and no marker is added while the lock is held, so a marker gone by now left its evidence for the
  // read below.
  const walks = await walksOfDays(ex, accountId, days);
  const held = [...(await bankDayFetchesOn(ex, accountId, days)).keys()].sort();
  if (walks.length > 0) {
    const walked = [...new Set(walks.flatMap((w) => w.days))].sort();
    throw new ConflictError(
      `the file holds an interim previous-day report (as-of-date modifier 1) of ${walked.join(', ')}, a day whose ` +
        `complete report is being stored or was left part-stored: ${walks.map(describeWalk).join('; ')}. Nothing was ` +
        'imported. Import the file again once a sync of those days has completed (a sync run that failed leaves ' +
        `them so until then: sync the days again, e.g. POST /v1/accounts/${accountId}/sync-runs with mode range ` +
        "over them, or import the day's final report again); it is then read against that report",
      'statement_interim_conflict',
      {
        days: walked,
        walks: walks.map((w) => ({
          days: w.days,
          startedAt: w.readAt,
          runId: w.run?.id ?? null,
          runStatus: w.run?.status ?? null,
        })),
      },
    );
  }
  if (held.length > 0) {
    throw new ConflictError(
      `the file holds an interim previous-day report (as-of-date modifier 1) of ${held.join(', ')}, a day whose ` +
        'complete report another sync stored while the file was imported: nothing was imported. Import the file ' +
        'again: it is then read against that report',
      'statement_interim_conflict',
      { days: held },
    );
  }
}

/**
 * Under the account's write lock with the import's first page: pending items (a camt.052, a BAI2 same-day group) of a
 * day whose complete report another sync or import is storing (its marker: rows stored, evidence not yet). Stored now,
 * they would miss that report's resolution of the day's pending items (it may have run already) and their own (the
 * day is not complete yet), and stay live beside the posted rows. Refused, nothing written; imported again once the
 * day is stored, they are resolved against it (src/sync/import-batch.ts).
 */
async function refuseIntradayOfDaysBeingWalked(ex: Executor, accountId: string, days: readonly string[]) {
  const walks = await walksOfDays(ex, accountId, days);
  if (walks.length > 0) {
    const walked = [...new Set(walks.flatMap((w) => w.days))].sort();
    throw new ConflictError(
      `the file holds pending (intraday) items of ${walked.join(', ')}, a day whose complete report is being stored ` +
        `or was left part-stored: ${walks.map(describeWalk).join('; ')}. Nothing was imported. Import the file ` +
        'again once a sync of those days has completed (a sync run that failed leaves them so until then: sync the ' +
        `days again, e.g. POST /v1/accounts/${accountId}/sync-runs with mode range over them, or import the day's ` +
        'final report again); its pending items are then resolved against that report',
      'statement_intraday_conflict',
      {
        days: walked,
        walks: walks.map((w) => ({
          days: w.days,
          startedAt: w.readAt,
          runId: w.run?.id ?? null,
          runStatus: w.run?.status ?? null,
        })),
      },
    );
  }
}

/** A walk holding days an interim import was refused for, as the refusal names it. */
function describeWalk(w: WalkOfDays): string {
  const what = `${w.days.join(', ')} by a sync that began at ${w.readAt}`;
  if (w.run === null) {
    return what;
  }
  const state =
    w.run.status === 'failed' || w.run.status === 'cancelled'
      ? `${w.run.status}${w.run.errorCode ? ` (${w.run.errorCode})` : ''}, its days left part-stored`
      : w.run.status;
  return `${what}, sync run ${w.run.id}: ${state}`;
}

/** One item as the interim check compares it: its day, direction, amount and references. */
interface MoneyFact {
  day: string;
  direction: string;
  amount: bigint;
  bankReference: string;
  customerReference: string;
  /** The channel: the file's format, or a stored row's source. */
  source: string;
}

/**
 * Two items can be one as the import would take them for one: the same day, direction and amount (grouped by the
 * caller), and each reference the same, compared as identity compares it. Of two channels a reference one leaves out
 * is no difference (src/sync/loose-match.ts, as a statement's item matches an API row); of one channel it is.
 */
function couldBeOne(a: MoneyFact, b: MoneyFact): boolean {
  return [
    [a.bankReference, b.bankReference],
    [a.customerReference, b.customerReference],
  ].every(([x, y]) => {
    const [p, q] = [identityReference(x!), identityReference(y!)];
    return p === q || (a.source !== b.source && (p === '' || q === ''));
  });
}

/** How many of `items` cannot each be paired with a stored item of its own (a maximum matching, augmenting paths). */
function unpaired(items: readonly MoneyFact[], stored: readonly MoneyFact[]): number {
  const owner = new Array<number>(stored.length).fill(-1);
  const pair = (i: number, seen: boolean[]): boolean => {
    for (let j = 0; j < stored.length; j++) {
      if (!seen[j] && couldBeOne(items[i]!, stored[j]!)) {
        seen[j] = true;
        if (owner[j] === -1 || pair(owner[j]!, seen)) {
          owner[j] = i;
          return true;
        }
      }
    }
    return false;
  };
  return items.filter((_, i) => !pair(i, new Array<boolean>(stored.length).fill(false))).length;
}

/**
 * A BAI2 interim previous-day report (as-of-date modifier 1) of a day whose complete report is stored (a final report
 * or a complete API walk left the day's fetch evidence): in one file the later complete report wins, but here the
 * interim one comes after it. Adding nothing to the stored posted items it is read (and stores nothing); holding an
 * item beyond them it cannot be decided: the bank's complete report of the day lacks the item, yet an earlier report
 * says it posted. An item is among the stored ones when each can be paired with a stored item of its own of the same
 * direction and amount whose bank and customer references are its own where both carry one (two $200.00 debits
 * with different bank references are two items). Refused, nothing written; checked again under the account's write
 * lock with the first page, as for a correction.
 */
async function refuseInterimBeyondComplete(
  ex: Executor,
  accountId: string,
  days: readonly string[],
  source: string,
  entries: readonly {
    bookingDate: string;
    direction: string;
    amountMinor: bigint;
    status: string;
    bankReference: string;
    customerReference: string;
  }[],
): Promise<void> {
  const complete = [...(await bankDayFetchesOn(ex, accountId, days)).keys()];
  if (complete.length === 0) {
    return;
  }
  const keyOf = (f: MoneyFact) => `${f.day}|${f.direction}|${f.amount}`;
  const stored = new Map<string, MoneyFact[]>();
  for (const r of await postedMoneyFacts(ex, accountId, complete)) {
    const fact = {
      day: r.day,
      direction: r.direction,
      amount: BigInt(r.amount_minor),
      bankReference: r.bank_reference,
      customerReference: r.customer_reference,
      source: r.source,
    };
    stored.set(keyOf(fact), [...(stored.get(keyOf(fact)) ?? []), fact]);
  }
  const items = new Map<string, MoneyFact[]>();
  for (const e of entries) {
    if (e.status !== 'posted' || !complete.includes(e.bookingDate)) {
      continue;
    }
    const fact = {
      day: e.bookingDate,
      direction: e.direction,
      amount: e.amountMinor,
      bankReference: e.bankReference,
      customerReference: e.customerReference,
      source,
    };
    items.set(keyOf(fact), [...(items.get(keyOf(fact)) ?? []), fact]);
  }
  const beyond = new Set<string>();
  for (const [key, group] of items) {
    if (unpaired(group, stored.get(key) ?? []) > 0) {
      beyond.add(group[0]!.day);
    }
  }
  if (beyond.size > 0) {
    const held = [...beyond].sort();
    throw new ConflictError(
      `the file holds an interim previous-day report (as-of-date modifier 1) of ${held.join(', ')}, whose complete ` +
        'report is stored already, and it holds items that complete report lacks (compared by direction, amount ' +
        "and bank and customer reference): which is right cannot be told. Nothing was imported; import the day's " +
        'final report, or the interim report only before it',
      'statement_interim_conflict',
      { days: held },
    );
  }
}

export async function importStatementFile(
  db: Database,
  input: {
    accountId: string;
    text: StatementText;
    trigger: SyncTrigger;
    now?: () => Date;
    onProgress?: (stored: number, total: number) => void;
  },
): Promise<StatementImport> {
  const row = await getAccount(db, input.accountId);
  if (!row) {
    throw new NotFoundError('account', input.accountId, 'account_not_found');
  }
  await refuseAccountTakingNoSync(db, row.id);
  // Read to its end (every control total checked) before anything is written: a refused file stores nothing.
  const reader = new StatementReader();
  if (typeof input.text === 'string') {
    reader.write(input.text);
  } else {
    await input.text((text) => reader.write(text));
  }
  if (!reader.hasContent) {
    throw statementEmpty();
  }
  const parsed = reader.end();
  const ours = parsed.accounts.filter((a) => sameNumber(a.accountNumber, row.jpm_account_id));
  if (ours.length === 0) {
    const found = parsed.accounts.map((a) => `****${a.accountNumber.trim().slice(-4)}`).join(', ') || 'none';
    throw new ValidationError(
      `the file holds no section for account ****${row.jpm_account_id.slice(-4)} (accounts in the file: ${found})`,
      [{ path: 'file', message: 'no section for this account' }],
      'statement_account_missing',
    );
  }
  const foreign = ours.find((a) => a.currency !== row.currency);
  if (foreign) {
    throw new ValidationError(
      `the file reports account ****${row.jpm_account_id.slice(-4)} in ${foreign.currency}; the account is held in ${row.currency}`,
      [{ path: 'file', message: 'currency differs from the account' }],
      'statement_currency_mismatch',
    );
  }
  const whole: StatementAccount = {
    accountNumber: row.jpm_account_id,
    currency: row.currency,
    entries: ours.flatMap((a) => a.entries),
    balances: ours.flatMap((a) => a.balances),
    rejects: ours.flatMap((a) => a.rejects),
    interimDays: [...new Set(ours.flatMap((a) => a.interimDays))],
    correctionDays: [...new Set(ours.flatMap((a) => a.correctionDays))],
    copyDays: [...new Set(ours.flatMap((a) => a.copyDays))],
  };
  await refuseCorrectionOfStoredDays(db, row.id, whole.correctionDays);
  await refuseInterimBeyondComplete(db, row.id, whole.interimDays, parsed.format, whole.entries);
  // Adding nothing to a complete report stored, an interim report's items of the day are those stored: none is written
  // (matching by identity, an item lacking a reference the stored one has would be stored beside it).
  const interimHeld = [...(await bankDayFetchesOn(db, row.id, whole.interimDays)).keys()];
  const copiesSkipped = await daysHeld(db, row.id, parsed.format, whole.copyDays);
  const section = withoutInterimItemsOf(withoutCopiesOf(whole, copiesSkipped), interimHeld);
  const interimKept = section.interimDays.filter((d) => !interimHeld.includes(d));
  const copiesStored = whole.copyDays.filter((d) => !copiesSkipped.includes(d));
  const batch = normalizeStatementAccount(parsed, section, row.jpm_account_id);
  // Days of its pending items the file does not report in full itself: checked against a walk storing them.
  const intradayOnly = batch.intradayDates.filter((d) => !batch.postedDates.includes(d));
  const lockedDays = [
    ...new Set([...section.correctionDays, ...copiesStored, ...section.interimDays, ...intradayOnly]),
  ];
  const now = input.now ?? (() => new Date());
  const result = await importBatch(
    {
      db,
      now,
      logger: createLogger('sync'),
      onPostedDays: (accountId, dates) => onPostedDays(db, accountId, dates, now()),
    },
    {
      accountId: row.id,
      trigger: input.trigger,
      batch,
      ...(input.onProgress ? { onProgress: input.onProgress } : {}),
      firstPage: {
        dates: lockedDays,
        check: async (ex: Executor) => {
          await refuseAccountTakingNoSync(ex, row.id);
          await refuseCorrectionOfStoredDays(ex, row.id, section.correctionDays);
          await refuseInterimBeyondComplete(ex, row.id, section.interimDays, parsed.format, section.entries);
          await refuseInterimOfDaysStoredSince(ex, row.id, interimKept);
          await refuseCopiesOfStoredDays(ex, row.id, parsed.format, copiesStored);
          await refuseIntradayOfDaysBeingWalked(ex, row.id, intradayOnly);
        },
      },
    },
  );
  return {
    ...result,
    format: parsed.format,
    fileId: parsed.fileId,
    days: batch.postedDates,
    otherAccounts: parsed.accounts.length - ours.length,
    copiesSkipped,
  };
}
