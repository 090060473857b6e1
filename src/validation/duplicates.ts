import { NotFoundError } from '../shared/errors.ts';
import type { IsoDate } from '../shared/time.ts';
import type { Executor } from '../storage/db.ts';
import { listAccountIds } from '../storage/accounts.repo.ts';
import {
  deactivateSuspicionsExcept,
  listActiveSuspicions,
  pageActiveSuspicions,
  updateSuspicionReview,
  upsertDuplicateSuspicions,
} from '../storage/validation-duplicate-suspicions.repo.ts';

/**
 * Duplicate suspicion. Rows "look the same" when they share the ingestion fingerprint: account,
 * booking date, direction, amount, currency, BAI type and both references (the middle part of
 * `fingerprint_key`). Looking the same is not enough: three identical 25.00 fees on one day are
 * three real fees. So a group is suspicious only when we hold MORE live rows (posted or pending)
 * than the bank itself reported:
 *
 * - the bank's count is the number of identical items in the latest complete fetch of that day's
 *   posted data (`bank_day_fetches.repeated_fingerprints`, absent = 1);
 * - for a day never fetched that way, the count is the highest occurrence number the bank's pages
 *   gave those rows when they were stored (identity.ts numbers identical items 1..n within one walk),
 *   compared per record class, since pending and posted items of a day not yet closed coexist.
 *
 * Suspicions are listed for a person to review and never merged or deleted automatically. When the
 * set of rows of a reviewed group changes, the suspicion goes back to `open`: the review was about
 * other evidence.
 */
export const SUSPICION_STATUSES = ['open', 'confirmed_duplicate', 'not_duplicate'] as const;
export type SuspicionStatus = (typeof SUSPICION_STATUSES)[number];

export interface DetectResult {
  /** Suspicions raised or still holding in the range. */
  active: number;
  /** Suspicions that no longer hold (set inactive). */
  cleared: number;
}

export async function detectDuplicateSuspicions(
  ex: Executor,
  accountId: string,
  from: IsoDate,
  to: IsoDate,
  now: Date = new Date(),
): Promise<DetectResult> {
  const at = now.toISOString();
  const ids = await upsertDuplicateSuspicions(ex, accountId, from, to, at);
  const cleared = await deactivateSuspicionsExcept(ex, accountId, from, to, ids, at);
  return { active: ids.length, cleared };
}

export interface SuspicionReview {
  status: SuspicionStatus;
  reviewedBy: string;
  note?: string | null;
}

/** Records a person's verdict on a suspicion. Nothing about the transactions changes. */
export async function reviewSuspicion(
  ex: Executor,
  id: string,
  review: SuspicionReview,
  now: Date = new Date(),
): Promise<void> {
  const updated = await updateSuspicionReview(ex, id, {
    status: review.status,
    reviewedBy: review.reviewedBy,
    note: review.note ?? null,
    at: now,
  });
  if (!updated) {
    throw new NotFoundError('duplicate suspicion', id, 'suspicion_not_found');
  }
}

/** Active suspicions of the given accounts in a period, oldest day first. */
export { listActiveSuspicions };

/**
 * A page of the active suspicions of the integration's accounts (or of one of them, `accountId`) in a period, oldest day
 * first: an integration's suspicions over a long period are many, so they are read a page at a time.
 */
export async function pageIntegrationSuspicions(
  ex: Executor,
  integrationId: string,
  f: { from: IsoDate; to: IsoDate; accountId?: string | undefined; limit: number; cursor?: string | undefined },
) {
  const accountIds = await listAccountIds(ex, {
    integrationId,
    ...(f.accountId !== undefined ? { accountId: f.accountId } : {}),
  });
  return pageActiveSuspicions(ex, { accountIds, from: f.from, to: f.to, limit: f.limit, cursor: f.cursor });
}
