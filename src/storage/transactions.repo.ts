import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { decodePgJson, decodePgText, encodePgText, jsonMayNeedPgEncoding, pgJsonText } from '../shared/pg-text.ts';
import type { TRANSACTION_STATUSES } from '../domain/types.ts';
import type { Executor } from './db.ts';
import { decodeCursor, pageOf } from './pagination.ts';
import { withPlannerSettings } from './planner-settings.ts';

/**
 * Bulk writes for the ingestion path. Rows travel to Postgres as one JSON document per statement
 * (`jsonb_to_recordset`), so a page of up to 1000 records is one round trip, with no bind-parameter
 * limit; amounts travel as decimal strings and land in bigint columns, never as JS numbers.
 */

export interface ExistingTransaction {
  id: string;
  post_code: string;
  jpm_transaction_id: string;
  fingerprint_key: string;
  content_hash: string;
  status: string;
  /** The channel of the row's current version (`jpm_api`, `bai2`, …). */
  source: string;
}

/**
 * A row as identity matching reads it: with its data-quality notes (a takeover by another channel's record notes
 * each field it left out and did not keep from the row it took over; ingest.ts carries those notes forward while
 * the channel still leaves the field out).
 */
export interface MatchingTransaction extends ExistingTransaction {
  data_quality: unknown;
}

/**
 * Rows of this account matching any of the J.P. Morgan ids (within the page's record classes) or
 * fingerprint keys, for identity matching. The post codes are what lets the id lookup use the unique
 * index `(account_id, post_code, jpm_transaction_id)` as a point lookup per id: without them Postgres
 * scans every index entry of the account once per id, which grows with the account's history. `jpmIds`
 * are identity ids only (`isIdentityId`); the predicate repeats the partial index's so it can be used (both its
 * forms: `jpm_transaction_id <> ''` of the index before the migration that leaves out ids of only spaces, and
 * `btrim(…) <> ''` of the index since, so this code reads and writes under either).
 * Ids come back as the bank sent them (decoded, src/shared/pg-text.ts).
 */
export async function findForMatching(
  ex: Executor,
  accountId: string,
  jpmIds: readonly string[],
  fingerprintKeys: readonly string[],
  postCodes: readonly string[],
): Promise<MatchingTransaction[]> {
  if (jpmIds.length === 0 && fingerprintKeys.length === 0) {
    return [];
  }
  const result = await sql<MatchingTransaction>`
    select id, post_code, jpm_transaction_id, fingerprint_key, content_hash, status, source,
      data_quality
    from transactions
    where account_id = ${accountId}
      and ((post_code = any(${[...new Set(postCodes)]}::text[])
        and jpm_transaction_id = any(${jpmIds.map(encodePgText)}::text[])
          and jpm_transaction_id <> '' and btrim(jpm_transaction_id, ' ') <> ''
          and char_length(jpm_transaction_id) <= 200)
        or fingerprint_key = any(${fingerprintKeys}::text[]))`.execute(ex);
  for (const r of result.rows) {
    r.jpm_transaction_id = decodePgText(r.jpm_transaction_id);
  }
  return result.rows;
}

/** What a stored row's content is compared by (`contentMeaning`), as the bank sent it (decoded). */
export type StoredContent = Pick<
  TransactionRow,
  | 'id'
  | 'amount_minor'
  | 'direction'
  | 'booking_date'
  | 'value_date'
  | 'bai_type_code'
  | 'bai_summary_code'
  | 'bank_reference'
  | 'customer_reference'
  | 'raw'
>;

/**
 * The compared content of rows by id, text and raw record decoded (src/shared/pg-text.ts): for rows whose content hash
 * is not a record's, so ingest can tell whether the record differs from one only in how its JSON was spelled.
 */
export async function findStoredContent(ex: Executor, ids: readonly string[]): Promise<StoredContent[]> {
  if (ids.length === 0) {
    return [];
  }
  const result = await sql<StoredContent>`
    select id, amount_minor::text as amount_minor, direction, booking_date::text as booking_date,
      value_date::text as value_date, bai_type_code, bai_summary_code, bank_reference, customer_reference, raw
    from transactions where id = any(${ids}::uuid[])`.execute(ex);
  return result.rows.map((r) => ({
    ...r,
    bai_type_code: r.bai_type_code === null ? null : decodePgText(r.bai_type_code),
    bai_summary_code: r.bai_summary_code === null ? null : decodePgText(r.bai_summary_code),
    bank_reference: decodePgText(r.bank_reference),
    customer_reference: decodePgText(r.customer_reference),
    raw: decodePgJson(r.raw),
  }));
}

