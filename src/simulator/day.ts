import { addDays, type IsoDate } from '../shared/time.ts';
import { WEEKDAYS, usDate, type BankCalendar } from './calendar.ts';
import {
  BANKS,
  COUNTERPARTIES,
  FEE_KIND,
  reversalKind,
  tag,
  TXN_KINDS,
  type DebitCreditCode,
  type TxnKind,
} from './catalog.ts';
import { Prng } from './prng.ts';
import type { Quirks } from './quirks.ts';
import type { SimAccount } from './accounts.ts';
import { drawWithdrawal, hostileNarrative, oddReference, type Withdrawal } from './strange.ts';

/**
 * One account's business day, generated from (seed, account, date) alone. The list holds every item
 * the bank ever reports for the day: intraday-only items (`postedMinor` null), late postings
 * (`intradayMinor` null, `revealDate` set) and the final amounts. Views (intraday snapshot, prior-day
 * records, balances) are derived from it against the simulator clock in `views.ts`.
 */
export interface DayItem {
  /** 1-based position in the day; part of the transaction ids, so ids are stable as the day grows. */
  seq: number;
  kind: TxnKind;
  direction: DebitCreditCode;
  /** Amount in the intraday snapshot; null when the item was never reported intraday (late posting). */
  intradayMinor: bigint | null;
  /** Final posted amount; null when the intraday item never posts. */
  postedMinor: bigint | null;
  /** Percent of a credit that becomes available after one / two business days (the rest is immediate). */
  day1Pct: number;
  day2Pct: number;
  valueDate: IsoDate;
  secondOfDay: number;
  micros: number;
  bankRef: string;
  customerRef: string;
  /** Narrative tags; a value may be null (quirk `hostileNarratives`). */
  narrative: Record<string, string | null>;
  reversal: boolean;
  /** Late posting: history queries return it only once the clock reaches this date. */
  revealDate: IsoDate | null;
  /** Quirk `withdrawals`: when the item leaves the intraday snapshot (and whether it comes back). */
  withdrawal: Withdrawal | null;
  /**
   * Quirk `movedToNextDay`: the business day the item posts on instead of its own (`postedMinor` is then null here,
   * and the next day's ledger holds the posting, `movedFrom` set), with the amount it posts at there.
   */
  moved: { to: IsoDate; postedMinor: bigint } | null;
  /** A posting moved here from the previous business day (quirk `movedToNextDay`): that day. */
  movedFrom: IsoDate | null;
  /** Why the item is unusual (for tests and the ground-truth export), e.g. `identical`, `late`. */
  marks: string[];
}

export interface DayDraft {
  items: DayItem[];
}

interface Draft extends Omit<DayItem, 'seq'> {
  seq?: number;
}

function bankReference(rng: Prng): string {
  return `${rng.digits(10)}${rng.letters(2)}`;
}

function customerReference(rng: Prng, date: IsoDate): string {
  const styles = [
    () => `${rng.letters(3)} OF ${date.slice(2, 4)}/${date.slice(5, 7)}/${date.slice(8, 10)}`,
    () => `${rng.letters(4)}${rng.digits(7)}`,
    () => `INV-${rng.digits(6)}`,
    () => '',
    () => 'NEW',
  ];
  return rng.pick(styles)();
}

