import { hash } from 'node:crypto';
import { hasBankId } from '../shared/ids.ts';
import { encodePgText } from '../shared/pg-text.ts';

/**
 * Identity of a bank transaction, in layers (README, "Identity and idempotency"):
 *
 * 1. J.P. Morgan's `transactionId`, per account. Stable in practice for a posted item, but a
 *    current-day (intraday) item gets a *different* id once it posts, and the bank can re-issue
 *    every id of a past day. So it cannot be the only key.
 * 2. A content fingerprint: account, booking date, direction, amount, BAI type code, bank and
 *    customer reference: what makes two items the same money movement.
 * 3. An occurrence number among records with the same fingerprint *within one walk of the bank's
 *    pages*, because three identical $25.00 fees on one day are three real fees. A walk always
 *    covers whole days, so the count per day is complete and the same on every re-sync.
 *
 * The fingerprint key `<class>:<fingerprint>:<occurrence>` separates intraday (I) from posted (P)
 * records: a pending item is never matched to a posted one by identity; that link is the
 * supersede step's decision, recorded with its rule.
 */
export interface FingerprintInput {
  jpmAccountId: string;
  bookingDate: string;
  direction: string;
  amountMinor: bigint;
  currency: string;
  baiTypeCode: string | null;
  bankReference: string;
  customerReference: string;
}

/**
 * The form of a reference that identity compares: trimmed, as it has always been, so the fingerprint
 * keys of stored rows stay what they were (a key derivation change would make a re-sync see new items).
 * Not case-folded for the same reason. The stored and served reference is the bank's exact text.
 */
export function identityReference(text: string): string {
  return text.trim();
}

/**
 * The form of a reference that pending-to-posted matching compares (src/sync/supersede.ts): trimmed and
 * case-folded, since the bank may pad or re-case a reference between its intraday and posted reports.
 */
export function matchingReference(text: string): string {
  return text.trim().toLowerCase();
}

/** Longest J.P. Morgan id (in code points, as stored) that serves as an identity key; see `isIdentityId`. */
export const MAX_IDENTITY_ID_CHARS = 200;

/**
 * Whether the bank's id can be an identity key. Not when none was sent (null, missing, empty, not
 * text: the id is then ''; or only spaces, a fixed-width field left empty, `hasBankId`), nor when it is
 * longer than `MAX_IDENTITY_ID_CHARS` as stored (escaped, src/shared/pg-text.ts; a unique index cannot
 * hold a 16k-character key). Such a record's identity is
 * its fingerprint key alone (fingerprint + occurrence within the walk), as for a day whose ids the bank
 * re-issued; its id is still stored exactly. The partial unique index `transactions_account_jpm_id_key`
 * covers exactly the rows whose id passes this test (`btrim(jpm_transaction_id, ' ') <> ''` and at most 200
 * characters).
 */
export function isIdentityId(id: string): boolean {
  if (!hasBankId(id)) {
    return false;
  }
  const stored = encodePgText(id);
  if (stored.length <= MAX_IDENTITY_ID_CHARS) {
    // A text has at most as many code points as UTF-16 units: no count needed (every id J.P. Morgan sends).
    return true;
  }
  let n = 0;
  for (const _ of stored) {
    if (++n > MAX_IDENTITY_ID_CHARS) {
      return false;
    }
  }
  return true;
}

export function fingerprint(t: FingerprintInput): string {
  // One-shot `hash` (the same SHA-256 as createHash().update().digest()): half the CPU for a short input.
  return hash(
    'sha256',
    [
      t.jpmAccountId,
      t.bookingDate,
      t.direction,
      t.amountMinor.toString(),
      t.currency,
      t.baiTypeCode ?? '',
      identityReference(t.bankReference),
      identityReference(t.customerReference),
    ].join('\u001f'),
    'base64url',
  ).slice(0, 22);
}

export type RecordClass = 'I' | 'P';

export function fingerprintKey(recordClass: RecordClass, fp: string, occurrence: number): string {
  return `${recordClass}:${fp}:${occurrence}`;
}

/**
 * Counts fingerprints across one walk of the bank's pages. Reset it when the client restarts a
 * walk (the data shifted under it); never share it between accounts or walks.
 */