/**
 * Rows of this account on `dates` whose fingerprint (the middle part of the key) is one of `fingerprints`,
 * any occurrence: the candidates for records without an id key. Uses the (account, booking date) index;
 * only pages with such records ask. The same columns as `findForMatching`: a row taken over carries its not-kept
 * notes through the next change of the item, however it was found (ingest.ts).
 */
export async function findFingerprintGroups(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
  fingerprints: readonly string[],
): Promise<MatchingTransaction[]> {
  const result = await sql<MatchingTransaction>`
    select id, post_code, jpm_transaction_id, fingerprint_key, content_hash, status, source,
      data_quality
    from transactions
    where account_id = ${accountId} and booking_date = any(${[...new Set(dates)]}::date[])
      and split_part(fingerprint_key, ':', 2) = any(${[...new Set(fingerprints)]}::text[])`.execute(ex);
  for (const r of result.rows) {
    r.jpm_transaction_id = decodePgText(r.jpm_transaction_id);
  }
  return result.rows;
}

/**
 * A stored row that a record may be the same item as although their fingerprints differ (ingest.ts, `looseMatches`).
 */
export interface LooseCandidate extends ExistingTransaction {
  booking_date: string;
  direction: string;
  amount_minor: string;
  currency: string;
  bai_type_code: string | null;
  bank_reference: string;
  customer_reference: string;
}

/**
 * Posted rows of record class P (posted and prior-day items; intraday ones are never matched loosely, see
 * `LOOSE_MATCH_CLASS`) of this account on `dates` whose amount is one of `amounts`, whatever their fingerprint:
 * the candidates of records that matched nothing by id or fingerprint (the caller keeps those of the same
 * booking date, direction, amount and currency). One pass over the account's rows of
 * those dates (its booking-date index), references decoded; only pages that insert ask.
 */
export async function findLooseCandidates(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
  amounts: readonly string[],
  onlyApiRecords: boolean,
): Promise<LooseCandidate[]> {
  if (dates.length === 0) {
    return [];
  }
  // Records of the API pair only with rows of another channel: the literal predicate lets the plan read the
  // partial index of those rows (migration 20261206T170000000Z), not every row of the page's days.
  const channel = onlyApiRecords ? sql`and t.source <> 'jpm_api'` : sql``;
  const result = await sql<LooseCandidate>`
    select t.id, t.post_code, t.jpm_transaction_id, t.fingerprint_key, t.content_hash, t.status, t.source,
      t.booking_date::text as booking_date, t.direction, t.amount_minor::text as amount_minor, t.currency,
      t.bai_type_code, t.bank_reference, t.customer_reference
    from transactions t
    where t.account_id = ${accountId} and t.booking_date = any(${[...new Set(dates)]}::date[])
      and t.amount_minor = any(${[...new Set(amounts)]}::bigint[]) and t.post_code = 'P'
        and t.status = 'posted' ${channel}`.execute(ex);
  for (const r of result.rows) {
    r.jpm_transaction_id = decodePgText(r.jpm_transaction_id);
    r.bank_reference = decodePgText(r.bank_reference);
    r.customer_reference = decodePgText(r.customer_reference);
  }
  return result.rows;
}

/**
 * The pairs of channels (`source` and the evidence's `previousSource`, sorted, `|`-joined) already decided on each row
 * by `rule`.
 */
export async function decidedChannelPairs(
  ex: Executor,
  transactionIds: readonly string[],
  rule: string,
): Promise<Set<string>> {
  if (transactionIds.length === 0) {
    return new Set();
  }
  const result = await sql<{ transaction_id: string; a: string | null; b: string | null }>`
    select transaction_id, source as a, evidence->>'previousSource' as b from transaction_decisions
    where transaction_id = any(${[...new Set(transactionIds)]}::uuid[]) and rule = ${rule}`.execute(ex);
  return new Set(result.rows.map((r) => `${r.transaction_id}|${[r.a ?? '', r.b ?? ''].sort().join('|')}`));
}

export interface TransactionRow {
  id: string;
  organization_id: string;
  account_id: string;
  status: string;
  direction: string;
  amount_minor: string;
  currency: string;
  decimal_location: number;
  booking_date: string;
  value_date: string | null;
  bai_type_code: string | null;
  bai_summary_code: string | null;
  bank_reference: string;
  customer_reference: string;
  description: string;
  jpm_transaction_id: string;
  post_code: string;
  fingerprint_key: string;
  content_hash: string;
  raw: unknown;
  /** `JSON.stringify(raw)` when the caller already has it: sent as is instead of serializing the record again. */
  raw_json?: string;
  /** The bank's narrativeText as sent (null when absent). */
  narrative: unknown;
  data_quality: unknown;
  /** The channel the record came from. */
  source: string;
}

