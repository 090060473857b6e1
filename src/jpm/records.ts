import type { z } from 'zod';
import type { RawControlString } from '../shared/json.ts';
import { cutText } from '../shared/pg-text.ts';
import { JpmRejectedError, JpmUnavailableError, type JpmErrorContext } from './errors.ts';
import { checkTransactionFast, keepProtoNames } from './wire.fast.ts';
import { describeInput } from './wire.primitives.ts';
import { storableTransactionSchema, transactionSchema, type WireTransactionRecord } from './wire.schemas.ts';

/**
 * Validation outcomes. Envelopes are strict (one violation fails the call: we cannot trust a page whose
 * frame is wrong). Records are checked one by one, so a single malformed transaction becomes a
 * `Reject` and the rest of the page still flows.
 */

/** A record that failed its schema: the raw value (lossless), where it sat on the page, and why. */
export interface Reject {
  raw: unknown;
  /** `path: problem` per issue, joined by `; `, e.g. `amount: must be an unsigned decimal number, got "12,50"`. */
  reason: string;
  /** Index within the page's `data` array. */
  index: number;
  /** The paths the reason names (`amount`, `currency.decimalLocation`, `(record)`), in order. */
  fields?: string[];
}

/** One field of a stored record that was missing, null or not what J.P. Morgan normally sends. */
export interface DataQualityNote {
  /** Path in the record, as in reject reasons: `customerReferenceSearchable`, `narrativeText["REF "]`. */
  field: string;
  problem: string;
}

/**
 * Where a record's data-quality notes travel with it from the client to normalization: a symbol
 * property, so the notes never mix with the bank's own fields (a symbol is invisible to
 * `JSON.stringify`, hence to the stored raw record and its content hash).
 */
export const DATA_QUALITY: unique symbol = Symbol('jpm-sync.dataQuality');

/** At most this many notes per record (a record with 30 odd narrative tags gets 30, not 300). */
export const MAX_DATA_QUALITY_NOTES = 50;

export function dataQualityOf(record: object): readonly DataQualityNote[] {
  return (record as { [DATA_QUALITY]?: readonly DataQualityNote[] })[DATA_QUALITY] ?? [];
}

/**
 * A record's index on the bank's page (0-based, counting every element of `data`, rejects too), carried like
 * `DATA_QUALITY`: a reject made later (normalization) names the record's place on the page, not among the usable ones.
 */
export const PAGE_INDEX: unique symbol = Symbol('jpm-sync.pageIndex');

export function pageIndexOf(record: object): number | undefined {
  return (record as { [PAGE_INDEX]?: number })[PAGE_INDEX];
}

function markPageIndex(record: object, index: number): void {
  Object.defineProperty(record, PAGE_INDEX, { value: index, enumerable: false });
}

const SIMPLE_KEY = /^[A-Za-z_$][\w$]*$/;

/** `["account","currency","decimalLocation"]` → `account.currency.decimalLocation`; `narrativeText["YOUR REF    "]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) {
    return '(record)';
  }
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') {
      out += `[${key}]`;
    } else if (typeof key === 'string' && SIMPLE_KEY.test(key)) {
      out += out === '' ? key : `.${key}`;
    } else {
      out += `[${JSON.stringify(String(key))}]`;
    }
  }
  return out;
}

function problem(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    return issue.input === undefined
      ? 'is required but missing'
      : `expected ${issue.expected}, got ${describeInput(issue.input)}`;
  }
  if (issue.code === 'invalid_value') {
    return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  if (issue.code === 'too_small' && issue.origin === 'string') {
    return 'must not be empty';
  }
  return issue.message;
}

/** Notes are for people: a 16k-character narrative key does not need to be repeated in full. */
function clip(text: string): string {
  return text.length > 200 ? `${cutText(text, 200)}…` : text;
}

/** One line naming every problem precisely (path + what is wrong); values are echoed only for amounts/dates. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((issue) => `${formatPath(issue.path)}: ${problem(issue)}`).join('; ');
}

/** `U+0009, U+000A`: control characters named as code points (a raw TAB would be invisible in a note). */
function codePointsOf(characters: readonly string[]): string {
  return characters.map((c) => `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`).join(', ');
}

/**
 * The data-quality notes of the records of a page (by index in `data`) for strings J.P. Morgan sent with control
 * characters raw (`CallResult.rawControls`): the text is kept exactly, read as if escaped, and said so.
 */
