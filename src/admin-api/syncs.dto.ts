import { z } from 'zod';
import { RECORD_SOURCES, SYNC_MODES, SYNC_RUN_STATUSES, SYNC_TRIGGERS } from '../domain/types.ts';
import { isoDay } from '../http/validate.ts';
import { MAX_RANGE_DAYS, type RunView } from '../scheduler/index.ts';
import type { RejectListRow } from '../storage/transactions.repo.ts';
import { Id, Instant, iso } from './dto.ts';

/** DTOs of sync runs, sync requests and rejected records (camelCase, ISO instants). */
const Day = isoDay().meta({ description: 'Business date, YYYY-MM-DD' });
export const Status = z.enum(SYNC_RUN_STATUSES);
const ErrorSchema = z.object({ code: z.string(), message: z.string().nullable() }).nullable();

export const RejectSchema = z
  .object({
    id: z.string().meta({ description: 'Reject id' }),
    recordType: z.enum(['transaction', 'balance']),
    jpmTransactionId: z
      .string()
      .nullable()
      .meta({ description: "The record's transactionId as the bank sent it; null when none" }),
    recordIndex: z
      .number()
      .int()
      .nullable()
      .meta({ description: "Where the record sat on the bank's page (-1: not from a page position)" }),
    bookingDate: Day.nullable().meta({ description: 'Its asOfDate when readable: the day it blocks' }),
    recordClass: z.string().nullable().meta({ description: 'I (intraday) or P (posted) when known' }),
    fields: z.array(z.string()).meta({ description: 'The unusable fields, e.g. ["amount"]' }),
    reason: z.string().meta({ example: 'amount: expected string, got null' }),
    seenCount: z.number().int().meta({ description: 'How many fetches returned this same bad record' }),
    syncRunId: Id.nullable().meta({ description: 'The run (window) that saw it last' }),
    firstSeenAt: Instant,
    lastSeenAt: Instant,
    resolvedAt: Instant.nullable(),
    resolution: z.enum(['stored', 'not_sent_again']).nullable().meta({
      description:
        'stored: a later sync stored the record; not_sent_again: a complete walk of its day no longer had it',
    }),
  })
  .meta({ id: 'Reject', description: 'A record the bank sent that could not be stored' });

export function toRejectDto(r: RejectListRow): z.input<typeof RejectSchema> {
  return {
    id: r.id,
    recordType: r.record_type as 'transaction' | 'balance',
    jpmTransactionId: r.jpm_transaction_id,
    recordIndex: r.record_index,
    bookingDate: r.booking_date,
    recordClass: r.record_class,
    fields: r.fields,
    reason: r.reason,
    seenCount: r.seen_count,
    syncRunId: r.sync_run_id,
    firstSeenAt: iso(r.created_at),
    lastSeenAt: iso(r.last_seen_at),
    resolvedAt: r.resolved_at ? iso(r.resolved_at) : null,
    resolution: r.resolution as 'stored' | 'not_sent_again' | null,
  };
}

export const SyncRequestSchema = z
  .discriminatedUnion('mode', [
    z
      .strictObject({ mode: z.literal('intraday') })
      .meta({ description: "Today, in the account's time zone (pending items and current-day balances)" }),
    z.strictObject({ mode: z.literal('prior_day') }).meta({
      description: "The bank's prior business day plus the configured look-back days (late postings, corrections)",
    }),
    z.strictObject({ mode: z.literal('range'), from: Day, to: Day }).meta({
      description: `A backfill of completed business days (ends before the bank's current business day at the latest; at most ${MAX_RANGE_DAYS} days)`,
    }),
  ])
  .meta({ id: 'SyncRequest', description: 'What to sync' });

