import { diffDays, type IsoDate } from '../shared/time.ts';
import type { SimAccount } from './accounts.ts';
import { WEEKDAYS, type BankCalendar } from './calendar.ts';
import { SWEEP_IN, SWEEP_OUT } from './catalog.ts';
import { draftDay, isQuietDay, type DayItem } from './day.ts';
import { Prng } from './prng.ts';
import type { Quirks } from './quirks.ts';

/**
 * The simulated bank's books: a pure function of the seed, generated lazily per (account, business
 * day) and kept in a small LRU, so a history of millions of transactions costs no memory up front.
 *
 * Balances chain without generating earlier days: each day's opening ledger balance is drawn from
 * the seed, and the day ends with a target-balance sweep (BAI 549 to / 249 from the investment fund,
 * as treasury accounts do) that brings the ending ledger exactly to the next business day's opening.
 * So for every day, ending ledger = opening + credits − debits, to the minor unit, in bigint.
 */
export interface LedgerOptions {
  seed: string;
  accounts: SimAccount[];
  /** First business day with data; earlier days answer GCA-024 like an account opened that day. */
  firstDate: IsoDate;
  txPerDay: number;
  quirks: Quirks;
  /** The bank's business days (default: Monday to Friday, no holidays). */
  calendar?: BankCalendar;
}

export interface DayLedger {
  account: SimAccount;
  date: IsoDate;
  /** Every item ever reported for the day (intraday-only and late ones included), in `seq` order. */
  items: DayItem[];
  openingLedger: bigint;
  closingLedger: bigint;
  /** Reveal date of the day's late posting, if any (prior-day ids are re-issued from then on). */
  lateRevealDate: IsoDate | null;
}

export interface BalanceAmounts {
  openingLedger: bigint;
  endingLedger: bigint;
  openingAvailable: bigint;
  endingAvailable: bigint;
}

/** LRU budget of generated items (~0.5 KB each) — enough for a 10-account × 5-day window at 1000 a day. */
const CACHE_ITEMS = 200_000;

export function signed(direction: 'CREDIT' | 'DEBIT', amount: bigint): bigint {
  return direction === 'CREDIT' ? amount : -amount;
}

/** The part of a credit still held as float (day-1 and day-2 availability), by percent, floor-rounded. */
export function portion(amount: bigint, pct: number): bigint {
  return (amount * BigInt(pct)) / 100n;
}

export class Ledger {
  readonly seed: string;
  readonly accounts: readonly SimAccount[];
  readonly firstDate: IsoDate;
  readonly txPerDay: number;
  readonly quirks: Quirks;
  readonly calendar: BankCalendar;
  readonly #byId: Map<string, SimAccount>;
  readonly #cache = new Map<string, DayLedger>();
  #cachedItems = 0;

  constructor(options: LedgerOptions) {
    this.seed = options.seed;
    this.accounts = options.accounts;
    this.firstDate = options.firstDate;
    this.txPerDay = options.txPerDay;
    this.quirks = options.quirks;
    this.calendar = options.calendar ?? WEEKDAYS;
    this.#byId = new Map(options.accounts.map((a) => [a.accountId, a]));
  }

  account(accountId: string): SimAccount | undefined {
    return this.#byId.get(accountId);
  }

  /** Whether the bank has books for this date at all (a business day on or after the first date). */
  hasData(date: IsoDate): boolean {
    return this.calendar.isBusinessDay(date) && diffDays(this.firstDate, date) >= 0;
  }

  /**
   * Opening ledger balance of a business day, drawn around the account's typical balance; after a quiet day (quirk
   * `quietDays`) the quiet day's own, as nothing moved it.
   */
  openingLedger(account: SimAccount, date: IsoDate): bigint {
    const previous = this.calendar.previousBusinessDay(date);
    if (this.hasData(previous) && isQuietDay(this.seed, account.accountId, previous, this.quirks)) {
      return this.openingLedger(account, previous);
    }
    const rng = new Prng(this.seed, 'opening', account.accountId, date);
    return (account.baseMinor * BigInt(900 + rng.int(0, 200))) / 1000n;
  }

  day(account: SimAccount, date: IsoDate): DayLedger | undefined {
    if (!this.hasData(date)) {
      return undefined;
    }
    const key = `${account.accountId}|${date}`;
    const hit = this.#cache.get(key);
    if (hit) {
      this.#cache.delete(key);
      this.#cache.set(key, hit);
      return hit;
    }
    const built = this.#build(account, date);
    this.#cache.set(key, built);
    this.#cachedItems += built.items.length;
    for (const [oldKey, old] of this.#cache) {
      if (this.#cachedItems <= CACHE_ITEMS || oldKey === key) {
        break;
      }
      this.#cache.delete(oldKey);
      this.#cachedItems -= old.items.length;
    }
    return built;
  }