const RECORDSET = sql.raw(`(
  id uuid, organization_id uuid, account_id uuid, status text, direction text, amount_minor bigint, currency text,
  decimal_location smallint, booking_date date, value_date date, bai_type_code text, bai_summary_code text,
  bank_reference text, customer_reference text, description text, jpm_transaction_id text, post_code text,
  fingerprint_key text, content_hash text, raw jsonb, narrative jsonb, data_quality jsonb, source text, reason text)`);

function narrativeOf(raw: unknown): unknown {
  return raw !== null && typeof raw === 'object' && !Array.isArray(raw)
    ? (raw as { narrativeText?: unknown }).narrativeText
    : undefined;
}

/**
 * The stored narrative of a recordset row: the document's `narrative`, or, when the document leaves it out
 * (`rowsJsonText`: it is the raw record's narrativeText), the raw record's; JSON null and absent are SQL null.
 */
const NARRATIVE = sql.raw(`nullif(coalesce(r.narrative, r.raw->'narrativeText'), 'null'::jsonb)`);

/** The row without `raw_json`; an undefined narrative sent as null (a left-out one is the raw record's, NARRATIVE). */
function withoutRawJson<T extends { raw_json?: string }>(row: T): Omit<T, 'raw_json'> {
  const { raw_json: _omitted, ...rest } = row;
  return 'narrative' in rest && rest.narrative === undefined ? { ...rest, narrative: null } : rest;
}

/**
 * `pgJsonText(rows)`, the rows' JSON document for `jsonb_to_recordset`, with each row's raw record spliced in
 * from `raw_json` when the row has it: the ~2 kB record is serialized once per ingest (for its content hash),
 * not twice. Text that may hold NUL, "␀", "␛" or a lone surrogate (`jsonMayNeedPgEncoding`: the rare document the
 * escape may change) takes `pgJsonText` on the values, as every row did before.
 */
export function rowsJsonText<T extends { raw: unknown; raw_json?: string }>(rows: readonly T[]): string {
  if (rows.some((r) => r.raw_json === undefined)) {
    return pgJsonText(rows.map(withoutRawJson));
  }
  if (rows.length === 0) {
    return '[]';
  }
  const parts = rows.map((row) => {
    const { raw, raw_json: rawJson, narrative, ...rest } = row as T & { narrative?: unknown };
    // A narrative that is the raw record's narrativeText (every API row) is left out: Postgres takes it from `raw`
    // (NARRATIVE) instead of parsing it twice. Any other is sent.
    const own =
      (narrative ?? null) === (narrativeOf(raw) ?? null) ? '' : `"narrative":${JSON.stringify(narrative ?? null)},`;
    const head = JSON.stringify(rest);
    return `${head === '{}' ? '{' : `${head.slice(0, -1)},`}${own}"raw":${rawJson as string}}`;
  });
  // The brackets go on the first and last rows, so the join is the one copy of the whole document.
  const last = parts.length - 1;
  parts[0] = `[${parts[0] as string}`;
  parts[last] = `${parts[last] as string}]`;
  const text = parts.join(',');
  return jsonMayNeedPgEncoding(text) ? pgJsonText(rows.map(withoutRawJson)) : text;
}

/** Inserts new rows, each with its `added` change event (in the order inserted, by the same statement: no second
 *  document of event rows to build, send and parse). A row whose J.P. Morgan id key already exists for the account
 *  is skipped, without an event (the per-account lock makes that impossible in practice; the unique index is the
 *  safety net). Returns inserted ids. Bank text travels through `pgJsonText`, so U+0000 or a lone surrogate anywhere
 *  is stored escaped (src/shared/pg-text.ts). */
export async function insertTransactions(ex: Executor, rows: readonly TransactionRow[]): Promise<string[]> {
  if (rows.length === 0) {
    return [];
  }
  const result = await sql<{ id: string }>`
    with ins as (
      insert into transactions (id, organization_id, account_id, status, direction, amount_minor, currency,
        decimal_location, booking_date, value_date, bai_type_code, bai_summary_code, bank_reference, customer_reference,
        description, jpm_transaction_id, post_code, fingerprint_key, content_hash, raw, narrative, data_quality, source)
      select id, organization_id, account_id, status, direction, amount_minor, currency, decimal_location,
        booking_date, value_date, bai_type_code, bai_summary_code, bank_reference, customer_reference, description,
        jpm_transaction_id, post_code, fingerprint_key, content_hash, raw, ${NARRATIVE},
        nullif(data_quality, 'null'::jsonb), source
      from jsonb_to_recordset(${rowsJsonText(rows)}::jsonb) as r ${RECORDSET}
      on conflict (account_id, post_code, jpm_transaction_id) where jpm_transaction_id <> ''
        and btrim(jpm_transaction_id, ' ') <> '' and char_length(jpm_transaction_id) <= 200
      do nothing
      returning id, organization_id, account_id
    ), events as (
      insert into change_events (organization_id, account_id, entity, entity_id, kind)
      select organization_id, account_id, 'transaction', id, 'added' from ins
    )
    select id from ins`.execute(ex);
  return result.rows.map((r) => r.id);
}