function narrativeFor(rng: Prng, kind: TxnKind, customerRef: string, bankRef: string): Record<string, string> {
  const party = rng.pick(COUNTERPARTIES);
  const bank = rng.pick(BANKS);
  const n: Record<string, string> = {};
  if (customerRef) {
    n[tag('YOUR REF')] = customerRef;
  }
  switch (kind.narrative) {
    case 'fed':
      n[tag(kind.direction === 'CREDIT' ? 'REC FROM' : 'PAID TO')] = bank.name;
      n[tag('FED ID')] = bank.aba;
      n[tag(kind.direction === 'CREDIT' ? 'B/O CUSTOMER' : 'ACCT PARTY')] = party;
      n[tag('REMARK')] = `${kind.direction === 'CREDIT' ? 'DEBIT' : 'CREDIT'} REF ${bankRef}`;
      n[tag('REC GFP')] = rng.digits(8);
      n[tag('MRN SEQ')] = `${rng.digits(5)}${rng.letters(2)}${rng.digits(5)}`;
      n[tag('FED REF')] = `${rng.digits(4)} ${rng.letters(8)} ${rng.digits(6)} **VIA FED**`;
      break;
    case 'chip':
      n[tag(kind.direction === 'CREDIT' ? 'B/O BANK' : 'PAID TO')] = bank.name;
      n[tag('B/O CUSTOMER')] = party;
      n[tag('ULTI BENE')] = `/${rng.digits(10)} ${rng.letters(5)}`;
      n[tag('REMARK')] = `/URI/${rng.letters(4)} ${kind.direction === 'CREDIT' ? 'DEBIT' : 'CREDIT'} REF ${bankRef}`;
      n[tag('CHIP SEQ')] = rng.digits(7);
      n[tag('CHIP REF')] = `${rng.digits(6)}**${rng.int(1, 9)}`;
      break;
    case 'book':
      n[tag(kind.direction === 'CREDIT' ? 'REC FROM' : 'PAID TO')] = `0000000${rng.digits(10)} ${party}`;
      n[tag('REMARK')] = `BOOK TRANSFER ${kind.direction} B/O: ${party} TRN: ${bankRef}`;
      n[tag('REC GFP')] = rng.digits(8);
      break;
    case 'fee':
      n[tag('REMARK')] = 'ACCOUNT SERVICE CHARGE WIRE TRANSFER FEE';
      break;
    default:
      n[tag('REMARK')] = `${kind.shortDescription} ${party.split(' ').slice(0, 3).join(' ')}`;
  }
  return n;
}

/** Minor units for `major` whole units in a currency with `decimalLocation` decimals. */
export function majorToMinor(major: bigint, decimalLocation: number): bigint {
  return major * 10n ** BigInt(decimalLocation);
}

function draftItem(rng: Prng, account: SimAccount, date: IsoDate, kind: TxnKind, calendar: BankCalendar): Draft {
  const dl = account.currency.decimalLocation;
  // Yen amounts are ~100× dollar amounts in count of units; the digits follow that.
  const boost = account.currency.code === 'JPY' ? 2 : 0;
  const amount = rng.bigint(kind.majorDigits[0] + dl + boost, kind.majorDigits[1] + dl + boost);
  const customerRef = customerReference(rng, date);
  const bankRef = bankReference(rng);
  let valueDate = date;
  const v = rng.unit();
  if (v < 0.06) {
    valueDate = calendar.addBusinessDays(date, -1);
  } else if (v < 0.09) {
    // Back-valued into the previous month: the value date's month differs from the as-of month.
    valueDate = addDays(`${date.slice(0, 8)}01`, -rng.int(1, 5));
  }
  const narrative = narrativeFor(rng, kind, customerRef, bankRef);
  if (valueDate !== date) {
    narrative[tag('VAL DATE')] = usDate(valueDate);
  }
  const deferred = kind.direction === 'CREDIT' && rng.chance(0.15);
  const day1Pct = deferred ? rng.pick([25, 50, 100]) : 0;
  const day2Pct = deferred && day1Pct < 100 ? rng.pick([0, 25]) : 0;
  return {
    kind,
    direction: kind.direction,
    intradayMinor: amount,
    postedMinor: amount,
    day1Pct,
    day2Pct,
    valueDate,
    secondOfDay: rng.int(8 * 3600, 18 * 3600),
    micros: rng.int(0, 999_999),
    bankRef,
    customerRef,
    narrative,
    reversal: false,
    revealDate: null,
    withdrawal: null,
    moved: null,
    movedFrom: null,
    marks: [],
  };
}

/** Intraday amount differs from the posted one by 1–5 % (FX re-rate, fee netting), never reaching zero. */
function changedAmount(rng: Prng, posted: bigint): bigint {
  const pct = BigInt(rng.pick([-5, -3, -2, -1, 1, 2, 3, 5]));
  const changed = (posted * (100n + pct)) / 100n;
  return changed === posted ? posted + 1n : changed > 0n ? changed : 1n;
}

