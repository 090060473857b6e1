import type { SyncTrigger } from '../domain/types.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import type { Database } from '../storage/db.ts';
import { statementEmpty, type StatementText } from '../admin-api/statements.routes.ts';
import {
  normalizeStatementAccount,
  StatementReader,
  type StatementAccount,
  type StatementFormat,
} from '../statements/index.ts';
import { importBatch, type ImportResult } from '../sync/import-batch.ts';
import { onPostedDays } from '../validation/index.ts';

/**
 * A statement file into one account: read it (BAI2 or camt.052/053; a file refused as a whole, e.g. a
 * control total that does not add up, writes nothing), take the account's part, and store it as a
 * sync run through the source port (src/sync/import-batch.ts), with the day proofs recomputed as
 * after an API sync. Shared by `POST /v1/accounts/{id}/statements` and `jpm-sync import`, which both
 * hand the file over as it is read (never held whole as text; its parsed records are held until stored).
 */
export interface StatementImport extends ImportResult {
  format: StatementFormat;
  fileId: string;
  /** Business days whose posted data the file holds (their proofs were recomputed). */
  days: string[];
  /** Accounts in the file other than this one (not imported). */
  otherAccounts: number;
}

/** The file writes the account number as the bank does; some files drop its leading zeros. */
function sameNumber(a: string, b: string): boolean {
  return a.trim() === b.trim() || a.trim().replace(/^0+/, '') === b.trim().replace(/^0+/, '');
}

export async function importStatementFile(
  db: Database,
  input: {
    accountId: string;
    text: StatementText;
    trigger: SyncTrigger;
    now?: () => Date;
    onProgress?: (stored: number, total: number) => void;
  },
): Promise<StatementImport> {
  const row = await getAccount(db, input.accountId);
  if (!row) {
    throw new NotFoundError('account', input.accountId, 'account_not_found');
  }
  // Read to its end (every control total checked) before anything is written: a refused file stores nothing.
  const reader = new StatementReader();
  if (typeof input.text === 'string') {
    reader.write(input.text);
  } else {
    await input.text((text) => reader.write(text));
  }
  if (!reader.hasContent) {
    throw statementEmpty();
  }
  const parsed = reader.end();
  const ours = parsed.accounts.filter((a) => sameNumber(a.accountNumber, row.jpm_account_id));
  if (ours.length === 0) {
    const found = parsed.accounts.map((a) => `****${a.accountNumber.trim().slice(-4)}`).join(', ') || 'none';
    throw new ValidationError(
      `the file holds no section for account ****${row.jpm_account_id.slice(-4)} (accounts in the file: ${found})`,
      [{ path: 'file', message: 'no section for this account' }],
      'statement_account_missing',
    );
  }
  const foreign = ours.find((a) => a.currency !== row.currency);
  if (foreign) {
    throw new ValidationError(
      `the file reports account ****${row.jpm_account_id.slice(-4)} in ${foreign.currency}; the account is held in ${row.currency}`,
      [{ path: 'file', message: 'currency differs from the account' }],
      'statement_currency_mismatch',
    );
  }
  const section: StatementAccount = {
    accountNumber: row.jpm_account_id,
    currency: row.currency,
    entries: ours.flatMap((a) => a.entries),
    balances: ours.flatMap((a) => a.balances),
    rejects: ours.flatMap((a) => a.rejects),
    interimDays: [...new Set(ours.flatMap((a) => a.interimDays))],
  };
  const batch = normalizeStatementAccount(parsed, section, row.jpm_account_id);
  const now = input.now ?? (() => new Date());
  const result = await importBatch(
    {
      db,
      now,
      logger: createLogger('sync'),
      onPostedDays: (accountId, dates) => onPostedDays(db, accountId, dates, now()),
    },
    { accountId: row.id, trigger: input.trigger, batch, ...(input.onProgress ? { onProgress: input.onProgress } : {}) },
  );
  return {
    ...result,
    format: parsed.format,
    fileId: parsed.fileId,
    days: batch.postedDates,
    otherAccounts: parsed.accounts.length - ours.length,
  };
}
