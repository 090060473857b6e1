import { z } from 'zod';
import type { getReviewSettings } from '../storage/reviews.repo.ts';
import { Id, Instant, iso } from './dto.ts';
import type { ReviewRow } from './customer-reviews.service.ts';

/** DTOs of customers' review answers, their follow-ups, review links and the sign-off setting. */
export const ReviewSchema = z
  .object({
    id: Id,
    integrationId: Id,
    reportId: Id.meta({ description: 'The validation report the customer was shown' }),
    reviewer: z.object({ name: z.string(), email: z.string() }),
    verdict: z
      .enum(['accurate', 'problem'])
      .meta({ description: 'accurate: "the data is complete and accurate"; problem: "something is wrong"' }),
    note: z.string(),
    transactionIds: z.array(Id),
    followUp: z
      .object({
        status: z.enum(['open', 'resolved']),
        resolvedAt: Instant.nullable(),
        resolvedBy: z.string().nullable(),
      })
      .nullable()
      .meta({ description: 'Opened by a "something is wrong" answer; null for a sign-off' }),
    createdAt: Instant,
  })
  .meta({ id: 'CustomerReview', description: "A customer's answer on the review page" });

export const SettingsSchema = z
  .object({
    integrationId: Id,
    requireSignoffForLive: z
      .boolean()
      .meta({ description: 'Going live waits for the customer\'s "complete and accurate" (and no open follow-up)' }),
    updatedBy: z.string().nullable(),
    updatedAt: Instant.nullable(),
  })
  .meta({ id: 'CustomerReviewSettings' });

export const ReviewLinkSchema = z
  .object({
    linkId: Id,
    reportId: Id.meta({ description: 'The passed validation report the link shows' }),
    contactId: Id,
    expiresAt: Instant,
  })
  .meta({ id: 'ReviewLink', description: 'A review link sent by email (the link itself is never shown here)' });

export function toReviewDto(r: ReviewRow): z.input<typeof ReviewSchema> {
  return {
    id: r.id,
    integrationId: r.integration_id,
    reportId: r.report_id,
    reviewer: { name: r.reviewer_name, email: r.reviewer_email },
    verdict: r.verdict as 'accurate',
    note: r.note,
    transactionIds: r.transaction_ids,
    followUp: r.follow_up_status
      ? {
          status: r.follow_up_status as 'open',
          resolvedAt: iso(r.follow_up_resolved_at),
          resolvedBy: r.follow_up_resolved_by,
        }
      : null,
    createdAt: iso(r.created_at),
  };
}

export function toReviewLinkDto(link: {
  linkId: string;
  reportId: string;
  contactId: string;
  expiresAt: Date;
}): z.input<typeof ReviewLinkSchema> {
  return { ...link, expiresAt: iso(link.expiresAt) };
}

/** The setting as stored, or the default until it is set (no sign-off required). */
export function toReviewSettingsDto(
  integrationId: string,
  s: Awaited<ReturnType<typeof getReviewSettings>>,
): z.input<typeof SettingsSchema> {
  return {
    integrationId,
    requireSignoffForLive: s?.require_signoff_for_live ?? false,
    updatedBy: s?.updated_by ?? null,
    updatedAt: s ? iso(s.updated_at) : null,
  };
}
