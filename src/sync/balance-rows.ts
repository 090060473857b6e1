import type { NormalizedBalance } from '../normalization/balances.ts';
import { uuidv7 } from '../shared/ids.ts';
import type { BalanceRow } from '../storage/balances.repo.ts';
import type { AccountRef } from './ingest.ts';

/** The stored row of a normalized balance (the existing row's id when the day and kind are stored already). */
export function balanceRow(account: AccountRef, b: NormalizedBalance, existingId: string | undefined): BalanceRow {
  return {
    id: existingId ?? uuidv7(),
    organization_id: account.organizationId,
    account_id: account.id,
    as_of_date: b.asOfDate,
    kind: b.kind,
    currency: b.currency,
    decimal_location: b.decimalLocation,
    opening_ledger_minor: b.openingLedgerMinor?.toString() ?? null,
    opening_available_minor: b.openingAvailableMinor?.toString() ?? null,
    ending_ledger_minor: b.endingLedgerMinor?.toString() ?? null,
    ending_available_minor: b.endingAvailableMinor?.toString() ?? null,
    record_timestamp: b.recordTimestamp,
    content_hash: b.contentHash,
    raw: b.raw,
    source: b.source,
  };
}
