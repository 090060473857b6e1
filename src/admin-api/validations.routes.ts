import { z } from 'zod';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { assertQueryRanges, compareIsoDates, isoDay } from '../http/validate.ts';
import { atomicWrite, type Database } from '../storage/db.ts';
import type { ValidationReportRow } from '../storage/validation-reports.repo.ts';
import {
  completedReportDocument,
  pageIntegrationSuspicions,
  renderValidationReportHtml,
  reportDocument,
  reviewSuspicion,
  SUSPICION_STATUSES,
} from '../validation/index.ts';
import { Id, IdParams, Instant, iso } from './dto.ts';
import { duplicateSuspicionOrganization, integrationOrganization, scopedValidationReport } from './lookup.ts';
import { pageValidationReports, runValidationReport } from './validations.service.ts';

/**
 * Validation reports (issue 9): run one for an integration, list and read them as JSON, or get the
 * printable HTML page to send the customer; review duplicate suspicions. Reports are computed
 * synchronously: the work is a few bulk SQL statements per account.
 */
const Day = isoDay().meta({ description: 'Business date, YYYY-MM-DD' });
const Minor = z
  .string()
  .regex(/^-?\d+$/)
  .meta({ description: 'Amount in integer minor units, as a decimal string' });
const State = z.enum(['proved', 'broken', 'unproved']);
const Counts = z.object({ proved: z.number().int(), broken: z.number().int(), unproved: z.number().int() });

const ReportDocumentSchema = z
  .object({
    id: Id,
    integration: z.object({ id: Id, name: z.string(), organizationId: Id, stage: z.string() }),
    period: z.object({ from: Day, to: Day, basis: z.enum(['requested', 'since_approval', 'last_30_days']) }),
    generatedAt: Instant,
    passed: z.boolean(),
    reasons: z.array(z.string()),
    summary: Counts.extend({ accounts: z.number().int(), openSuspicions: z.number().int() }),
    totalsByCurrency: z.array(
      z.object({
        currency: z.string(),
        decimalLocation: z.number().int(),
        creditsMinor: Minor,
        debitsMinor: Minor,
        creditCount: z.number().int(),
        debitCount: z.number().int(),
      }),
    ),
    accounts: z.array(
      z.object({
        accountId: Id,
        accountMasked: z.string(),
        accountName: z.string(),
        currency: z.string(),
        decimalLocation: z.number().int(),
        timeZone: z.string(),
        from: Day,
        to: Day,
        days: Counts,
        totals: z.object({
          creditsMinor: Minor,
          debitsMinor: Minor,
          creditCount: z.number().int(),
          debitCount: z.number().int(),
        }),
        calendar: z.array(
          z.object({
            day: Day,
            state: State,
            differenceMinor: Minor.nullable(),
            reason: z.string().nullable().meta({
              description:
                'Why the day is not proved: unreported_posting (a late posting), duplicate_suspected, differs_from_bank (our rows differ from the bank tally of the day; on an unproved day the difference nets to zero), rejected_record, no_final_balance, incomplete_final_balance, transactions_not_fetched; null when proved or not known',
            }),
            explanation: z
              .string()
              .nullable()
              .optional()
              .meta({ description: 'The reason in a sentence for the reader' }),
          }),
        ),
        notYetReportable: z.object({ firstDay: Day, lastClosedDay: Day }).optional().meta({
          description:
            "Since approval only: the account's first business day since the approval (from) is not closed by the bank yet (its last closed day is to); nothing is owed for it yet and it adds no reason to the verdict. Absent otherwise",
        }),
        noBusinessDays: z
          .array(Day)
          .optional()
          .meta({ description: 'Weekdays the bank reported as no business day (holidays: nothing owed)' }),
        undatedRejects: z.number().int().optional().meta({
          description:
            'Open rejects of records whose booking date could not be read (no day can count them; the report fails); absent when none',
        }),
        openSuspicions: z.number().int(),
      }),
    ),
    suspicions: z.array(
      z.object({
        id: Id,
        accountId: Id,
        accountMasked: z.string(),
        bookingDate: Day,
        direction: z.string(),
        amountMinor: Minor,
        currency: z.string(),
        decimalLocation: z.number().int(),
        liveCount: z.number().int(),
        bankCount: z.number().int(),
        status: z.string(),
        transactionIds: z.array(Id),
      }),
    ),
    coverage: z.object({
      staleHours: z
        .number()
        .meta({ description: 'Weekday hours (in the account time zone) without a sync that make an account stale' }),
      daysNotFetched: z.array(z.object({ accountId: Id, day: Day })),
      failedWindows: z.array(
        z.object({
          runId: Id,
          accountId: Id.nullable(),
          mode: z.string(),
          status: z.string(),
          windowFrom: Day.nullable(),
          windowTo: Day.nullable(),
          errorCode: z.string().nullable(),
          errorMessage: z.string().nullable(),
          at: Instant,
          recovered: z.boolean(),
        }),
      ),
      staleAccounts: z.array(z.object({ accountId: Id, lastSyncedAt: Instant.nullable() })),
      daysFetchedNothing: z
        .array(z.object({ accountId: Id, day: Day, syncRunId: Id.nullable() }))
        .optional()
        .meta({
          description:
            'Business days J.P. Morgan reported no transaction for, on an account that normally has activity',
        }),
      bankHolidays: z
        .array(z.object({ accountId: Id, day: Day }))
        .optional()
        .meta({ description: 'Weekdays J.P. Morgan reported as no business day (nothing owed)' }),
    }),
  })
  .meta({
    id: 'ValidationReportDocument',
    description: 'Per account: the balance proof of every business day, totals, suspicions and coverage gaps',
  });