export class OccurrenceCounter {
  private readonly seen = new Map<string, number>();

  next(recordClass: RecordClass, fp: string): number {
    const key = `${recordClass}:${fp}`;
    const n = (this.seen.get(key) ?? 0) + 1;
    this.seen.set(key, n);
    return n;
  }

  reset(): void {
    this.seen.clear();
  }
}

/** A stable hash of a record's content, to detect "unchanged" without comparing columns one by one. */
export function contentHash(parts: readonly unknown[]): string {
  return hash('sha256', JSON.stringify(parts), 'base64url');
}

/**
 * `contentHash([...parts, last])` for a `last` value already serialized (`lastJson` = `JSON.stringify(last)`):
 * the same bytes are hashed, so the same hash. Lets a record's raw JSON text be made once and serve both the
 * hash and the insert (storage splices it into the rows' JSON document).
 */
export function contentHashWithLast(parts: readonly unknown[], lastJson: string): string {
  const head = parts.length === 0 ? '[' : `${JSON.stringify(parts).slice(0, -1)},`;
  return hash('sha256', `${head}${lastJson}]`, 'base64url');
}

/**
 * Which members of a record hold a JSON number whose value, not its spelling, is the content: a tree of member names
 * (`true`: the member's value is a number). A member not named is compared exactly.
 */
export interface NumericMembers {
  readonly [name: string]: true | NumericMembers;
}

const JSON_NUMBER = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * One spelling per decimal value: `100.5`, `100.50`, `1.005e2` and `1005E-1` all give `1005e-1`; `0`, `-0` and `0e7`
 * give `0`. Digits without leading or trailing zeros and a power of ten (bigint: `1e999999999` is no longer than it
 * was), so no value is rounded and no text grows. Anything that is not a JSON number is returned as it is.
 */
export function canonicalNumber(text: string): string {
  const m = JSON_NUMBER.exec(text);
  if (m === null) {
    return text;
  }
  const [, sign, int = '', frac = '', exp = '0'] = m;
  const all = `${int}${frac}`.replace(/^0+/, '');
  if (all === '') {
    return '0';
  }
  const digits = all.replace(/0+$/, '');
  const power = BigInt(exp) - BigInt(frac.length) + BigInt(all.length - digits.length);
  return `${sign}${digits}${power === 0n ? '' : `e${power}`}`;
}

/**
 * JSON text of a value as its meaning: members of an object in one order (sorted by name), a member whose value is
 * null left out (as absent: "no data" either way), and each value of a member `numeric` names as `canonicalNumber`.
 * Strings, names, booleans and the order and nulls of arrays are kept exactly. Written out directly (no object is
 * made), so a member named `__proto__` is a member like any other.
 */
export function canonicalJson(value: unknown, numeric?: NumericMembers | true): string {
  if (numeric === true && (typeof value === 'string' || typeof value === 'number')) {
    return JSON.stringify(canonicalNumber(String(value)));
  }
  if (Array.isArray(value)) {
    return `[${value.map((v: unknown) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const fields = value as Record<string, unknown>;
    const members: string[] = [];
    for (const name of Object.keys(fields).sort()) {
      const v = fields[name];
      if (v !== null && v !== undefined) {
        const inner = numeric === true || numeric === undefined ? undefined : numeric[name];
        members.push(`${JSON.stringify(name)}:${canonicalJson(v, inner)}`);
      }
    }
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The prefix of a content hash made over `canonicalJson` of the raw record (a balance's, src/normalization/balances.ts);
 * a hash without it is of the former kind.
 */
export const CANONICAL_HASH_PREFIX = 'v2:';

/**
 * `contentHash` of the parts and the raw record as its meaning (`canonicalJson`), marked with `CANONICAL_HASH_PREFIX`:
 * the bank's same record sent again with its numbers spelled another way, its members in another order, or a null
 * member left out, hashes the same.
 */
export function canonicalContentHash(parts: readonly unknown[], raw: unknown, numeric: NumericMembers): string {
  const head = parts.length === 0 ? '[' : `${JSON.stringify(parts).slice(0, -1)},`;
  return `${CANONICAL_HASH_PREFIX}${hash('sha256', `${head}${canonicalJson(raw, numeric)}]`, 'base64url')}`;
}
