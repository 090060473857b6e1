import { z } from 'zod';
import { defineRoute, type Route } from '../http/routes.ts';
import { isoDay } from '../http/validate.ts';
import { getRun } from '../scheduler/index.ts';
import { ValidationError } from '../shared/errors.ts';
import type { Database } from '../storage/db.ts';
import { IdParams } from './dto.ts';
import { scopedAccount } from './lookup.ts';
import { SyncRunSchema, toSyncRunDto } from './syncs.routes.ts';

/**
 * Statement files over HTTP: a customer's BAI2, camt.053 or camt.052 file (downloaded from J.P. Morgan
 * Access) imported into one account as a sync run, e.g. while the API access is still being approved.
 * The import itself is composed in main/ (src/main/statement-import.ts) and handed in as `importStatement`.
 */
export interface StatementImportOutcome {
  runId: string;
  format: 'bai2' | 'camt053' | 'camt052';
  fileId: string;
  days: string[];
  otherAccounts: number;
  copiesSkipped: string[];
}

/** The file's text: whole, or handed over piece by piece as it arrives (`read` resolves at its end). */
export type StatementText = string | ((onText: (text: string) => void) => Promise<void>);

export interface StatementRouteDeps {
  db: Database;
  importStatement(accountId: string, text: StatementText): Promise<StatementImportOutcome>;
}

/**
 * Bounded (413 beyond): a year of a busy account's prior-day BAI2 is a few MB. The body is parsed as it arrives (never
 * held whole as text); its parsed records are held until the import.
 */
export const STATEMENT_BODY_LIMIT = '32mb';

const StatementImportSchema = z
  .object({
    run: SyncRunSchema.meta({
      description:
        'The sync run the import was: counts, status (partial with error code records_rejected when some records could not be stored)',
    }),
    format: z.enum(['bai2', 'camt053', 'camt052']),
    fileId: z.string().meta({ description: "The file's own id (BAI2 01 record file id, camt GrpHdr/MsgId)" }),
    days: z.array(isoDay()).meta({
      description:
        'Business days whose posted data the file holds in full (their balance proofs were recomputed); the days of a BAI2 interim previous-day group are not among them',
    }),
    otherAccounts: z.number().int().meta({ description: 'Accounts in the file other than this one (not imported)' }),
    copiesSkipped: z.array(isoDay()).meta({
      description:
        'Days the file reports only in a statement marked as a copy or duplicate (camt CpyDplctInd COPY, DUPL, CODU) of which the account holds data already: nothing of them was written',
    }),
  })
  .meta({ id: 'StatementImport', description: 'A statement file imported into an account' });

/** An empty or blank body: no file was sent. */
export function statementEmpty(): ValidationError {
  return new ValidationError(
    'Send the statement file as the request body.',
    [{ path: 'body', message: 'empty' }],
    'statement_empty',
  );
}

export function statementRoutes(deps: StatementRouteDeps): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/accounts/{id}/statements',
      permission: 'syncs:write',
      tags: ['Syncs'],
      auditTarget: 'account',
      summary: 'Import a statement file (BAI2, camt.053, camt.052)',
      description:
        "The file is the request body. Its records are stored under the same identity as the API's (a transaction seen in a file and later over the API is one row), " +
        'its balances feed the day proofs, and importing it again changes nothing. A file whose control totals or record counts do not add up, or that is not well-formed, ' +
        'is refused whole (400, `statement_control_total` / `statement_invalid`, with the line) and nothing of it is stored, as is a camt statement whose pages are not all in the file (`statement_incomplete`); a file without a section for this account is refused (`statement_account_missing`). ' +
        'A BAI2 correction group (group status 3) of a day whose posted items are stored is refused (409 `statement_correction_conflict`, naming the days): stored items are never taken back. ' +
        'A camt statement marked as a copy or duplicate (`CpyDplctInd` COPY, DUPL, CODU) writes nothing of a day the account holds (listed in `copiesSkipped`) and is the report of a day it holds nothing of; in the same file as its original it is dropped when it says the same and refuses the file when it does not (400 `statement_duplicate_differs`). ' +
        "Several camt statements of one account giving one day's balance with different amounts are successive: the day's balance opens with the first one's and closes with the last one's, ordered by `ElctrncSeqNb`/`LglSeqNb` or by each opening with the close before it; statements that do not follow on, or whose order cannot be told, refuse the file (400 `statement_balances_conflict`, naming each). " +
        'Several BAI2 groups of one account and as-of date in one file: the later complete report wins (a group sent twice is stored once); an interim group after the final one of its day holding items the final lacks is refused (400 `statement_groups_conflict`, naming both lines), and so is an interim group of a day whose complete report is stored, holding items beyond it (409 `statement_interim_conflict`); one holding nothing beyond it writes none of its items of that day. ' +
        'The body is read as it arrives (a file larger than the limit is refused with 413 `payload_too_large`); as multipart/form-data it holds one file part. ' +
        'Pending items (camt.052, BAI2 same-day groups) of a day whose complete report is stored are resolved against it at once; of a day whose complete report is being stored the file is refused (409 `statement_intraday_conflict`). ' +
        'An account that takes no sync takes no import: 409 `account_not_active` (paused, failed or removed), `integration_paused` or `integration_cancelled`, nothing stored. ' +
        'An Idempotency-Key is not needed: importing the same file again stores nothing new.',
      request: { params: IdParams },
      idempotent: false,
      rawBody: {
        mediaTypes: ['text/plain', 'application/octet-stream', 'application/xml', 'text/xml', 'multipart/form-data'],
        limit: STATEMENT_BODY_LIMIT,
        description: `The file as downloaded: BAI2 (text/plain or application/octet-stream) or camt XML (application/xml), or a multipart/form-data form with one file part; at most ${STATEMENT_BODY_LIMIT}`,
      },
      response: { status: 201, schema: StatementImportSchema, description: 'The import and its sync run' },
      errors: [409],
      handler: async ({ params, bodyStream, access, audit }) => {
        const account = await scopedAccount(deps.db, access, params.id);
        audit.target({ id: account.id, organizationId: account.organization_id });
        if (!bodyStream?.present) {
          throw statementEmpty();
        }
        const result = await deps.importStatement(account.id, (onText) => bodyStream.readText(onText));
        const run = await getRun({ db: deps.db }, result.runId);
        return {
          run: toSyncRunDto(run),
          format: result.format,
          fileId: result.fileId,
          days: result.days,
          otherAccounts: result.otherAccounts,
          copiesSkipped: result.copiesSkipped,
        };
      },
    }),
  ];
}