const ReportSummarySchema = z
  .object({
    id: Id,
    integrationId: Id,
    status: z.enum(['running', 'completed', 'failed']),
    passed: z.boolean().nullable(),
    reasons: z.array(z.string()),
    periodFrom: Day,
    periodTo: Day,
    requestedBy: z.string(),
    errorMessage: z.string().nullable(),
    createdAt: Instant,
    completedAt: Instant.nullable(),
  })
  .meta({ id: 'ValidationReportSummary' });

const ReportSchema = ReportSummarySchema.extend({ report: ReportDocumentSchema.nullable() }).meta({
  id: 'ValidationReport',
});

const SuspicionSchema = z
  .object({
    id: Id,
    accountId: Id,
    bookingDate: Day,
    direction: z.string(),
    amountMinor: Minor,
    currency: z.string(),
    transactionIds: z.array(Id),
    liveCount: z.number().int(),
    bankCount: z.number().int(),
    evidence: z.record(z.string(), z.unknown()),
    active: z.boolean(),
    status: z.enum(SUSPICION_STATUSES),
    reviewedBy: z.string().nullable(),
    reviewedAt: Instant.nullable(),
    reviewNote: z.string().nullable(),
  })
  .meta({ id: 'DuplicateSuspicion' });

function toSummary(r: ValidationReportRow): z.input<typeof ReportSummarySchema> {
  return {
    id: r.id,
    integrationId: r.integration_id,
    status: r.status as 'running' | 'completed' | 'failed',
    passed: r.passed,
    reasons: (r.reasons as string[] | null) ?? [],
    periodFrom: r.period_from,
    periodTo: r.period_to,
    requestedBy: r.requested_by,
    errorMessage: r.error_message,
    createdAt: iso(new Date(r.created_at)),
    completedAt: r.completed_at ? iso(new Date(r.completed_at)) : null,
  };
}

const TAGS = ['Validation'];

