/**
 * Minor units per currency (ISO 4217): BAI2 amounts carry no decimal point, so the currency decides
 * where it goes (USD 2, JPY 0, KWD 3). Currencies not listed have 2, as ISO 4217 gives most of them.
 */
const ZERO = [
  'BIF',
  'CLP',
  'DJF',
  'GNF',
  'ISK',
  'JPY',
  'KMF',
  'KRW',
  'PYG',
  'RWF',
  'UGX',
  'UYI',
  'VND',
  'VUV',
  'XAF',
  'XOF',
  'XPF',
];
const THREE = ['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND'];
const FOUR = ['CLF', 'UYW'];

export function impliedDecimals(currency: string): number {
  if (ZERO.includes(currency)) {
    return 0;
  }
  if (THREE.includes(currency)) {
    return 3;
  }
  return FOUR.includes(currency) ? 4 : 2;
}
