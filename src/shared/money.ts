import { ValidationError } from './errors.ts';

/**
 * Exact money. Amounts travel as decimal *text* (straight from the bank's JSON source) and become
 * bigint minor units here; no JS number ever holds an amount. `decimalLocation` is the currency's
 * scale as J.P. Morgan reports it (2 for USD, 0 for JPY, 3 for KWD/BHD).
 */
const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** The largest amount in minor units a row can hold (Postgres `bigint`). */
export const MAX_MINOR_UNITS = 2n ** 63n - 1n;

export function toMinorUnits(decimalText: string, decimalLocation: number): bigint {
  if (!Number.isInteger(decimalLocation) || decimalLocation < 0 || decimalLocation > 18) {
    throw new ValidationError(`decimalLocation ${decimalLocation} is not a supported currency scale (0-18)`);
  }
  const match = DECIMAL.exec(decimalText.trim());
  if (!match) {
    throw new ValidationError(`amount ${JSON.stringify(decimalText)} is not a decimal number`);
  }
  const [, sign, intPart = '0', fracPart = '', expPart] = match;
  const exponent = expPart === undefined ? 0 : Number(expPart);
  if (Math.abs(exponent) > 40) {
    throw new ValidationError(`amount ${decimalText} has an exponent out of range`);
  }
  // Shift the decimal point by the exponent, working on the digit string only.
  let digits = intPart + fracPart;
  let scale = fracPart.length - exponent;
  if (scale < 0) {
    digits += '0'.repeat(-scale);
    scale = 0;
  }
  if (scale > decimalLocation) {
    const dropped = digits.slice(digits.length - (scale - decimalLocation));
    if (/[^0]/.test(dropped)) {
      throw new ValidationError(
        `amount ${decimalText} has more than ${decimalLocation} decimal places for its currency`,
      );
    }
    digits = digits.slice(0, digits.length - (scale - decimalLocation)) || '0';
    scale = decimalLocation;
  }
  const minor = BigInt(digits + '0'.repeat(decimalLocation - scale));
  return sign ? -minor : minor;
}

/** `toMinorUnits` for an amount that will be stored: refused beyond what a row holds (Postgres `bigint`). */
export function toStorableMinorUnits(decimalText: string, decimalLocation: number): bigint {
  const minor = toMinorUnits(decimalText, decimalLocation);
  if ((minor < 0n ? -minor : minor) > MAX_MINOR_UNITS) {
    throw new ValidationError(
      `amount ${decimalText} is beyond what can be stored (${MAX_MINOR_UNITS} minor units at most)`,
    );
  }
  return minor;
}

/** Minor units back to a plain decimal string with exactly `decimalLocation` places. */
export function formatMinorUnits(minor: bigint, decimalLocation: number): string {
  const negative = minor < 0n;
  const abs = (negative ? -minor : minor).toString().padStart(decimalLocation + 1, '0');
  const whole = decimalLocation === 0 ? abs : abs.slice(0, abs.length - decimalLocation);
  const frac = decimalLocation === 0 ? '' : `.${abs.slice(abs.length - decimalLocation)}`;
  return `${negative ? '-' : ''}${whole}${frac}`;
}