export function validationRoutes(deps: { db: Database; now?: () => Date }): Route[] {
  const now = deps.now ?? (() => new Date());
  return [
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/validations',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'validation_report',
      summary: 'Run a validation report',
      description:
        "Proves every business day of every account of the integration against J.P. Morgan's balances, lists duplicate suspicions and coverage gaps, and stores the verdict (the onboarding `live` guard reads the latest). Default period: since approval (each account from its business day at the approval, in its time zone; `period.from` the earliest), else the last 30 days, up to yesterday. Since approval, until the bank has closed some account's first business day since the approval there is nothing to report: 409 `validation_not_yet_reportable`, naming each account's first business day and the day after it, the earliest a report can be made (once the bank closes the day; made before its prior-day data is in, the day is unproved). An integration with no accounts (none registered yet, or every one removed): 409 `integration_has_no_accounts`, add its accounts first.",
      request: { params: IdParams, body: z.object({ from: Day.optional(), to: Day.optional() }) },
      response: { status: 201, schema: ReportSchema, description: 'The completed report' },
      errors: [409],
      handler: async ({ params, body, access, audit, principal, atomicAnswer }) => {
        const { row, report } = await runValidationReport(
          { db: deps.db, now },
          access,
          params.id,
          { requestedBy: `api-key:${principal.keyPrefix}`, from: body.from, to: body.to },
          (target) => audit.target(target),
          (trx, done) => atomicAnswer(trx, { ...toSummary(done.row), report: done.report }),
        );
        return { ...toSummary(row), report };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/validations',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'List validation reports of an integration',
      description: 'Newest first.',
      request: { params: IdParams, query: z.object(PAGE_QUERY) },
      response: {
        status: 200,
        schema: pageSchema(ReportSummarySchema).meta({ id: 'ValidationReportPage' }),
        description: 'A page of reports',
      },
      handler: async ({ params, query, access }) => {
        const page = await pageValidationReports(deps.db, access, params.id, query);
        return { data: page.rows.map(toSummary), nextCursor: page.nextCursor };
      },
    }),
    // Registered before `/v1/validations/{id}` so `<id>.html` is not read as an id.
    defineRoute({
      method: 'get',
      path: '/v1/validations/{id}.html',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'A validation report as a printable HTML page',
      description:
        'Self-contained (inline CSS and SVG, no scripts): per account a calendar of proved, broken and unproved days, totals, open suspicions and coverage.',
      request: { params: IdParams },
      response: { status: 200, schema: z.string(), description: 'The HTML page', mediaType: 'text/html' },
      errors: [409],
      handler: async ({ params, access }) =>
        renderValidationReportHtml(
          completedReportDocument(await scopedValidationReport(deps.db, access, params.id), params.id),
        ),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/validations/{id}',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'Get a validation report',
      request: { params: IdParams },
      response: { status: 200, schema: ReportSchema, description: 'The report with its document' },
      handler: async ({ params, access }) => {
        const row = await scopedValidationReport(deps.db, access, params.id);
        return { ...toSummary(row), report: reportDocument(row) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/duplicate-suspicions',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'Duplicate suspicions of an integration',
      description:
        'Active suspicions (the evidence still holds) in a period, oldest day first (then by id): rows that look the same where we hold more than the bank reported. Paged like every list (`limit`, default 50, at most 500; pass `nextCursor` back as `cursor` with the same filters; null on the last page).',
      request: {
        params: IdParams,
        query: z.object({
          from: Day,
          to: Day,
          accountId: Id.optional().meta({ description: 'Only this account of the integration' }),
          ...PAGE_QUERY,
        }),
      },
      response: { status: 200, schema: pageSchema(SuspicionSchema), description: 'A page of the suspicions' },
      handler: async ({ params, query, access }) => {
        assertQueryRanges([{ from: ['from', query.from], to: ['to', query.to], compare: compareIsoDates }]);
        await integrationOrganization(deps.db, access, params.id);
        const page = await pageIntegrationSuspicions(deps.db, params.id, query);
        return {
          data: page.rows.map((s) => ({
            id: s.id,
            accountId: s.account_id,
            bookingDate: s.booking_date,
            direction: s.direction,
            amountMinor: String(s.amount_minor),
            currency: s.currency,
            transactionIds: s.transaction_ids,
            liveCount: s.live_count,
            bankCount: s.bank_count,
            evidence: s.evidence as Record<string, unknown>,
            active: s.active,
            status: s.status as (typeof SUSPICION_STATUSES)[number],
            reviewedBy: s.reviewed_by,
            reviewedAt: s.reviewed_at ? iso(new Date(s.reviewed_at)) : null,
            reviewNote: s.review_note,
          })),
          nextCursor: page.nextCursor,
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/duplicate-suspicions/{id}/review',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'duplicate_suspicion',
      summary: "Record a person's review of a duplicate suspicion",
      description: 'Nothing about the transactions changes: the service never merges or deletes them.',
      request: {
        params: IdParams,
        body: z.object({ status: z.enum(SUSPICION_STATUSES), note: z.string().trim().max(2000).optional() }),
      },
      response: {
        status: 200,
        schema: z.object({ id: Id, status: z.enum(SUSPICION_STATUSES), reviewedBy: z.string() }),
        description: 'The recorded review',
      },
      handler: async ({ params, body, access, audit, principal, atomicAnswer }) => {
        const organizationId = await duplicateSuspicionOrganization(deps.db, access, params.id);
        audit.target({ id: params.id, organizationId });
        const reviewedBy = `${principal.name} (${principal.keyPrefix})`;
        return atomicWrite(deps.db, atomicAnswer, async (trx) => {
          await reviewSuspicion(trx, params.id, { status: body.status, reviewedBy, note: body.note ?? null }, now());
          return { id: params.id, status: body.status, reviewedBy };
        });
      },
    }),
  ];
}
