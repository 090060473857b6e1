import type { Direction } from '../domain/types.ts';
import { MAX_MINOR_UNITS } from '../shared/money.ts';
import { isIsoDate, type IsoDate } from '../shared/time.ts';
import { StatementFileError } from './types.ts';

/** Reading BAI2 fields: amounts (implied decimals), dates, counts, currencies, type codes, funds types. Pure. */
export function amount(text: string | undefined, line: number, what: string, signed: boolean): bigint | null {
  if (text === undefined || text === '') {
    return null;
  }
  if (!(signed ? /^[+-]?\d+$/ : /^\d+$/).test(text)) {
    throw new StatementFileError(
      `${what}: must be ${signed ? 'a whole number (implied decimals), optionally signed' : 'an unsigned whole number (implied decimals)'}, got ${JSON.stringify(text)}`,
      line,
    );
  }
  const value = BigInt(text);
  if ((value < 0n ? -value : value) > MAX_MINOR_UNITS) {
    throw new StatementFileError(
      `${what}: ${text} is beyond what can be stored (${MAX_MINOR_UNITS} minor units at most)`,
      line,
    );
  }
  return value;
}

export function date(text: string | undefined, line: number, what: string): IsoDate {
  const m = /^(\d{2})(\d{2})(\d{2})$/.exec(text ?? '');
  const iso = m ? `${Number(m[1]) < 70 ? '20' : '19'}${m[1]}-${m[2]}-${m[3]}` : '';
  if (!isIsoDate(iso)) {
    throw new StatementFileError(`${what}: must be a date YYMMDD, got ${JSON.stringify(text ?? '')}`, line);
  }
  return iso;
}

export function count(text: string | undefined, line: number, what: string): number {
  if (!/^\d+$/.test(text ?? '')) {
    throw new StatementFileError(`${what}: must be a whole number, got ${JSON.stringify(text ?? '')}`, line);
  }
  return Number(text);
}

export function currencyCode(text: string | undefined, fallback: string, line: number): string {
  if (text === undefined || text === '') {
    return fallback;
  }
  if (!/^[A-Z]{3}$/.test(text)) {
    throw new StatementFileError(`currency: must be a 3-letter ISO 4217 code, got ${JSON.stringify(text)}`, line);
  }
  return text;
}

/** BAI type code ranges (API-NOTES §9): 100–399 and 920–959 credits, 400–699 and 960–999 debits. */
export function directionOfTypeCode(code: string): Direction | null {
  if (!/^\d{3}$/.test(code)) {
    return null;
  }
  const n = Number(code);
  if ((n >= 100 && n <= 399) || (n >= 920 && n <= 959)) {
    return 'credit';
  }
  if ((n >= 400 && n <= 699) || (n >= 960 && n <= 999)) {
    return 'debit';
  }
  return null;
}

/**
 * Reads the funds type and its sub-fields from `fields` at `i`; returns what it says and the index
 * after it. S: immediate, one-day, two-or-more-day amounts; V: value date and time; D: n distributions
 * of (days, amount); 0/1/2/Z or empty: none.
 */
export function fundsType(
  fields: readonly string[],
  i: number,
  line: number,
): { next: number; valueDate: IsoDate | null; availability: Record<string, string> | null; amounts: bigint[] } {
  const type = fields[i] ?? '';
  switch (type) {
    case '':
    case '0':
    case '1':
    case '2':
    case 'Z':
      return { next: i + 1, valueDate: null, availability: type === '' ? null : { fundsType: type }, amounts: [] };
    case 'V': {
      const valueDate = date(fields[i + 1], line, 'value date (funds type V)');
      return {
        next: i + 3,
        valueDate,
        availability: { fundsType: 'V', valueDate, valueTime: fields[i + 2] ?? '' },
        amounts: [],
      };
    }
    case 'S': {
      const parts = [fields[i + 1], fields[i + 2], fields[i + 3]].map(
        (f, k) => amount(f, line, `availability ${k} (funds type S)`, true) ?? 0n,
      );
      return {
        next: i + 4,
        valueDate: null,
        availability: {
          fundsType: 'S',
          immediate: parts[0]!.toString(),
          oneDay: parts[1]!.toString(),
          twoOrMoreDays: parts[2]!.toString(),
        },
        amounts: [],
      };
    }
    case 'D': {
      const n = count(fields[i + 1], line, 'number of distributions (funds type D)');
      const availability: Record<string, string> = { fundsType: 'D' };
      for (let k = 0; k < n; k++) {
        const days = count(fields[i + 2 + 2 * k], line, `distribution ${k + 1} days (funds type D)`);
        availability[`day${days}`] = (
          amount(fields[i + 3 + 2 * k], line, `distribution ${k + 1} amount (funds type D)`, true) ?? 0n
        ).toString();
      }
      return { next: i + 2 + 2 * n, valueDate: null, availability, amounts: [] };
    }
    default:
      throw new StatementFileError(`funds type: must be 0, 1, 2, S, V, D or Z, got ${JSON.stringify(type)}`, line);
  }
}
