import { z } from 'zod';
import { defineRoute, type Route } from '../http/routes.ts';
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
}

export interface StatementRouteDeps {
  db: Database;
  importStatement(accountId: string, text: string): Promise<StatementImportOutcome>;
}

/** Bounded so one request cannot hold much memory; a year of a busy account's prior-day BAI2 is a few MB. */
export const STATEMENT_BODY_LIMIT = '32mb';

const StatementImportSchema = z
  .object({
    run: SyncRunSchema.meta({ description: 'The sync run the import was: counts, status (partial with error code records_rejected when some records could not be stored)' }),
    format: z.enum(['bai2', 'camt053', 'camt052']),
    fileId: z.string().meta({ description: "The file's own id (BAI2 01 record file id, camt GrpHdr/MsgId)" }),
    days: z.array(z.iso.date()).meta({ description: 'Business days whose posted data the file holds (their balance proofs were recomputed)' }),
    otherAccounts: z.number().int().meta({ description: 'Accounts in the file other than this one (not imported)' }),
  })
  .meta({ id: 'StatementImport', description: 'A statement file imported into an account' });

export function statementRoutes(deps: StatementRouteDeps): Route[] {
  return [
    defineRoute({
      method: 'post', path: '/v1/accounts/{id}/statements', permission: 'syncs:write', tags: ['Syncs'], auditTarget: 'account',
      summary: 'Import a statement file (BAI2, camt.053, camt.052)',
      description: 'The file is the request body. Its records are stored under the same identity as the API\'s (a transaction seen in a file and later over the API is one row), '
        + 'its balances feed the day proofs, and importing it again changes nothing. A file whose control totals or record counts do not add up, or that is not well-formed, '
        + 'is refused whole (400, `statement_control_total` / `statement_invalid`, with the line); a file without a section for this account is refused (`statement_account_missing`).',
      request: { params: IdParams },
      rawBody: {
        mediaTypes: ['text/plain', 'application/octet-stream', 'application/xml', 'text/xml'],
        limit: STATEMENT_BODY_LIMIT,
        description: `The file as downloaded: BAI2 (text/plain or application/octet-stream) or camt XML (application/xml), at most ${STATEMENT_BODY_LIMIT}`,
      },
      response: { status: 201, schema: StatementImportSchema, description: 'The import and its sync run' },
      handler: async ({ params, rawBody, access, audit }) => {
        const account = await scopedAccount(deps.db, access, params.id);
        audit.target({ id: account.id, organizationId: account.organization_id });
        if (rawBody === undefined || rawBody.trim() === '') {
          throw new ValidationError('Send the statement file as the request body.', [{ path: 'body', message: 'empty' }], 'statement_empty');
        }
        const result = await deps.importStatement(account.id, rawBody);
        const run = await getRun({ db: deps.db }, result.runId);
        return { run: toSyncRunDto(run), format: result.format, fileId: result.fileId, days: result.days, otherAccounts: result.otherAccounts };
      },
    }),
  ];
}
