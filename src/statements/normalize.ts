import type { RecordSource } from '../domain/types.ts';
import { normalizeBalances, type NormalizedBalance } from '../normalization/balances.ts';
import {
  contentHash,
  fingerprint,
  fingerprintKey,
  identityReference,
  OccurrenceCounter,
  type RecordClass,
} from '../normalization/identity.ts';
import { describe, type NormalizationReject, type NormalizedTransaction } from '../normalization/transactions.ts';
import { formatMinorUnits } from '../shared/money.ts';
import type { IsoDate } from '../shared/time.ts';
import type { ParsedStatement, StatementAccount, StatementEntry } from './types.ts';

/**
 * One account's part of a statement file as ingestion takes it: the same normalized records and
 * balances the J.P. Morgan API path produces, so `sync` stores them without knowing their channel.
 *
 * Identity across channels: a file line has no J.P. Morgan `transactionId`, so its identity is the
 * fingerprint (account, booking date, direction, amount, currency, BAI type code, bank and customer
 * reference) and its occurrence among identical items of the day: exactly the key the API's record
 * of the same item gets. A file covers whole days, as an API walk does, so three identical fees are
 * occurrences 1, 2 and 3 in both. The content hash is built from the money facts and the value date
 * only (references compared trimmed), so the same item in a BAI2 and a camt.053 file (whose texts
 * differ) is one unchanged row.
 */
export interface StatementBatch {
  source: RecordSource;
  records: NormalizedTransaction[];
  rejects: NormalizationReject[];
  balances: NormalizedBalance[];
  /** Balance entries that could not be read (stored as balance rejects). */
  balanceRejects: NormalizationReject[];
  /** Days whose posted items the file reports in full (a final balance or a posted item of that day). */
  postedDates: IsoDate[];
  /** Days whose posted items the file holds only in part (an interim previous-day report). */
  interimDates: IsoDate[];
  /** Days with pending (intraday) items or an intraday balance. */
  intradayDates: IsoDate[];
}

export function sourceOf(statement: Pick<ParsedStatement, 'format'>): RecordSource {
  return statement.format;
}

function wireOf(
  statement: ParsedStatement,
  e: StatementEntry,
  jpmAccountId: string,
  recordClass: RecordClass,
): NormalizedTransaction['raw'] {
  return {
    account: { accountId: jpmAccountId },
    currency: { code: e.currency, decimalLocation: e.decimalLocation },
    asOfDate: e.bookingDate,
    valueDate: e.valueDate,
    debitCreditCode: e.direction === 'credit' ? 'CREDIT' : 'DEBIT',
    amount: formatMinorUnits(e.amountMinor, e.decimalLocation),
    postCode: recordClass,
    baiType: e.typeCode === null ? null : { typeCode: e.typeCode },
    bankReferenceSearchable: { standardValue: e.bankReference },
    customerReferenceSearchable: { standardValue: e.customerReference },
    shortDescription: e.text,
    narrativeText: e.narrative,
    availability: e.availability,
    statement: { format: statement.format, fileId: statement.fileId, line: e.at.line, text: e.source },
  };
}

export function normalizeStatementAccount(
  statement: ParsedStatement,
  account: StatementAccount,
  jpmAccountId: string,
): StatementBatch {
  const source = sourceOf(statement);
  const occurrences = new OccurrenceCounter();
  const records = account.entries.map((e): NormalizedTransaction => {
    const recordClass: RecordClass = e.status === 'pending' ? 'I' : 'P';
    const base = {
      jpmAccountId,
      bookingDate: e.bookingDate,
      direction: e.direction,
      amountMinor: e.amountMinor,
      currency: e.currency,
      baiTypeCode: e.typeCode,
      bankReference: e.bankReference,
      customerReference: e.customerReference,
    };
    const fp = fingerprint(base);
    return {
      ...base,
      jpmTransactionId: '',
      identityById: false,
      recordClass,
      status: e.status,
      decimalLocation: e.decimalLocation,
      valueDate: e.valueDate,
      baiSummaryCode: null,
      description: describe(e.text, e.narrative),
      narrative: e.narrative,
      dataQuality: null,
      fingerprintKey: fingerprintKey(recordClass, fp, occurrences.next(recordClass, fp)),
      // References as identity compares them (trimmed): a camt element's text and a BAI2 field may pad differently.
      contentHash: contentHash([
        'statement',
        e.amountMinor.toString(),
        e.direction,
        e.bookingDate,
        e.valueDate,
        e.typeCode,
        identityReference(e.bankReference),
        identityReference(e.customerReference),
      ]),
      source,
      raw: wireOf(statement, e, jpmAccountId, recordClass),
    };
  });
  const rejects: NormalizationReject[] = account.rejects.map((r) => ({
    index: r.at.line,
    reason: r.reason,
    fields: r.fields,
    raw: {
      asOfDate: r.bookingDate,
      statement: { format: statement.format, fileId: statement.fileId, line: r.at.line, text: r.text },
    },
  }));
  const wireBalances: NormalizedBalance['raw'][] = account.balances.map((b) => ({
    asOfDate: b.date,
    currentDay: b.kind === 'current_day',
    openingLedgerAmount:
      b.openingLedgerMinor === null ? null : formatMinorUnits(b.openingLedgerMinor, b.decimalLocation),
    openingAvailableAmount:
      b.openingAvailableMinor === null ? null : formatMinorUnits(b.openingAvailableMinor, b.decimalLocation),
    endingLedgerAmount:
      b.closingLedgerMinor === null ? null : formatMinorUnits(b.closingLedgerMinor, b.decimalLocation),
    endingAvailableAmount:
      b.closingAvailableMinor === null ? null : formatMinorUnits(b.closingAvailableMinor, b.decimalLocation),
  }));
  const scale = account.balances[0]?.decimalLocation ?? records[0]?.decimalLocation ?? 2;
  // A file states the summary amounts the bank chose to report (BAI2 010 without 015, camt ITBD without OPBD).
  const normalized = normalizeBalances(
    [
      {
        accountId: jpmAccountId,
        currency: { code: account.currency, decimalLocation: scale },
        balanceList: wireBalances,
      },
    ],
    { ledger: 'as_stated', from: 'file' },
  );
  const balances = normalized.balances.map((b) => ({ ...b, source }));
  const balanceRejects: NormalizationReject[] = normalized.rejects.map((r) => ({
    index: -1,
    reason: r.reason,
    raw: r.raw,
    fields: [],
  }));
  // A day of an interim previous-day report is not reported in full, whatever else the file says of it.
  const interim = new Set<IsoDate>(account.interimDays);
  const posted = new Set<IsoDate>(
    [
      ...account.balances.filter((b) => b.kind === 'final').map((b) => b.date),
      ...records.filter((r) => r.status === 'posted').map((r) => r.bookingDate),
    ].filter((d) => !interim.has(d)),
  );
  const intraday = new Set<IsoDate>([
    ...account.balances.filter((b) => b.kind === 'current_day').map((b) => b.date),
    ...records.filter((r) => r.status === 'pending').map((r) => r.bookingDate),
  ]);
  return {
    source,
    records,
    rejects,
    balances,
    balanceRejects,
    postedDates: [...posted].sort(),
    interimDates: [...interim].sort(),
    intradayDates: [...intraday].sort(),
  };
}
