import type { Direction } from '../domain/types.ts';
import { ValidationError } from '../shared/errors.ts';
import type { IsoDate } from '../shared/time.ts';

/**
 * A statement file read into source-neutral facts, before identity: what BAI2 and camt.05x files say
 * about transactions and balances, in exact minor units. `normalize.ts` turns it into the same
 * normalized records and balances the J.P. Morgan API path produces.
 */
export const STATEMENT_FORMATS = ['bai2', 'camt053', 'camt052'] as const;
export type StatementFormat = (typeof STATEMENT_FORMATS)[number];

/** Where a fact sits in the file: the physical record (line) number, 1-based. */
export interface FileLocation {
  line: number;
}

export interface StatementEntry {
  bookingDate: IsoDate;
  valueDate: IsoDate | null;
  direction: Direction;
  /** Unsigned: the direction says the sign. */
  amountMinor: bigint;
  currency: string;
  decimalLocation: number;
  /** pending: intraday / not yet booked (camt PDNG, INFO); posted: booked (BAI2 prior-day, camt BOOK). */
  status: 'pending' | 'posted';
  /** BAI type code (BAI2 record 16, camt `BkTxCd/Prtry/Cd`), null when the file gives none. */
  typeCode: string | null;
  bankReference: string;
  customerReference: string;
  /** The short text (BAI2 record 16 text, camt `AddtlNtryInf`). */
  text: string;
  /** Narrative tags (BAI2 88 records, camt remittance lines), keys as written; null when none. */
  narrative: Record<string, string> | null;
  /** Funds availability as the file states it (BAI2 funds type and its sub-fields), or null. */
  availability: Record<string, string> | null;
  at: FileLocation;
  /** The file's own lines (BAI2) or element text (camt) for this entry, kept with the stored row. */
  source: string;
  /** From a statement marked as a copy (camt `CpyDplctInd`) whose original is not in the file. */
  fromCopy?: boolean;
}

export interface StatementBalance {
  date: IsoDate;
  /** final: prior-day / end-of-day; current_day: an intraday (interim) balance. */
  kind: 'final' | 'current_day';
  currency: string;
  decimalLocation: number;
  openingLedgerMinor: bigint | null;
  closingLedgerMinor: bigint | null;
  openingAvailableMinor: bigint | null;
  closingAvailableMinor: bigint | null;
  at: FileLocation;
  /** From a statement marked as a copy (camt `CpyDplctInd`) whose original is not in the file. */
  fromCopy?: boolean;
}

/** A record the file holds but that cannot become a transaction (e.g. a type code that names no direction). */
export interface StatementReject {
  at: FileLocation;
  reason: string;
  fields: string[];
  bookingDate: IsoDate | null;
  text: string;
}

export interface StatementAccount {
  /** The account number as the file writes it (BAI2 03 customer account, camt `Acct/Id`). */
  accountNumber: string;
  currency: string;
  entries: StatementEntry[];
  balances: StatementBalance[];
  rejects: StatementReject[];
  /**
   * Days the file reports only in an interim previous-day report (BAI2 as-of-date modifier 1): their posted
   * items are stored, but the report is no complete answer for the day (more items may post, the balance may
   * change), so it proves no pending item absent and is no evidence of the day's full report.
   */
  interimDays: IsoDate[];
  /**
   * Days the file reports in a correction group (BAI2 group status 3): the group replaces one the bank sent
   * before, so it may be stored only where nothing of the day was (an item stored is never taken back).
   */
  correctionDays: IsoDate[];
  /**
   * Days a statement marked as a copy or duplicate of one sent before (camt `CpyDplctInd` COPY, DUPL, CODU) reports
   * while its original is not in the file: its entries and balances (`fromCopy`) are stored only where nothing of the
   * day is (a copy never overwrites what the original stored).
   */
  copyDays: IsoDate[];
}

export interface ParsedStatement {
  format: StatementFormat;
  /** The file's own id (BAI2 01 file id, camt `GrpHdr/MsgId`), for messages and the run's notes. */
  fileId: string;
  accounts: StatementAccount[];
}

/**
 * A file we refuse as a whole: broken structure, a control total that does not add up. Says where
 * (`line`) and what, so the sender can fix it. Nothing of a refused file is stored.
 */
export class StatementFileError extends ValidationError {
  readonly line: number | null;
  constructor(message: string, line: number | null, code = 'statement_invalid') {
    super(
      line === null ? message : `line ${line}: ${message}`,
      [{ path: line === null ? 'file' : `line ${line}`, message }],
      code,
    );
    this.line = line;
  }
}
