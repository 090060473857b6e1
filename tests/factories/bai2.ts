/** A BAI2 detail line's facts: type code, amount in minor units, bank and customer reference, text. */
export interface Bai2Item {
  type: string;
  amount: bigint;
  bankRef: string;
  custRef: string;
  text: string;
}

/**
 * A BAI2 file of one account and one day (2026-11-02), its control totals and record counts balanced: opening
 * balance 1,000,000.00, every item a debit of the closing balance. `fileId` is the file header's identifier.
 */
export function bai2File(jpmAccountId: string, items: readonly Bai2Item[], fileId = 'ACROSS'): string {
  const opening = 100_000_000n;
  const closing = items.reduce((b, i) => b - i.amount, opening);
  const account = [
    `03,${jpmAccountId},USD,010,${opening},,,015,${closing},,/`,
    ...items.map((i) => `16,${i.type},${i.amount},0,${i.bankRef},${i.custRef},${i.text}`),
  ];
  const accountTotal = items.reduce((sum, i) => sum + i.amount, opening + closing);
  const group = ['02,CUSTOMER,021000021,1,261102,,USD,2/', ...account, `49,${accountTotal},${account.length + 1}/`];
  const lines = [
    `01,021000021,CUSTOMER,261103,0200,${fileId},80,,2/`,
    ...group,
    `98,${accountTotal},1,${group.length + 1}/`,
  ];
  lines.push(`99,${accountTotal},1,${lines.length + 1}/`);
  return `${lines.join('\r\n')}\r\n`;
}