export interface TransactionUpdate extends Omit<TransactionRow, 'status' | 'organization_id' | 'account_id'> {
  /** Why the row changed: `bank_changed_record` or `re_identified`. */
  reason: string;
  sync_run_id: string | null;
}

/**
 * Updates changed rows and keeps each previous version in transaction_versions, with the fields
 * that changed. All CTEs read one snapshot, so `old` holds the values before the update.
 */
export async function updateTransactions(
  ex: Executor,
  rows: readonly TransactionUpdate[],
  syncRunId: string | null,
): Promise<number> {
  if (rows.length === 0) {
    return 0;
  }
  const result = await sql<{ n: string }>`
    with r as (
      select * from jsonb_to_recordset(${rowsJsonText(rows)}::jsonb) as r ${RECORDSET}
    ), old as (
      select t.* from transactions t join r on r.id = t.id
    ), upd as (
      update transactions t set
        direction = r.direction, amount_minor = r.amount_minor, currency = r.currency,
        decimal_location = r.decimal_location, booking_date = r.booking_date, value_date = r.value_date,
        bai_type_code = r.bai_type_code, bai_summary_code = r.bai_summary_code, bank_reference = r.bank_reference,
        customer_reference = r.customer_reference, description = r.description,
        jpm_transaction_id = r.jpm_transaction_id, post_code = r.post_code, fingerprint_key = r.fingerprint_key,
        content_hash = r.content_hash, raw = r.raw, narrative = ${NARRATIVE},
        data_quality = nullif(r.data_quality, 'null'::jsonb), source = r.source, version = t.version + 1,
        updated_at = now()
      from r where t.id = r.id and t.content_hash is distinct from r.content_hash
      returning t.id
    ), hist as (
      insert into transaction_versions (organization_id, transaction_id, version, reason, changed_fields, previous,
        sync_run_id, source)
      select old.organization_id, old.id, old.version, r.reason,
        array_remove(array[
          case when old.amount_minor <> r.amount_minor then 'amount' end,
          case when old.direction <> r.direction then 'direction' end,
          case when old.booking_date <> r.booking_date then 'booking_date' end,
          case when old.value_date is distinct from r.value_date then 'value_date' end,
          case when old.description <> r.description then 'description' end,
          case when old.bank_reference <> r.bank_reference or old.customer_reference <> r.customer_reference
            then 'references' end,
          case when old.bai_type_code is distinct from r.bai_type_code then 'bai_type_code' end,
          case when old.jpm_transaction_id <> r.jpm_transaction_id then 'jpm_transaction_id' end,
          case when old.raw <> r.raw then 'raw' end,
          case when old.source <> r.source then 'source' end
        ], null),
        to_jsonb(old), ${syncRunId}::uuid, r.source
      from old join r on r.id = old.id join upd on upd.id = old.id
      returning 1
    )
    select count(*)::text as n from upd`.execute(ex);
  return Number(result.rows[0]?.n ?? 0);
}

export interface NewChangeEvent {
  organization_id: string;
  account_id: string;
  entity_id: string;
  kind: 'added' | 'modified' | 'removed';
  entity?: 'transaction' | 'balance';
}

export async function insertChangeEvents(ex: Executor, rows: readonly NewChangeEvent[]): Promise<void> {
  if (rows.length === 0) {
    return;
  }
  await sql`
    insert into change_events (organization_id, account_id, entity, entity_id, kind)
    select organization_id, account_id, coalesce(entity, 'transaction'), entity_id, kind
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(organization_id uuid, account_id uuid, entity text,
      entity_id uuid, kind text)`.execute(ex);
}

export interface DecisionRow {
  organization_id: string;
  account_id: string;
  transaction_id: string;
  related_transaction_id: string | null;
  decision: 'matched' | 'superseded' | 'removed' | 're_identified' | 'restored';
  rule: string;
  evidence: Record<string, unknown>;
  sync_run_id: string | null;
  /** The channel whose record led to the decision; when absent, that of the row it links to (or decides on). */
  source?: string | undefined;
}