/** Quirk `quietDays`: whether the account has no transaction at all on this business day (its own stream). */
export function isQuietDay(seed: string, accountId: string, date: IsoDate, quirks: Quirks): boolean {
  return quirks.quietDays && new Prng(seed, 'quiet', accountId, date).chance(1 / 12);
}

/**
 * Draws the day's items (before the balancing sweep, which `ledger.ts` appends). Every random draw is
 * made whatever the quirks say, so toggling one quirk leaves the content of all other items unchanged
 * (their `seq`, and so their ids, can move when an item is added or removed before them).
 */
export function draftDay(
  seed: string,
  account: SimAccount,
  date: IsoDate,
  txPerDay: number,
  quirks: Quirks,
  calendar: BankCalendar = WEEKDAYS,
): DayDraft {
  const rng = new Prng(seed, 'day', account.accountId, date);
  const count = Math.max(1, Math.round(txPerDay * (0.75 + rng.unit() * 0.5)));
  const drafts: Draft[] = [];
  // Quirk `movedToNextDay` draws from a stream of its own, one draw set per drafted item, so it moves nothing else.
  const moves = new Prng(seed, 'moved', account.accountId, date);
  const movable: { item: Draft; moved: boolean; changed: boolean; pct: bigint }[] = [];
  for (let i = 0; i < count; i++) {
    const item = draftItem(rng, account, date, rng.weighted(TXN_KINDS), calendar);
    const changed = rng.chance(0.04);
    const unposted = rng.chance(0.03);
    if (changed && quirks.amountChangesOnPosting && item.postedMinor !== null) {
      item.intradayMinor = changedAmount(rng, item.postedMinor);
      item.marks.push('amount-changed');
    }
    if (unposted && quirks.unpostedIntraday) {
      item.postedMinor = null;
      item.marks.push('never-posted');
    }
    drafts.push(item);
    movable.push({
      item,
      moved: moves.chance(0.05),
      changed: moves.chance(0.3),
      pct: BigInt(moves.pick([-2, -1, 1, 2])),
    });
  }
  const dl = account.currency.decimalLocation;
  const special = new Prng(seed, 'special', account.accountId, date);

  const fees = special.chance(0.3);
  const feeItem = draftItem(special, account, date, FEE_KIND, calendar);
  if (fees && quirks.identicalTransactions) {
    const amount = majorToMinor(account.currency.code === 'JPY' ? 2500n : 25n, dl);
    for (let i = 0; i < 3; i++) {
      drafts.push({
        ...feeItem,
        intradayMinor: amount,
        postedMinor: amount,
        narrative: { ...feeItem.narrative },
        marks: ['identical'],
      });
    }
  }

  const reverse = special.chance(0.25);
  const reversedIndex = special.int(0, drafts.length - 1);
  const reversalRef = bankReference(special);
  const original = drafts[reversedIndex];
  if (reverse && quirks.reversals && original) {
    const kind = reversalKind(original.kind);
    const amount = original.postedMinor ?? original.intradayMinor ?? 1n;
    drafts.push({
      ...original,
      kind,
      direction: kind.direction,
      intradayMinor: amount,
      postedMinor: amount,
      day1Pct: 0,
      day2Pct: 0,
      secondOfDay: Math.min(original.secondOfDay + 1800, 18 * 3600 + 1800),
      bankRef: reversalRef,
      reversal: true,
      narrative: {
        [tag('YOUR REF')]: original.customerRef || original.bankRef,
        [tag('REMARK')]: `REVERSAL OF ${original.bankRef}`,
      },
      marks: ['reversal'],
    });
  }

  const large = special.chance(0.15);
  const largeItem = draftItem(special, account, date, special.weighted(TXN_KINDS), calendar);
  const largeAmount = BigInt(special.digits(15));
  if (large && quirks.extremeAmounts) {
    drafts.push({
      ...largeItem,
      intradayMinor: largeAmount,
      postedMinor: largeAmount,
      day1Pct: 0,
      day2Pct: 0,
      marks: ['extreme-large'],
    });
  }
  const small = special.chance(0.2);
  const smallItem = draftItem(special, account, date, special.weighted(TXN_KINDS), calendar);
  if (small && quirks.extremeAmounts) {
    drafts.push({ ...smallItem, intradayMinor: 1n, postedMinor: 1n, day1Pct: 0, day2Pct: 0, marks: ['extreme-small'] });
  }

  const late = special.chance(0.2);
  const lateItem = draftItem(special, account, date, special.weighted(TXN_KINDS), calendar);
  if (late && quirks.latePostings) {
    drafts.push({ ...lateItem, intradayMinor: null, revealDate: calendar.addBusinessDays(date, 3), marks: ['late'] });
  }

  for (const { item, moved, changed, pct } of movable) {
    // Only an item reported intraday that would post (and is no reversal's original) can miss its day's posting, and
    // only onto a day with transactions (quirk quietDays).
    const reversed = reverse && quirks.reversals && item === original;
    const to = calendar.nextBusinessDay(date);
    const quietNext = isQuietDay(seed, account.accountId, to, quirks);
    if (
      quirks.movedToNextDay &&
      moved &&
      !reversed &&
      !quietNext &&
      item.postedMinor !== null &&
      item.intradayMinor !== null
    ) {
      const postedMinor = changed ? (item.postedMinor * (100n + pct)) / 100n || 1n : item.postedMinor;
      item.moved = { to, postedMinor };
      item.postedMinor = null;
      item.marks.push('moved-next-day');
    }
  }

  let copy = 0;
  for (const d of drafts) {
    // Identical items share content, so their streams would agree; the copy number lets one of three
    // identical fees be withdrawn alone.
    strangeItem(seed, account, date, d, quirks, d.marks.includes('identical') ? copy++ : 0);
  }
  // Stable sort: the identical fees share a second and stay together in draw order.
  drafts.sort((a, b) => a.secondOfDay - b.secondOfDay);
  return { items: drafts.map((d, i) => ({ ...d, seq: i + 1 })) };
}

