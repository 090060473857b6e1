import { canonicalJson, type NumericMembers } from '../normalization/identity.ts';
import type { Executor } from '../storage/db.ts';
import { openRejectHashes, openRejectsNamed, type RejectRow } from '../storage/transactions.repo.ts';

/**
 * A reject's hash is over the bank's exact text (`rejectRow`), so the same unusable record sent again as it was finds
 * its open reject at the cost of the insert alone, and every reject row stored keeps its hash. A reject whose hash is
 * no open reject's of the account is compared by meaning (`canonicalJson`: numbers of `numeric` by value, members in
 * any order, a null member as absent) with the account's open rejects named alike (J.P. Morgan id and booking date):
 * sent again spelled another way (`100.50` for `100.5`, its members reordered, a null member left out) it takes that
 * reject's hash, and is that reject seen again, not a second one; two spellings of one record on the page are one
 * reject. Any other change (a value, a string's bytes, a member added or dropped) keeps its own hash: another reject,
 * as before. Resolved rejects are not compared (a record rejected again after its reject was resolved opens a new
 * one, spelled as before or not). Returns the rows with their hashes so chosen.
 */
export async function withRespelledRejectHashes(
  ex: Executor,
  accountId: string,
  recordType: RejectRow['record_type'],
  rows: readonly RejectRow[],
  numeric: NumericMembers,
): Promise<RejectRow[]> {
  const hashes = rows.flatMap((r) => r.record_hash ?? []);
  if (hashes.length === 0) {
    return [...rows];
  }
  const open = await openRejectHashes(ex, accountId, recordType, hashes);
  const misses = rows.filter((r) => r.record_hash !== undefined && !open.has(r.record_hash));
  if (misses.length === 0) {
    return [...rows];
  }
  const nameOf = (r: { jpm_transaction_id?: string | null; booking_date?: string | null }) =>
    JSON.stringify([r.jpm_transaction_id ?? null, r.booking_date ?? null]);
  const names = [...new Map(misses.map((r) => [nameOf(r), r])).values()].map((r) => ({
    jpm_transaction_id: r.jpm_transaction_id ?? null,
    booking_date: r.booking_date ?? null,
  }));
  // By name and meaning, the hash a reject of that meaning takes: an open reject's, else the page's first spelling's.
  const hashOf = new Map<string, string>();
  for (const stored of await openRejectsNamed(ex, accountId, recordType, names)) {
    hashOf.set(`${nameOf(stored)} ${canonicalJson(stored.raw ?? null, numeric)}`, stored.record_hash);
  }
  const chosen = new Map<RejectRow, string>();
  for (const r of misses) {
    const key = `${nameOf(r)} ${canonicalJson(r.raw ?? null, numeric)}`;
    const hash = hashOf.get(key) ?? r.record_hash!;
    hashOf.set(key, hash);
    chosen.set(r, hash);
  }
  return rows.map((r) => {
    const hash = chosen.get(r);
    return hash === undefined || hash === r.record_hash ? r : { ...r, record_hash: hash };
  });
}
