/**
 * The awkward behaviours of real J.P. Morgan data, each switchable so a test can isolate one.
 * `DEFAULT_QUIRKS` (what a simulator gets without `quirks`) turns on the behaviours seen in J.P. Morgan's
 * own samples (demo realism); `ALL_QUIRKS` adds the stranger-than-the-bank ones (odd optional fields,
 * odd references, hostile narratives, intraday withdrawals) that the model-based test uses;
 * `NO_QUIRKS` gives a tidy bank for tests that need a clean baseline. The random draws behind each
 * quirk come from streams of their own, whether or not it is enabled, so turning one off changes only
 * that behaviour and leaves the content of every other generated item identical.
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
  /**
   * An item dated 3 business days back appears in history only from its reveal date; balances include it from the
   * start.
   */
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
  /**
   * Optional fields as `null`, `{}`, `""` or missing, per record (an item's intraday and posted records
   * draw apart): `customerReferenceSearchable` null / `{}` / missing, `bankReferenceSearchable` `{}`,
   * `narrativeText` null / `{}`, a partial or missing `baiType`, an empty account name, null value
   * date and availability, … Amount, direction, currency, `asOfDate`, account, id and postCode stay.
   */
  oddFields: boolean;
  /** References as banks really send them: padded (`"INV 001   "`), zero-led (`"000123"`), leading blanks. */
  oddReferences: boolean;
  /**
   * Narratives with hostile text: 16k+ code points, 30+ tags, CJK, RTL, emoji with ZWJ, combining marks,
   * U+2028/U+2029, tabs, newlines, quotes, backslashes and U+0000 (see `strange.ts`).
   */
  hostileNarratives: boolean;
  /**
   * Intraday items withdrawn later the same day (gone from the CURRENT_DAY snapshot); some come back
   * later that day under the same id. An item withdrawn for good never posts.
   */
  withdrawals: boolean;
  /**
   * An intraday item that never posted (quirk `unpostedIntraday`) is in the next business day's CURRENT_DAY snapshot
   * again, under the same id, dated that day (the bank presents it anew); it never posts then either.
   */
  carriedOver: boolean;
  /**
   * An intraday item's amount changes between two CURRENT_DAY snapshots of its day, under the same id: shown first
   * with another amount, later in the day with the one it keeps (a held amount settled, an FX rate fixed).
   */
  revisedIntraday: boolean;
  /**
   * The CURRENT_DAY snapshot shrinks for part of the day, then grows back: on some days it shows only the first half
   * of its items for a while (a feed behind the bank's core), every count consistent, then all of them again.
   */
  dippingSnapshot: boolean;
  /**
   * An intraday item (about one in twenty) misses its day's posting run and posts on the NEXT business day: pending
   * in day D's CURRENT_DAY snapshot, absent from D's prior-day data and balances, posted under D+1 (the bank's
   * business date for it) with a new id, now and then at another amount; D+1's snapshot never lists it.
   */
  movedToNextDay: boolean;
  /**
   * About one business day in twelve an account has no transaction at all, not even the balancing sweep: its
   * balances are reported (opening = closing, carried to the next business day's opening), its transaction queries
   * answer nothing. No item moves onto it (quirk `movedToNextDay`).
   */
  quietDays: boolean;
}

/** What a simulator started without `quirks` does: the behaviours of J.P. Morgan's own samples. */
export const DEFAULT_QUIRKS: Quirks = {
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
  oddFields: false,
  oddReferences: false,
  hostileNarratives: false,
  withdrawals: false,
  carriedOver: false,
  revisedIntraday: false,
  dippingSnapshot: false,
  movedToNextDay: false,
  quietDays: false,
};

/** Every quirk on: stranger than the real bank. */
export const ALL_QUIRKS: Quirks = {
  ...DEFAULT_QUIRKS,
  oddFields: true,
  oddReferences: true,
  hostileNarratives: true,
  withdrawals: true,
  carriedOver: true,
  movedToNextDay: true,
  quietDays: true,
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
  oddFields: false,
  oddReferences: false,
  hostileNarratives: false,
  withdrawals: false,
  carriedOver: false,
  revisedIntraday: false,
  dippingSnapshot: false,
  movedToNextDay: false,
  quietDays: false,
};

export function resolveQuirks(partial: Partial<Quirks> | undefined): Quirks {
  return { ...DEFAULT_QUIRKS, ...partial };
}