  #build(account: SimAccount, date: IsoDate): DayLedger {
    const quiet = isQuietDay(this.seed, account.accountId, date, this.quirks);
    const { items } = quiet
      ? { items: [] }
      : draftDay(this.seed, account, date, this.txPerDay, this.quirks, this.calendar);
    items.push(...this.#movedIn(account, date, items.length));
    const openingLedger = this.openingLedger(account, date);
    let net = 0n;
    for (const item of items) {
      if (item.postedMinor !== null) {
        net += signed(item.direction, item.postedMinor);
      }
    }
    const closingLedger = this.openingLedger(account, this.calendar.nextBusinessDay(date));
    const sweep = closingLedger - openingLedger - net;
    if (sweep !== 0n) {
      const kind = sweep > 0n ? SWEEP_IN : SWEEP_OUT;
      const amount = sweep > 0n ? sweep : -sweep;
      const rng = new Prng(this.seed, 'sweep', account.accountId, date);
      items.push({
        seq: items.length + 1,
        kind,
        direction: kind.direction,
        intradayMinor: amount,
        postedMinor: amount,
        day1Pct: 0,
        day2Pct: 0,
        valueDate: date,
        secondOfDay: 18 * 3600 + 45 * 60,
        micros: rng.int(0, 999_999),
        bankRef: `${rng.digits(10)}SW`,
        customerRef: 'TARGET BALANCE',
        narrative: {
          'REMARK      ': `END OF DAY TARGET BALANCE SWEEP ${kind.direction === 'DEBIT' ? 'TO' : 'FROM'} LIQUIDITY FUND`,
        },
        reversal: false,
        revealDate: null,
        withdrawal: null,
        moved: null,
        movedFrom: null,
        marks: ['sweep'],
      });
    }
    const lateRevealDate = items.find((i) => i.revealDate !== null)?.revealDate ?? null;
    return { account, date, items, openingLedger, closingLedger, lateRevealDate };
  }

  /**
   * Quirk `movedToNextDay`: the previous business day's items that missed its posting run, posted on `date` (the
   * bank's business date for them) at their moved amount, after the day's own items; never in `date`'s snapshot.
   * Drafted afresh (not through `day`), so building a day never builds the chain of days before it.
   */
  #movedIn(account: SimAccount, date: IsoDate, after: number): DayItem[] {
    const previous = this.calendar.previousBusinessDay(date);
    if (!this.quirks.movedToNextDay || !this.hasData(previous)) {
      return [];
    }
    const { items } = draftDay(this.seed, account, previous, this.txPerDay, this.quirks, this.calendar);
    return items
      .filter((item) => item.moved?.to === date)
      .map((item, i) => ({
        ...item,
        seq: after + i + 1,
        intradayMinor: null,
        postedMinor: item.moved?.postedMinor ?? null,
        moved: null,
        movedFrom: previous,
        withdrawal: null,
        marks: [...item.marks.filter((m) => m !== 'moved-next-day'), 'moved-in'],
      }));
  }

  /** Day-2 float of a day's posted credits: still unavailable at the end of the next business day. */
  day2Float(account: SimAccount, date: IsoDate): bigint {
    const day = this.day(account, date);
    let sum = 0n;
    for (const item of day?.items ?? []) {
      if (item.direction === 'CREDIT' && item.postedMinor !== null) {
        sum += portion(item.postedMinor, item.day2Pct);
      }
    }
    return sum;
  }

  /**
   * Balances from a set of (item, amount) pairs: the final posted set for a closed day, or the visible
   * intraday snapshot for the current day. Available = ledger − float not yet released: the day's own
   * deferred credits plus the previous business day's day-2 part.
   */
  balances(account: SimAccount, date: IsoDate, postings: readonly { item: DayItem; amount: bigint }[]): BalanceAmounts {
    const openingLedger = this.openingLedger(account, date);
    const carriedFloat = this.day2Float(account, this.calendar.previousBusinessDay(date));
    let net = 0n;
    let newFloat = 0n;
    for (const { item, amount } of postings) {
      net += signed(item.direction, amount);
      if (item.direction === 'CREDIT') {
        newFloat += portion(amount, item.day1Pct) + portion(amount, item.day2Pct);
      }
    }
    const endingLedger = openingLedger + net;
    return {
      openingLedger,
      endingLedger,
      openingAvailable: openingLedger - carriedFloat,
      endingAvailable: endingLedger - newFloat - carriedFloat,
    };
  }

  /** Final (prior-day) balances of a closed business day, over every posted item including late ones. */
  finalBalances(account: SimAccount, date: IsoDate): BalanceAmounts | undefined {
    const day = this.day(account, date);
    if (!day) {
      return undefined;
    }
    const postings = day.items.flatMap((item) =>
      item.postedMinor === null ? [] : [{ item, amount: item.postedMinor }],
    );
    return this.balances(account, date, postings);
  }
}
