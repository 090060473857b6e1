/**
 * The awkward behaviours of real J.P. Morgan data, each switchable so a test can isolate one. All are
 * on by default (demo realism); `NO_QUIRKS` gives a tidy bank for tests that need a clean baseline.
 * The random draws behind each quirk happen whether or not it is enabled, so turning one off changes
 * only that behaviour and leaves the content of every other generated item identical.
 */
export interface Quirks {
  /** The current day is a growing full snapshot: the first ⌈progress × n⌉ intraday items (postCode I). */
  growingSnapshot: boolean;
  /** Next day the same items come back as prior-day records (postCode P) with new `TXN-P-…` ids. */
  newIdsOnPosting: boolean;
  /** Some items post with an amount different from the intraday one. */
  amountChangesOnPosting: boolean;
  /** A few intraday items never post. */
  unpostedIntraday: boolean;
  /** An item dated 3 business days back appears in history only from its reveal date; balances include it from the start. */
  latePostings: boolean;
  /** Legitimately identical transactions on one day (three 25.00 fees with identical references). */
  identicalTransactions: boolean;
  /** After a late posting is revealed, every prior-day id of its day is re-issued (content identical). */
  reissuedIds: boolean;
  /** Each current-day v3 page request advances the intraday clock, so totalRecords changes mid-walk. */
  shiftingPages: boolean;
  /** Reversals (`reversal: true`) of an earlier item of the same day. */
  reversals: boolean;
  /** Amounts with 15 significant digits and amounts of one minor unit (0.01). */
  extremeAmounts: boolean;
}

export const ALL_QUIRKS: Quirks = {
  growingSnapshot: true,
  newIdsOnPosting: true,
  amountChangesOnPosting: true,
  unpostedIntraday: true,
  latePostings: true,
  identicalTransactions: true,
  reissuedIds: true,
  shiftingPages: true,
  reversals: true,
  extremeAmounts: true,
};

export const NO_QUIRKS: Quirks = {
  growingSnapshot: false,
  newIdsOnPosting: false,
  amountChangesOnPosting: false,
  unpostedIntraday: false,
  latePostings: false,
  identicalTransactions: false,
  reissuedIds: false,
  shiftingPages: false,
  reversals: false,
  extremeAmounts: false,
};

export function resolveQuirks(partial: Partial<Quirks> | undefined): Quirks {
  return { ...ALL_QUIRKS, ...partial };
}