export const SyncRunSchema = z
  .object({
    id: Id,
    organizationId: Id,
    integrationId: Id,
    accountId: Id.nullable(),
    trigger: z.string().meta({ description: `${SYNC_TRIGGERS.join(' | ')}` }),
    mode: z.enum(SYNC_MODES),
    source: z.enum(RECORD_SOURCES).meta({
      description:
        "What the run read: jpm_api (the bank's API), or an imported statement file (bai2, camt053, camt052)",
    }),
    window: z.object({ from: Day.nullable(), to: Day.nullable() }),
    status: Status.meta({
      description:
        'queued → running → succeeded | partial (some windows gave up, or records were rejected: error_code records_rejected) | failed | cancelled',
    }),
    counts: z.object({
      fetched: z.number().int(),
      inserted: z.number().int(),
      updated: z.number().int(),
      unchanged: z.number().int(),
      superseded: z.number().int(),
      removed: z.number().int(),
      rejected: z.number().int(),
      balances: z.number().int(),
    }),
    progress: z.object({ windowsTotal: z.number().int(), windowsDone: z.number().int() }),
    error: ErrorSchema,
    bankBusinessDay: Day.nullable().meta({
      description:
        "The business day J.P. Morgan answered for (its CURRENT_DAY for intraday, its PRIOR_DAY for prior-day runs); the run's dates follow it, not our clock",
    }),
    warnings: z
      .array(
        z.object({
          code: z.string().meta({
            description:
              'no_business_day (weekdays the bank reports as no business day: holidays, nothing owed) | no_current_business_day (intraday on a day the bank is closed) | fetched_nothing (business days with no transaction on an account that normally has activity) | day_not_closed (days of a range the bank has not closed yet: not fetched) | listed_after_close (days whose final data is stored that the current-day view lists intraday items under: each linked to its posting or removed as not in the prior day) | pending_held_unreadable (days whose final data holds a record we could not read: intraday items of those days the rest lacks stay pending; one posted under a later day counts there as well until the reject is resolved) | bank_business_day_unknown',
          }),
          message: z.string(),
          dates: z.array(Day).optional(),
        }),
      )
      .meta({ description: 'What a person should notice about a run that did not fail it' }),
    createdAt: Instant,
    startedAt: Instant.nullable(),
    finishedAt: Instant.nullable().meta({ description: 'Set once the run is over' }),
    windows: z
      .array(
        z.object({
          id: Id,
          kind: z.string().meta({ description: 'transactions | balances | all' }),
          from: Day.nullable(),
          to: Day.nullable(),
          status: Status,
          attempts: z.number().int(),
          error: ErrorSchema,
        }),
      )
      .optional()
      .meta({ description: "The run's windows in the order they run (single runs only)" }),
  })
  .meta({ id: 'SyncRun', description: 'One sync of one account: a parent run with one window per bank request range' });

export const TriggeredRunSchema = SyncRunSchema.extend({
  joined: z.boolean().meta({
    description:
      'An unfinished run for the same request was joined: for a range, any for its dates; for intraday and prior-day, only one still queued',
  }),
}).meta({ id: 'TriggeredSyncRun' });
export const TriggeredListSchema = z.object({ data: z.array(TriggeredRunSchema) }).meta({ id: 'TriggeredSyncRunList' });
/** The answer of the old `…/syncs` paths (one release): the runs under `runs`. */
export const TriggeredSchema = z.object({ runs: z.array(TriggeredRunSchema) }).meta({ id: 'TriggeredSyncRuns' });

export function toSyncRunDto(r: RunView): z.input<typeof SyncRunSchema> {
  return {
    id: r.runId,
    organizationId: r.organizationId,
    integrationId: r.integrationId,
    accountId: r.accountId,
    trigger: r.trigger,
    mode: r.mode as (typeof SYNC_MODES)[number],
    source: r.source as (typeof RECORD_SOURCES)[number],
    window: r.window,
    status: r.status,
    counts: r.counts,
    progress: r.progress,
    error: r.error,
    bankBusinessDay: r.bankBusinessDay,
    warnings: r.warnings,
    createdAt: iso(r.createdAt),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    ...(r.windows
      ? {
          windows: r.windows.map((w) => ({
            id: w.runId,
            kind: w.kind,
            from: w.from,
            to: w.to,
            status: w.status,
            attempts: w.attempts,
            error: w.error,
          })),
        }
      : {}),
  };
}