export async function insertDecisions(ex: Executor, rows: readonly DecisionRow[]): Promise<void> {
  if (rows.length === 0) {
    return;
  }
  await sql`
    insert into transaction_decisions (organization_id, account_id, transaction_id, related_transaction_id, decision,
      rule, evidence, sync_run_id, source)
    select organization_id, account_id, transaction_id, related_transaction_id, decision, rule, evidence, sync_run_id,
      coalesce(r.source, (select t.source from transactions t
        where t.id = coalesce(r.related_transaction_id, r.transaction_id)))
    from jsonb_to_recordset(${pgJsonText(rows)}::jsonb) as r(organization_id uuid, account_id uuid, transaction_id uuid,
      related_transaction_id uuid, decision text, rule text, evidence jsonb, sync_run_id uuid, source text)`.execute(
    ex,
  );
}

export interface RejectRow {
  organization_id: string;
  account_id: string | null;
  sync_run_id: string | null;
  record_type: 'transaction' | 'balance';
  reason: string;
  raw: unknown;
  /** Identifies the bad record while it stays open: the same record fetched again is the same row. */
  record_hash?: string;
  /** Where the record sat on the bank's page (-1 when not from a page). */
  record_index?: number | null;
  /** What names the record for a person: its transactionId (if any) and booking date (if readable). */
  jpm_transaction_id?: string | null;
  booking_date?: string | null;
  /** I or P when the record said so (or the request did), else null. */
  record_class?: string | null;
  /** The fields the reason names. */
  fields?: readonly string[];
}

/** The hash a reject without one gets: of its type and its raw record's exact text. */
export function rejectHash(recordType: RejectRow['record_type'], raw: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify([recordType, raw ?? null]))
    .digest('base64url');
}

/**
 * Records a page's rejects, one open row per distinct bad record (account, type, record hash): the same
 * bad record fetched again bumps `seen_count`, `last_seen_at` and the run that saw it instead of adding a
 * row, so a record the bank keeps sending wrong never piles up. Bank text is stored escaped (pg-text.ts).
 * A row without a hash (e.g. a balance reject) gets one from its type and raw record.
 */
export async function insertRejects(ex: Executor, rows: readonly RejectRow[]): Promise<void> {
  if (rows.length === 0) {
    return;
  }
  const hashed = rows.map((r) => ({ ...r, record_hash: r.record_hash ?? rejectHash(r.record_type, r.raw) }));
  // One row per hash within a statement: `on conflict do update` may not touch the same row twice.
  const unique = [...new Map(hashed.map((r) => [r.record_hash, r])).values()];
  await sql`
    insert into sync_rejects as s (organization_id, account_id, sync_run_id, record_type, reason, raw, record_hash,
      record_index, jpm_transaction_id, booking_date, record_class, fields)
    select organization_id, account_id, sync_run_id, record_type, reason, coalesce(raw, 'null'::jsonb),
      record_hash, record_index, jpm_transaction_id, booking_date, record_class,
      coalesce(fields, '{}'::text[])
    from jsonb_to_recordset(${pgJsonText(unique)}::jsonb) as r(organization_id uuid, account_id uuid, sync_run_id uuid,
      record_type text, reason text, raw jsonb, record_hash text, record_index int, jpm_transaction_id text,
      booking_date date, record_class text, fields text[])
    on conflict (account_id, record_type, record_hash) where resolved_at is null do update set
      seen_count = s.seen_count + 1, last_seen_at = now(), sync_run_id = coalesce(excluded.sync_run_id, s.sync_run_id),
      reason = excluded.reason, record_index = excluded.record_index, fields = excluded.fields`.execute(ex);
}

/**
 * Among `dates`, the booking dates of the account's open transaction rejects, and whether one has no booking date: a
 * record of those days the bank sent that could not be read, so no pending item of them is proved absent.
 */
export async function openRejectDates(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
): Promise<{ dates: Set<string>; undated: boolean }> {
  const out = { dates: new Set<string>(), undated: false };
  if (dates.length === 0) {
    return out;
  }
  const r = await sql<{ day: string | null }>`
    select distinct booking_date::text as day from sync_rejects
    where account_id = ${accountId} and record_type = 'transaction' and resolved_at is null
      and (booking_date = any(${[...dates]}::date[]) or booking_date is null)`.execute(ex);
  for (const { day } of r.rows) {
    if (day === null) {
      out.undated = true;
    } else {
      out.dates.add(day);
    }
  }
  return out;
}

/** The hashes among `hashes` of the account's open rejects of `recordType` (their partial unique index). */
export async function openRejectHashes(
  ex: Executor,
  accountId: string,
  recordType: RejectRow['record_type'],
  hashes: readonly string[],
): Promise<Set<string>> {
  if (hashes.length === 0) {
    return new Set();
  }
  const r = await sql<{ record_hash: string }>`
    select record_hash from sync_rejects
    where account_id = ${accountId} and record_type = ${recordType} and resolved_at is null
      and record_hash = any(${[...hashes]}::text[])`.execute(ex);
  return new Set(r.rows.map((x) => x.record_hash));
}

