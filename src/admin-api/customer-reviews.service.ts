import { resendReviewLink } from '../review/index.ts';
import { ConflictError, NotFoundError } from '../shared/errors.ts';
import type { Database } from '../storage/db.ts';
import { findIntegrationLifecycle } from '../storage/integration-lifecycle.repo.ts';
import { decodeCursor, pageOf, type Page } from '../storage/pagination.ts';
import { getCustomerReview, listCustomerReviews, resolveFollowUp } from '../storage/reviews.repo.ts';

/** What the customer review routes do beyond the review module (src/review) and its repository. */
export interface CustomerReviewServiceDeps {
  db: Database;
  /**
   * The setting a re-sent review link is missing to reach the controller (it travels only by email, with a
   * URL built on the public base URL): `SMTP_URL`, `PUBLIC_BASE_URL`, or undefined when both are set.
   */
  reviewLinkEmailMissing: 'SMTP_URL' | 'PUBLIC_BASE_URL' | undefined;
}

export type ReviewRow = NonNullable<Awaited<ReturnType<typeof getCustomerReview>>>;

/** One keyset page of an integration's review answers, newest first (`cursor`: the `nextCursor` of the page before). */
export async function pageCustomerReviews(
  db: Database,
  integrationId: string,
  query: { cursor?: string | undefined; limit: number },
): Promise<Page<ReviewRow>> {
  const beforeId = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ['uuid'])[0];
  return pageOf(
    await listCustomerReviews(db, integrationId, { limit: query.limit + 1, beforeId }),
    query.limit,
    (r) => [r.id],
  );
}

/**
 * Resolves the open follow-up of a "something is wrong" answer: 404 for another integration's, 409 when none is open.
 */
export async function resolveReviewFollowUp(
  db: Database,
  integrationId: string,
  reviewId: string,
  actor: string,
): Promise<ReviewRow> {
  const existing = await getCustomerReview(db, reviewId);
  if (!existing || existing.integration_id !== integrationId) {
    throw new NotFoundError('customer review', reviewId);
  }
  const resolved = await resolveFollowUp(db, integrationId, reviewId, actor);
  if (!resolved) {
    throw new ConflictError(
      `the review has no open follow-up (it is ${existing.follow_up_status ?? 'a sign-off'})`,
      'follow_up_not_open',
    );
  }
  return resolved;
}

/**
 * A fresh review link for a controller, refused (409 `email_off`) when it could not be emailed, and for a cancelled
 * integration (409 `integration_cancelled`).
 */
export async function sendReviewLink(
  deps: CustomerReviewServiceDeps,
  input: { integrationId: string; contactId: string },
): ReturnType<typeof resendReviewLink> {
  // A cancelled integration is final: its report is reviewed for an onboarding that will not go live.
  if ((await findIntegrationLifecycle(deps.db, input.integrationId))?.stage === 'cancelled') {
    throw new ConflictError(
      `integration ${input.integrationId} is cancelled, which is final; cannot send a review link for it`,
      'integration_cancelled',
      { integrationId: input.integrationId },
    );
  }
  // Renewing would end the controller's current link while the new one could not reach them.
  if (deps.reviewLinkEmailMissing === 'SMTP_URL') {
    throw new ConflictError(
      'milestone emails are off (SMTP_URL is not set), so a new link could not reach the controller; their current link keeps working',
      'email_off',
    );
  }
  if (deps.reviewLinkEmailMissing === 'PUBLIC_BASE_URL') {
    throw new ConflictError(
      'review links cannot be put in emails (PUBLIC_BASE_URL is not set), so a new link could not reach the controller; their current link keeps working',
      'email_off',
    );
  }
  return resendReviewLink(deps.db, input);
}
