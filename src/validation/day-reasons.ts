import { formatMinorUnits } from '../shared/money.ts';
import type { AccountDayState } from './balance-proof.ts';

/**
 * Why a day of a validation report is not proved, in words a controller can act on. The proof itself
 * stores a reason code for unproved days only (`account_days.reason`); for a broken day the cause is
 * read from the day's evidence: the bank's own tallies of what it reported for the day
 * (`bankFetch`), what we hold (`stored`), and the open duplicate suspicions of the day.
 *
 * - `unreported_posting`: our rows are exactly what the bank reported, yet its balance moved by more:
 *   a posting is in the bank's balances but not yet in its transaction reports (a late posting). The
 *   validation sweep re-fetches the day until it arrives;
 * - `duplicate_suspected`: we hold more identical transactions than the bank reported;
 * - `differs_from_bank`: our rows for the day differ from what the bank reported;
 * - the unproved codes of the balance proof: `rejected_record`, `no_final_balance`,
 *   `incomplete_final_balance`, `transactions_not_fetched` (a missing fetch), and `differs_from_bank` for a day whose
 *   balances add up while our rows differ from the bank's tally (rows missing or extra that net to zero).
 */
export type BrokenReason = 'unreported_posting' | 'duplicate_suspected' | 'differs_from_bank';

export interface DayEvidence {
  stored?: { creditsMinor?: string; debitsMinor?: string; creditCount?: number; debitCount?: number };
  bankFetch?: {
    recordCount?: number;
    creditCount?: number;
    debitCount?: number;
    creditsMinor?: string | null;
    debitsMinor?: string | null;
  };
  rejectedRecords?: string[];
}

export interface DayFacts {
  state: AccountDayState;
  reason: string | null;
  differenceMinor: string | null;
  evidence: DayEvidence | null;
  healAttempts: number;
  /** Open duplicate suspicions booked on the day. */
  openSuspicions: number;
  decimalLocation: number;
  currency: string;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function brokenReason(f: DayFacts): BrokenReason | null {
  if (f.openSuspicions > 0) {
    return 'duplicate_suspected';
  }
  const bank = f.evidence?.bankFetch;
  const ours = f.evidence?.stored;
  if (!bank || bank.creditsMinor == null || bank.debitsMinor == null || !ours) {
    return null;
  }
  return bank.creditsMinor === ours.creditsMinor && bank.debitsMinor === ours.debitsMinor
    ? 'unreported_posting'
    : 'differs_from_bank';
}

function differsFromBank(f: DayFacts, amount: (minor: string | null | undefined) => string): string {
  const bank = f.evidence?.bankFetch;
  const ours = f.evidence?.stored;
  const items = (held: number | undefined, reported: number | undefined) =>
    held === undefined || reported === undefined ? '' : ` (${held} vs ${reported} items)`;
  return `Our posted transactions differ from what the bank reported for the day: credits ${amount(ours?.creditsMinor)} vs ${amount(bank?.creditsMinor)}${items(ours?.creditCount, bank?.creditCount)}, debits ${amount(ours?.debitsMinor)} vs ${amount(bank?.debitsMinor)}${items(ours?.debitCount, bank?.debitCount)}.`;
}

/** The reason code and its explanation for a day that is not proved (both null for a proved day). */
export function explainDay(f: DayFacts): { reason: string | null; explanation: string | null } {
  if (f.state === 'proved') {
    return { reason: null, explanation: null };
  }
  const amount = (minor: string | null | undefined) =>
    `${formatMinorUnits(BigInt(minor ?? '0'), f.decimalLocation)} ${f.currency}`;
  const retried = f.healAttempts > 0 ? ` Re-fetched ${plural(f.healAttempts, 'time')} so far.` : '';
  if (f.state === 'broken') {
    const reason = brokenReason(f);
    switch (reason) {
      case 'unreported_posting':
        return {
          reason,
          explanation: `Late posting not reported yet: the bank's balance moved by ${amount(f.differenceMinor)} more than the transactions it reported for the day (we hold exactly those). The day heals when the bank reports it.${retried}`,
        };
      case 'duplicate_suspected':
        return {
          reason,
          explanation: `Duplicate suspected: we hold more identical transactions than the bank reported for the day (${plural(f.openSuspicions, 'open suspicion')}, see below).`,
        };
      case 'differs_from_bank':
        return { reason, explanation: `${differsFromBank(f, amount)}${retried}` };
      default:
        return {
          reason: null,
          explanation: `Off by ${amount(f.differenceMinor)}; the bank's tallies of the day were not recorded, so the cause is not known yet.${retried}`,
        };
    }
  }
  switch (f.reason) {
    case 'rejected_record': {
      const n = f.evidence?.rejectedRecords?.length ?? 0;
      return {
        reason: f.reason,
        explanation: `Rejected record: the bank sent ${n > 0 ? plural(n, 'record') : 'a record'} of this day that could not be stored as it was; the day proves once a sync stores it or the bank no longer sends it.`,
      };
    }
    case 'no_final_balance':
      return {
        reason: f.reason,
        explanation:
          'No final (prior-day) balance from the bank for this day yet; the next prior-day sync or re-fetch brings it.',
      };
    case 'incomplete_final_balance':
      return {
        reason: f.reason,
        explanation: "The bank's final balance for this day lacks its opening or closing ledger amount.",
      };
    case 'differs_from_bank':
      return {
        reason: f.reason,
        explanation: `${differsFromBank(f, amount)} The balances add up, so what is missing or extra nets to zero (a payment and its reversal, say).${retried}`,
      };
    case 'transactions_not_fetched':
      return {
        reason: f.reason,
        explanation:
          "Missing fetch: the day's posted transactions were never fetched completely; the next sync covering the day fetches them.",
      };
    default:
      return { reason: f.reason, explanation: f.reason ? f.reason.replaceAll('_', ' ') : null };
  }
}