/**
 * The account's open rejects of `recordType` named as one of `names` is (its J.P. Morgan id and booking date, either
 * null): the rows a record sent again spelled another way may be. Their raw record decoded as stored.
 */
export async function openRejectsNamed(
  ex: Executor,
  accountId: string,
  recordType: RejectRow['record_type'],
  names: readonly { jpm_transaction_id: string | null; booking_date: string | null }[],
): Promise<{ record_hash: string; jpm_transaction_id: string | null; booking_date: string | null; raw: unknown }[]> {
  if (names.length === 0) {
    return [];
  }
  const r = await sql<{
    record_hash: string;
    jpm_transaction_id: string | null;
    booking_date: string | null;
    raw: unknown;
  }>`
    select s.record_hash, s.jpm_transaction_id, s.booking_date::text as booking_date, s.raw from sync_rejects s
    where s.account_id = ${accountId} and s.record_type = ${recordType} and s.resolved_at is null
      and exists (select 1 from jsonb_to_recordset(${pgJsonText(names)}::jsonb) as n(jpm_transaction_id text, booking_date date)
        where n.jpm_transaction_id is not distinct from s.jpm_transaction_id and n.booking_date is not distinct from s.booking_date)`.execute(
    ex,
  );
  return r.rows.map((x) => ({
    ...x,
    jpm_transaction_id: x.jpm_transaction_id === null ? null : decodePgText(x.jpm_transaction_id),
    raw: decodePgJson(x.raw),
  }));
}

/**
 * Resolves open transaction rejects of an account whose record a later sync stored: same J.P. Morgan
 * id. `exceptHashes` are the bad records of the same page (still bad, so not resolved); `exceptReasons`,
 * rejects that storing a record with their id does not resolve. Returns the count.
 */
export async function resolveRejectsStored(
  ex: Executor,
  accountId: string,
  jpmIds: readonly string[],
  exceptHashes: readonly string[],
  exceptReasons: readonly string[] = [],
): Promise<number> {
  if (jpmIds.length === 0) {
    return 0;
  }
  const r = await sql`
    update sync_rejects set resolved_at = now(), resolution = 'stored'
    where account_id = ${accountId} and record_type = 'transaction' and resolved_at is null
      and jpm_transaction_id = any(${jpmIds.map(encodePgText)}::text[]) and record_hash <> all(${exceptHashes}::text[])
      and reason <> all(${exceptReasons}::text[])`.execute(ex);
  return Number(r.numAffectedRows ?? 0n);
}

/**
 * After a complete walk of the bank's posted data for `dates` by run `runId`: open transaction rejects
 * of those dates that this run did not see again are resolved (`not_sent_again`): the bank no longer
 * sends that record, so nothing of it is missing from what we hold. Returns the count.
 */
export async function resolveRejectsNotSentAgain(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
  runId: string,
): Promise<number> {
  if (dates.length === 0) {
    return 0;
  }
  const r = await sql`
    update sync_rejects set resolved_at = now(), resolution = 'not_sent_again'
    where account_id = ${accountId} and record_type = 'transaction' and resolved_at is null
      and booking_date = any(${dates}::date[]) and sync_run_id is distinct from ${runId}::uuid`.execute(ex);
  return Number(r.numAffectedRows ?? 0n);
}

export const REJECT_STATES = ['open', 'resolved', 'all'] as const;

export interface RejectListFilter {
  accountId: string;
  state: (typeof REJECT_STATES)[number];
  cursor?: string | undefined;
  limit: number;
}

/**
 * A keyset page of an account's rejects, newest first, text decoded (the raw record never leaves). All or resolved
 * ones: a backward walk of the account's rejects (`sync_rejects_account_id_idx`) that stops at the page, sorting off
 * (without statistics the planner otherwise read all of the account's rejects and sorted them). Open ones: the
 * account's open rejects (their partial index), few by nature, sorted.
 */
export async function listRejectsPage(ex: Executor, f: RejectListFilter) {
  const found =
    f.state === 'open'
      ? await rejectsPage(ex, f).execute()
      : await withPlannerSettings(ex, { enable_sort: 'off', jit: 'off' }, (trx) => rejectsPage(trx, f).execute());
  const rows = found.map((r) => ({
    ...r,
    reason: decodePgText(r.reason),
    fields: r.fields.map(decodePgText),
    jpm_transaction_id: r.jpm_transaction_id === null ? null : decodePgText(r.jpm_transaction_id),
  }));
  return pageOf(rows, f.limit, (r) => [r.id]);
}

