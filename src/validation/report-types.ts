import type { IsoDate } from '../shared/time.ts';
import type { AccountDayState } from './balance-proof.ts';
import type { Coverage } from './coverage.ts';

/**
 * The stored body of a validation report (validation_reports.report). Amounts are decimal strings of
 * minor units with the account's decimal location next to them; JSON numbers never carry money.
 */
export interface CalendarDay {
  day: IsoDate;
  state: AccountDayState;
  differenceMinor: string | null;
  /**
   * Why the day is not proved, as a code: the proof's own for unproved days (`rejected_record`,
   * `no_final_balance`, `incomplete_final_balance`, `transactions_not_fetched`, `differs_from_bank` when the balances
   * add up but our rows are not what the bank's latest fetch of the day reported), read from the
   * evidence for broken ones (`unreported_posting`, `duplicate_suspected`, `differs_from_bank`;
   * src/validation/day-reasons.ts); null when proved or not known.
   */
  reason: string | null;
  /** The reason in a sentence for the reader (absent in reports made before it existed). */
  explanation?: string | null;
}

export interface AccountReport {
  accountId: string;
  /** Last four digits only: the report is sent to people outside the service. */
  accountMasked: string;
  accountName: string;
  currency: string;
  decimalLocation: number;
  timeZone: string;
  from: IsoDate;
  to: IsoDate;
  days: Record<AccountDayState, number>;
  totals: { creditsMinor: string; debitsMinor: string; creditCount: number; debitCount: number };
  calendar: CalendarDay[];
  /**
   * Since approval only: the account's first business day since the approval (`from`) is not closed by the bank yet
   * (its last closed day is `to`, the day before), so nothing is owed for it yet and it adds nothing to the verdict.
   * Absent when the account has a closed business day in the period.
   */
  notYetReportable?: { firstDay: IsoDate; lastClosedDay: IsoDate };
  /** Weekdays of the period the bank reported as no business day (holidays: nothing owed). */
  noBusinessDays?: IsoDate[];
  /** Open rejects of records whose booking date could not be read (no day's proof counts them); absent when none. */
  undatedRejects?: number;
  openSuspicions: number;
}

export interface SuspicionEntry {
  id: string;
  accountId: string;
  accountMasked: string;
  bookingDate: IsoDate;
  direction: string;
  amountMinor: string;
  currency: string;
  decimalLocation: number;
  liveCount: number;
  bankCount: number;
  status: string;
  transactionIds: string[];
}

export interface ValidationReportDocument {
  id: string;
  integration: { id: string; name: string; organizationId: string; stage: string };
  period: { from: IsoDate; to: IsoDate; basis: 'requested' | 'since_approval' | 'last_30_days' };
  generatedAt: string;
  passed: boolean;
  reasons: string[];
  summary: Record<AccountDayState, number> & { accounts: number; openSuspicions: number };
  /** Credits and debits per currency over all accounts. */
  totalsByCurrency: {
    currency: string;
    decimalLocation: number;
    creditsMinor: string;
    debitsMinor: string;
    creditCount: number;
    debitCount: number;
  }[];
  accounts: AccountReport[];
  suspicions: SuspicionEntry[];
  coverage: Coverage & { staleHours: number };
}
