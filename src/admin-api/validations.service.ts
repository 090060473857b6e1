import type { OrgAccess } from '../http/auth.ts';
import type { BeforeCommit, Database } from '../storage/db.ts';
import { decodeCursor, encodeCursor, type Page } from '../storage/pagination.ts';
import type { StoredReport, ValidationReportRow } from '../storage/validation-reports.repo.ts';
import {
  createValidationReport,
  getValidationReport,
  listValidationReports,
  type ValidationReportDocument,
} from '../validation/index.ts';
import { integrationOrganization } from './lookup.ts';

/**
 * Validation reports for the admin API, under the key's organization scope (another organization's
 * integration → 404): run one and answer it with its stored summary, and page an integration's reports.
 */
export interface ValidationsServiceDeps {
  db: Database;
  now: () => Date;
}

/**
 * Runs a report for the integration. `scoped` is told the report's id and organization once it is
 * computed (the route's audit target); the answer is the stored row with the document.
 */
export async function runValidationReport(
  deps: ValidationsServiceDeps,
  access: OrgAccess,
  integrationId: string,
  request: { requestedBy: string; from?: string | undefined; to?: string | undefined },
  scoped: (target: { id: string; organizationId: string }) => void,
  beforeCommit?: BeforeCommit<{ row: StoredReport; report: ValidationReportDocument }>,
): Promise<{ row: StoredReport; report: ValidationReportDocument }> {
  const org = await integrationOrganization(deps.db, access, integrationId);
  let stored: StoredReport | undefined;
  const doc = await createValidationReport(
    { db: deps.db, now: deps.now },
    {
      integrationId,
      requestedBy: request.requestedBy,
      ...(request.from ? { from: request.from } : {}),
      ...(request.to ? { to: request.to } : {}),
    },
    // The completed row as the completion's own transaction reads it: the answer stored with it.
    beforeCommit &&
      (async (trx, report) => {
        stored = (await getValidationReport(trx, report.id))!;
        await beforeCommit(trx, { row: stored, report });
      }),
  );
  scoped({ id: doc.id, organizationId: org });
  const row = stored ?? (await getValidationReport(deps.db, doc.id));
  return { row: row!, report: doc };
}

/** Newest first, keyset-paginated on the id. */
export async function pageValidationReports(
  db: Database,
  access: OrgAccess,
  integrationId: string,
  query: { cursor?: string | undefined; limit: number },
): Promise<Page<ValidationReportRow>> {
  await integrationOrganization(db, access, integrationId);
  const before = query.cursor ? decodeCursor(query.cursor, ['uuid'] as const)[0] : undefined;
  const rows = await listValidationReports(db, integrationId, {
    limit: query.limit + 1,
    ...(before ? { beforeId: before } : {}),
  });
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return { rows: page, nextCursor: rows.length > query.limit && last ? encodeCursor([last.id]) : null };
}
