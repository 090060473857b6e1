import type { z } from 'zod';
import { JpmRejectedError, type JpmErrorContext } from './errors.ts';
import { describeInput } from './wire.primitives.ts';
import { transactionSchema, type WireTransaction } from './wire.schemas.ts';

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
    return issue.input === undefined ? 'is required but missing' : `expected ${issue.expected}, got ${describeInput(issue.input)}`;
  }
  if (issue.code === 'invalid_value') {
    return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  if (issue.code === 'too_small' && issue.origin === 'string') {
    return 'must not be empty';
  }
  return issue.message;
}

/** One line naming every problem precisely (path + what is wrong); values are echoed only for amounts/dates. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((issue) => `${formatPath(issue.path)}: ${problem(issue)}`).join('; ');
}

/** Validates each `data[]` element on its own; never throws for a bad record. */
export function parseTransactionRecords(data: readonly unknown[]): { records: WireTransaction[]; rejects: Reject[] } {
  const records: WireTransaction[] = [];
  const rejects: Reject[] = [];
  data.forEach((raw, index) => {
    const result = transactionSchema.safeParse(raw, { reportInput: true });
    if (result.success) {
      records.push(result.data);
    } else {
      rejects.push({ raw, reason: formatIssues(result.error.issues), index });
    }
  });
  return { records, rejects };
}

/** Strict envelope parse: a mismatch is a permanent `jpm_schema_violation` naming the first problems. */
export function parseEnvelope<S extends z.ZodType>(schema: S, body: unknown, what: string, context: JpmErrorContext): z.output<S> {
  const result = schema.safeParse(body, { reportInput: true });
  if (result.success) {
    return result.data;
  }
  const reason = formatIssues(result.error.issues.slice(0, 5));
  throw new JpmRejectedError(`J.P. Morgan ${what} response does not match its schema: ${reason}`, 'jpm_schema_violation', context);
}