function rawControlNotes(rawControls: readonly RawControlString[]): Map<number, DataQualityNote[]> {
  const byIndex = new Map<number, DataQualityNote[]>();
  for (const { path, in: where, characters } of rawControls) {
    const [top, index, ...inRecord] = path;
    if (top !== 'data' || typeof index !== 'number') {
      continue;
    }
    const what = where === 'name' ? 'its name held' : 'held';
    const note = {
      field: clip(formatPath(inRecord)),
      problem: `${what} control characters without the escape JSON asks for (${codePointsOf(characters)}), read as those characters`,
    };
    byIndex.set(index, [...(byIndex.get(index) ?? []), note]);
  }
  return byIndex;
}

/** Puts a stored record's data-quality notes on it (none: nothing), at most `MAX_DATA_QUALITY_NOTES`. */
function noteRecord(record: object, notes: readonly DataQualityNote[]): void {
  if (notes.length > 0) {
    Object.defineProperty(record, DATA_QUALITY, { value: notes.slice(0, MAX_DATA_QUALITY_NOTES), enumerable: false });
  }
}

/**
 * Validates each `data[]` element on its own; never throws for a bad record. A record with everything
 * J.P. Morgan normally sends passes `transactionSchema` and comes back exactly as before. Otherwise only
 * its money facts decide (`storableTransactionSchema`): when they are usable the record is kept, every
 * other field as the bank sent it, with the full schema's complaints as data-quality notes under
 * `DATA_QUALITY`; when they are not, it is a reject naming the fields. A record with a string the bank sent with
 * control characters raw (`rawControls`, the page's) is checked as the escaped spelling would be (it is the same
 * value) and noted.
 */
export function parseTransactionRecords(
  data: readonly unknown[],
  rawControls: readonly RawControlString[] = [],
): {
  records: WireTransactionRecord[];
  rejects: Reject[];
} {
  const records: WireTransactionRecord[] = [];
  const rejects: Reject[] = [];
  const controlNotes = rawControls.length === 0 ? undefined : rawControlNotes(rawControls);
  data.forEach((raw, index) => {
    const controls = controlNotes?.get(index) ?? [];
    // The common case without zod: the same value as `transactionSchema`'s parse (wire.fast.ts).
    const fast = checkTransactionFast(raw);
    if (fast !== undefined) {
      noteRecord(fast, controls);
      markPageIndex(fast, index);
      records.push(fast);
      return;
    }
    const result = transactionSchema.safeParse(raw, { reportInput: true });
    if (result.success) {
      keepProtoNames(raw, result.data);
      noteRecord(result.data, controls);
      markPageIndex(result.data, index);
      records.push(result.data);
      return;
    }
    const storable = storableTransactionSchema.safeParse(raw, { reportInput: true });
    if (!storable.success) {
      rejects.push({
        raw,
        reason: formatIssues(storable.error.issues),
        index,
        fields: storable.error.issues.map((i) => formatPath(i.path)),
      });
      return;
    }
    const notes = result.error.issues
      .slice(0, MAX_DATA_QUALITY_NOTES)
      .map((i) => ({ field: clip(formatPath(i.path)), problem: clip(problem(i)) }));
    keepProtoNames(raw, storable.data);
    noteRecord(storable.data, [...notes, ...controls]);
    markPageIndex(storable.data, index);
    records.push(storable.data);
  });
  return { records, rejects };
}

/**
 * A 200 that holds nothing at all: `{}`, `[]` or `null`. A gateway or proxy answers that way when the back end
 * behind it sent nothing (a hiccup), so it says nothing about the bank's schema.
 */
function isEmptyAnswer(body: unknown): boolean {
  return body === null || (typeof body === 'object' && Object.keys(body).length === 0);
}

/**
 * Strict envelope parse. An empty answer (`{}`, `[]`, `null`: no `data` or `accountList` at all) is a retryable
 * `jpm_malformed_response`, bounded by the job's attempts; any other mismatch (an answer with content that breaks
 * the schema) is a permanent `jpm_schema_violation` naming the first problems.
 */
export function parseEnvelope<S extends z.ZodType>(
  schema: S,
  body: unknown,
  what: string,
  context: JpmErrorContext,
): z.output<S> {
  if (isEmptyAnswer(body)) {
    throw new JpmUnavailableError(
      `J.P. Morgan ${what} response is empty (${body === null ? 'null' : Array.isArray(body) ? '[]' : '{}'})`,
      'jpm_malformed_response',
      context,
    );
  }
  const result = schema.safeParse(body, { reportInput: true });
  if (result.success) {
    return result.data;
  }
  const reason = formatIssues(result.error.issues.slice(0, 5));
  throw new JpmRejectedError(
    `J.P. Morgan ${what} response does not match its schema: ${reason}`,
    'jpm_schema_violation',
    context,
  );
}