/**
 * The stranger-than-the-bank quirks on one drafted item. The streams are keyed by the item's bank
 * reference and time, so identical fees keep identical content and toggling any other quirk changes
 * nothing here; withdrawals also by the copy number, so one of three identical fees can leave alone.
 */
function strangeItem(seed: string, account: SimAccount, date: IsoDate, d: Draft, quirks: Quirks, copy: number): void {
  const rng = new Prng(seed, 'strange', account.accountId, date, d.bankRef, String(d.secondOfDay));
  const own = new Prng(seed, 'strange-copy', account.accountId, date, d.bankRef, String(d.secondOfDay), String(copy));
  const oddBank = rng.chance(0.15);
  const bankRef = oddReference(rng, d.bankRef);
  const oddCustomer = rng.chance(0.3);
  const customerRef = oddReference(rng, d.customerRef);
  const hostile = rng.chance(0.25);
  const narrative = hostileNarrative(rng, d.narrative);
  const withdrawn = own.chance(0.2);
  const withdrawal = drawWithdrawal(own);
  if (quirks.oddReferences && (oddBank || oddCustomer)) {
    d.bankRef = oddBank ? bankRef : d.bankRef;
    d.customerRef = oddCustomer ? customerRef : d.customerRef;
    d.marks.push('odd-reference');
  }
  if (quirks.hostileNarratives && hostile) {
    d.narrative = narrative;
    d.marks.push('hostile-narrative');
  }
  // Only items the intraday snapshot shows can be withdrawn from it.
  if (quirks.withdrawals && withdrawn && d.intradayMinor !== null) {
    d.withdrawal = withdrawal;
    if (withdrawal.returnAt === null) {
      d.postedMinor = null;
      d.moved = null;
      d.marks = d.marks.filter((m) => m !== 'moved-next-day');
      d.marks.push('withdrawn');
    } else {
      d.marks.push('withdrawn-returned');
    }
  }
}
