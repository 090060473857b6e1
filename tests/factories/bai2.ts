/** A BAI2 detail line's facts: type code, amount in minor units, bank and customer reference, text. */
export interface Bai2Item {
  type: string;
  amount: bigint;
  bankRef: string;
  custRef: string;
  text: string;
  /** Text of 88 records continuing the detail (written by `bai2Groups` only). */
  more?: string[];
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

/** One 02 group of `bai2Groups`: its as-of date (YYMMDD), group status and as-of-date modifier as written. */
export interface Bai2Group {
  date: string;
  /** 1 update, 2 deletion, 3 correction, 4 test only. */
  status?: string;
  /** 1 interim previous-day, 2 final previous-day, 3 interim same-day, 4 final same-day. */
  modifier: string;
  account: string;
  /** The 03 record's (type code, amount) pairs, e.g. [['010', 100000n], ['015', 90000n]]. */
  summary?: [string, bigint][];
  items: Bai2Item[];
}

/**
 * A BAI2 file of whole groups, one account each, every control total and record count balanced. `recordLength`
 * is the 01 record's physical record length field as written ('' for variable-length records).
 */
export function bai2Groups(
  groups: readonly Bai2Group[],
  opts: { fileId?: string; recordLength?: string } = {},
): string {
  let fileTotal = 0n;
  const body: string[] = [];
  for (const g of groups) {
    const summary = g.summary ?? [];
    const account = [
      `03,${g.account},USD,${summary.map(([code, amount]) => `${code},${amount},,`).join(',')}/`,
      ...g.items.flatMap((i) => [
        `16,${i.type},${i.amount},0,${i.bankRef},${i.custRef},${i.text}`,
        ...(i.more ?? []).map((m) => `88,${m}`),
      ]),
    ];
    const total = [...summary.map(([, a]) => a), ...g.items.map((i) => i.amount)].reduce((s, a) => s + a, 0n);
    fileTotal += total;
    body.push(
      `02,CUSTOMER,021000021,${g.status ?? '1'},${g.date},,USD,${g.modifier}/`,
      ...account,
      `49,${total},${account.length + 1}/`,
      `98,${total},1,${account.length + 3}/`,
    );
  }
  const lines = [
    `01,021000021,CUSTOMER,261201,0200,${opts.fileId ?? 'GROUPS'},${opts.recordLength ?? '80'},,2/`,
    ...body,
  ];
  lines.push(`99,${fileTotal},${groups.length},${lines.length + 1}/`);
  return `${lines.join('\r\n')}\r\n`;
}