function rejectsPage(ex: Executor, f: RejectListFilter) {
  let q = ex
    .selectFrom('sync_rejects')
    .select([
      'id',
      'account_id',
      'sync_run_id',
      'record_type',
      'reason',
      'fields',
      'jpm_transaction_id',
      'record_index',
      'booking_date',
      'record_class',
      'seen_count',
      'created_at',
      'last_seen_at',
      'resolved_at',
      'resolution',
    ])
    .where('account_id', '=', f.accountId)
    .orderBy('id', 'desc')
    .limit(f.limit + 1);
  if (f.state === 'open') {
    q = q.where('resolved_at', 'is', null);
  } else if (f.state === 'resolved') {
    q = q.where('resolved_at', 'is not', null);
  }
  if (f.cursor !== undefined) {
    const [id] = decodeCursor(f.cursor, ['int']);
    q = q.where('id', '<', id);
  }
  return q;
}

export type RejectListRow = Awaited<ReturnType<typeof listRejectsPage>>['rows'][number];

/** Serializes writers of one account's rows for the rest of the current transaction. */
export async function lockAccountForWrite(ex: Executor, accountId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`account-write:${accountId}`}, 0))`.execute(ex);
}

/** What an account holds that a page's statements would otherwise look up on every page (`accountWriteState`). */
export interface AccountWriteState {
  /** Some transaction reject of the account is open (`resolveRejectsStored` has something to resolve). */
  openRejects: boolean;
  /** The account has some alias (`findAliasedRows` can find something). */
  aliases: boolean;
  /**
   * The account has some row of a channel other than the API (`findLooseCandidates` of API records can find something).
   */
  otherChannels: boolean;
}

/**
 * Whether the account has open transaction rejects, any alias and any row of another channel than the API: one
 * statement instead of the reject resolve, the alias lookup and the loose-match candidates of API records on every
 * page of an account that has none (a backfill: 1000 ids, keys or dates and amounts each, about 4 µs of Postgres
 * CPU a stored row). Call it after `lockAccountForWrite`, in its own statement (a statement's snapshot is taken
 * before a lock it waits for): open transaction rejects, aliases and rows (their channel too) are only written under
 * that lock, so none appears before the page's own writes.
 */
export async function accountWriteState(ex: Executor, accountId: string): Promise<AccountWriteState> {
  const r = await sql<{ open_rejects: boolean; aliases: boolean; other_channels: boolean }>`
    select exists (select 1 from sync_rejects where account_id = ${accountId} and record_type = 'transaction'
      and resolved_at is null) as open_rejects,
      exists (select 1 from transaction_aliases where account_id = ${accountId}) as aliases,
      exists (select 1 from transactions where account_id = ${accountId} and source <> 'jpm_api') as other_channels`.execute(
    ex,
  );
  const row = r.rows[0];
  return {
    openRejects: row?.open_rejects ?? true,
    aliases: row?.aliases ?? true,
    otherChannels: row?.other_channels ?? true,
  };
}

export interface MatchCandidate {
  id: string;
  status: string;
  booking_date: string;
  direction: string;
  amount_minor: string;
  bai_type_code: string | null;
  bank_reference: string;
  customer_reference: string;
  jpm_transaction_id: string;
  fingerprint_key: string;
}

/** Pending rows still live on these dates, and posted rows on them that no pending row points to yet. */
export async function pendingAndUnclaimedPosted(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
): Promise<{ pending: MatchCandidate[]; posted: MatchCandidate[] }> {
  const result = await sql<MatchCandidate>`
    select t.id, t.status, t.booking_date, t.direction, t.amount_minor, t.bai_type_code, t.bank_reference,
      t.customer_reference, t.jpm_transaction_id, t.fingerprint_key
    from transactions t
    where t.account_id = ${accountId} and t.booking_date = any(${dates}::date[])
      and (t.status = 'pending'
        or (t.status = 'posted' and not exists (select 1 from transactions p where p.superseded_by = t.id)))
    order by t.booking_date, t.fingerprint_key, t.id`.execute(ex);
  for (const r of result.rows) {
    r.bank_reference = decodePgText(r.bank_reference);
    r.customer_reference = decodePgText(r.customer_reference);
    r.jpm_transaction_id = decodePgText(r.jpm_transaction_id);
  }
  return {
    pending: result.rows.filter((r) => r.status === 'pending'),
    posted: result.rows.filter((r) => r.status === 'posted'),
  };
}

/** Rules that remove an intraday item without linking it to a posted one: a posting stored later may still be its. */
const UNLINKED_REMOVAL_RULES = ['not_in_prior_day', 'withdrawn_intraday'] as const;

/**
 * Intraday rows of these dates that were removed without a posted replacement (`UNLINKED_REMOVAL_RULES`, the latest
 * decision on their status: withdrawn from the current-day view during the day, or not in the prior-day data) and that
 * no posted row replaces: a posted record stored later may still be theirs. `removed_rule` names that decision's rule.
 * Served by `transactions_removed_intraday_account_booking_idx`, whose predicate is these conditions: the account's
 * own such rows of the dates, none of another account's.
 */
export async function removedUnlinked(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
): Promise<(MatchCandidate & { removed_rule: string })[]> {
  const result = await sql<MatchCandidate & { removed_rule: string }>`
    select * from (
      select t.id, t.status, t.booking_date, t.direction, t.amount_minor, t.bai_type_code, t.bank_reference,
        t.customer_reference, t.jpm_transaction_id, t.fingerprint_key,
        (select d.rule from transaction_decisions d
          where d.transaction_id = t.id and d.decision in ('removed', 'restored', 'superseded')
          order by d.id desc limit 1) as removed_rule
      from transactions t
      where t.status = 'removed' and t.booking_date = any(${dates}::date[]) and t.account_id = ${accountId}
        and t.post_code = 'I' and t.superseded_by is null
    ) r
    where r.removed_rule = any(${[...UNLINKED_REMOVAL_RULES]}::text[])
    order by r.booking_date, r.fingerprint_key, r.id`.execute(ex);
  for (const r of result.rows) {
    r.bank_reference = decodePgText(r.bank_reference);
    r.customer_reference = decodePgText(r.customer_reference);
    r.jpm_transaction_id = decodePgText(r.jpm_transaction_id);
  }
  return result.rows;
}

/**
 * Marks intraday rows superseded (with their posted replacement) or removed (never posted), each only while it
 * still has the status it was read with (`from`). A posted row that gains its link changes too: the read API shows
 * it as `supersedes`, so it gets a new version (and `updated_at`) like any other change. Returns the ids of those
 * posted rows (each needs its own `modified` event).
 */
export async function resolvePendingRows(
  ex: Executor,
  rows: readonly {
    id: string;
    from: 'pending' | 'removed';
    status: 'superseded' | 'removed';
    superseded_by: string | null;
  }[],
): Promise<string[]> {
  if (rows.length === 0) {
    return [];
  }
  const result = await sql<{ id: string }>`
    with resolved as (
      update transactions t set status = r.status, superseded_by = r.superseded_by, version = t.version + 1,
        updated_at = now()
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(id uuid, "from" text, status text, superseded_by uuid)
      where t.id = r.id and t.status = r."from"
      returning t.superseded_by
    )
    update transactions t set version = t.version + 1, updated_at = now()
    where t.id in (select superseded_by from resolved where superseded_by is not null)
    returning t.id`.execute(ex);
  return result.rows.map((r) => r.id);
}

/** The dates among `dates` on which the account holds a row of one of `statuses` (posted unless told; any channel). */
export async function datesWithPostedRows(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
  statuses: readonly (typeof TRANSACTION_STATUSES)[number][] = ['posted'],
): Promise<string[]> {
  if (dates.length === 0) {
    return [];
  }
  const r = await sql<{ day: string }>`
    select distinct booking_date::text as day from transactions
    where account_id = ${accountId} and status = any(${[...statuses]}::text[])
      and booking_date = any(${[...dates]}::date[])
    order by 1`.execute(ex);
  return r.rows.map((row) => row.day);
}

/** A posted row as the money it moved (`postedMoneyFacts`): the references as the bank wrote them. */
interface PostedMoneyFact {
  day: string;
  direction: string;
  amount_minor: string;
  bank_reference: string;
  customer_reference: string;
  source: string;
}

/**
 * The account's posted rows on `dates` as (booking date, direction, amount, bank and customer reference, channel)
 * facts, any channel; the references as the bank wrote them.
 */
export async function postedMoneyFacts(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
): Promise<PostedMoneyFact[]> {
  if (dates.length === 0) {
    return [];
  }
  const r = await sql<PostedMoneyFact>`
    select booking_date::text as day, direction, amount_minor::text, bank_reference, customer_reference, source
    from transactions
    where account_id = ${accountId} and status = 'posted' and booking_date = any(${[...dates]}::date[])`.execute(ex);
  for (const row of r.rows) {
    row.bank_reference = decodePgText(row.bank_reference);
    row.customer_reference = decodePgText(row.customer_reference);
  }
  return r.rows;
}

/**
 * Sets the occurrence key of rows matched by their id whose key a complete walk numbered otherwise. Internal to
 * identity (no read shows it): no new version, no change event.
 */
export async function rekeyTransactions(
  ex: Executor,
  rows: readonly { id: string; fingerprint_key: string }[],
): Promise<void> {
  if (rows.length === 0) {
    return;
  }
  await sql`
    update transactions t set fingerprint_key = r.fingerprint_key
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(id uuid, fingerprint_key text)
    where t.id = r.id and t.fingerprint_key is distinct from r.fingerprint_key`.execute(ex);
}
