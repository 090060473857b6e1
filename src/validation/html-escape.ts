import { formatMinorUnits } from '../shared/money.ts';

export { closeBidi, escapeHtml } from '../shared/html.ts';

/** Minor units (decimal string) as a grouped decimal amount: "-1234567" with 2 → "-12,345.67". */
export function formatAmount(minor: string, decimalLocation: number): string {
  const text = formatMinorUnits(BigInt(minor), decimalLocation);
  const negative = text.startsWith('-');
  const [whole = '0', frac] = (negative ? text.slice(1) : text).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${grouped}${frac === undefined ? '' : `.${frac}`}`;
}
