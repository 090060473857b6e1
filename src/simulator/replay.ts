import { readFile } from 'node:fs/promises';
import { JsonNumber, type ReviverContext } from '../shared/json.ts';

/**
 * Replay mode: serve one J.P. Morgan sample file as it is. A transactions file (`{ "data": [...] }`)
 * answers `/tsapi/v2/transactions` byte for byte and `/tsapi/v3/transactions` as a single page around
 * the same records (numbers re-emitted from their exact source text); a balances file
 * (`{ "accountList": [...] }`) answers `POST /accessapi/balance` byte for byte. Requests are not
 * filtered: the file is the answer.
 */
export interface Replay {
  kind: 'transactions' | 'balances';
  file: string;
  raw: Buffer;
  v3Body?: string;
}

function exactNumbers(this: unknown, _key: string, value: unknown, context?: ReviverContext): unknown {
  return typeof value === 'number' && context?.source !== undefined ? new JsonNumber(context.source) : value;
}

export async function loadReplay(file: string): Promise<Replay> {
  const raw = await readFile(file);
  const parsed = JSON.parse(raw.toString('utf8'), exactNumbers) as { data?: unknown[]; accountList?: unknown[] };
  if (Array.isArray(parsed.data)) {
    const count = parsed.data.length;
    const v3Body = JSON.stringify({
      pagination: { pageSize: Math.max(count, 1), totalPages: 1, pageNumber: 1, totalRecords: count },
      data: parsed.data,
    });
    return { kind: 'transactions', file, raw, v3Body };
  }
  if (Array.isArray(parsed.accountList)) {
    return { kind: 'balances', file, raw };
  }
  throw new Error(
    `${file} is neither a transactions file ({ data: [...] }) nor a balances file ({ accountList: [...] })`,
  );
}
