import { z } from 'zod';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { ConflictError, NotFoundError } from '../shared/errors.ts';
import { resendReviewLink } from '../review/index.ts';
import type { Database } from '../storage/db.ts';
import { decodeCursor, pageOf } from '../storage/pagination.ts';
import {
  getCustomerReview,
  getReviewSettings,
  listCustomerReviews,
  resolveFollowUp,
  setReviewSettings,
} from '../storage/reviews.repo.ts';
import { Id, IdParams, Instant, iso } from './dto.ts';
import { actorOf, integrationOrganization } from './lookup.ts';

/**
 * What customers answered on their review page (who, when, the report they saw, their note and the
 * transactions they marked), the follow-ups "something is wrong" opens, and whether going live
 * waits for the customer's sign-off.
 */
const TAGS = ['Customer review'];

const ReviewSchema = z
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

const SettingsSchema = z
  .object({
    integrationId: Id,
    requireSignoffForLive: z
      .boolean()
      .meta({ description: 'Going live waits for the customer\'s "complete and accurate" (and no open follow-up)' }),
    updatedBy: z.string().nullable(),
    updatedAt: Instant.nullable(),
  })
  .meta({ id: 'CustomerReviewSettings' });

const ReviewLinkSchema = z
  .object({
    linkId: Id,
    reportId: Id.meta({ description: 'The passed validation report the link shows' }),
    contactId: Id,
    expiresAt: Instant,
  })
  .meta({ id: 'ReviewLink', description: 'A review link sent by email (the link itself is never shown here)' });

type ReviewRow = NonNullable<Awaited<ReturnType<typeof getCustomerReview>>>;

function toReviewDto(r: ReviewRow): z.input<typeof ReviewSchema> {
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

export function customerReviewRoutes(deps: {
  db: Database;
  reviewLinkEmailMissing: 'SMTP_URL' | 'PUBLIC_BASE_URL' | undefined;
}): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/customer-reviews',
      permission: 'integrations:read',
      tags: TAGS,
      summary: "Customers' answers on the review page",
      description: 'Newest first.',
      request: { params: IdParams, query: z.object(PAGE_QUERY) },
      response: {
        status: 200,
        schema: pageSchema(ReviewSchema).meta({ id: 'CustomerReviewPage' }),
        description: 'A page of answers',
      },
      handler: async ({ params, query, access }) => {
        await integrationOrganization(deps.db, access, params.id);
        const beforeId = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ['uuid'])[0];
        const page = pageOf(
          await listCustomerReviews(deps.db, params.id, { limit: query.limit + 1, beforeId }),
          query.limit,
          (r) => [r.id],
        );
        return { data: page.rows.map(toReviewDto), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/customer-reviews/{reviewId}/resolve',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'customer_review',
      summary: 'Resolve the follow-up of a "something is wrong" answer',
      description:
        'Only an open follow-up can be resolved (409 `follow_up_not_open` otherwise). Going live, when it waits for the sign-off, still needs a new "complete and accurate".',
      request: { params: z.object({ id: Id, reviewId: Id }) },
      response: { status: 200, schema: ReviewSchema, description: 'The answer with its resolved follow-up' },
      errors: [409],
      handler: async ({ params, access, audit, principal }) => {
        audit.target({
          id: params.reviewId,
          organizationId: await integrationOrganization(deps.db, access, params.id),
        });
        const existing = await getCustomerReview(deps.db, params.reviewId);
        if (!existing || existing.integration_id !== params.id) {
          throw new NotFoundError('customer review', params.reviewId);
        }
        const resolved = await resolveFollowUp(deps.db, params.id, params.reviewId, actorOf(principal));
        if (!resolved) {
          throw new ConflictError(
            `the review has no open follow-up (it is ${existing.follow_up_status ?? 'a sign-off'})`,
            'follow_up_not_open',
          );
        }
        return toReviewDto(resolved);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/review-links',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'review_link',
      summary: 'Send a controller a fresh review link',
      description:
        "For the integration's newest passed validation report, valid 14 days; the controller's previous link for that report stops working. Emailed only: the response never holds the link. 409 `email_off` when milestone emails are not configured (SMTP_URL) or the public base URL the link is built on is not set (PUBLIC_BASE_URL): the controller's current link then keeps working. 409 `not_a_controller` or `no_passed_report`.",
      request: { params: IdParams, body: z.object({ contactId: Id }) },
      response: { status: 201, schema: ReviewLinkSchema, description: 'The link, queued for sending' },
      errors: [409],
      handler: async ({ params, body, access, audit }) => {
        audit.target({ organizationId: await integrationOrganization(deps.db, access, params.id) });
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
        const link = await resendReviewLink(deps.db, { integrationId: params.id, contactId: body.contactId });
        audit.target({ id: link.linkId });
        return { ...link, expiresAt: iso(link.expiresAt) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/customer-review-settings',
      permission: 'integrations:read',
      tags: TAGS,
      summary: "Whether going live waits for the customer's sign-off",
      request: { params: IdParams },
      response: {
        status: 200,
        schema: SettingsSchema,
        description: 'The settings (the default until set: no sign-off required)',
      },
      handler: async ({ params, access }) => {
        await integrationOrganization(deps.db, access, params.id);
        const s = await getReviewSettings(deps.db, params.id);
        return {
          integrationId: params.id,
          requireSignoffForLive: s?.require_signoff_for_live ?? false,
          updatedBy: s?.updated_by ?? null,
          updatedAt: s ? iso(s.updated_at) : null,
        };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/integrations/{id}/customer-review-settings',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'integration',
      summary: "Set whether going live waits for the customer's sign-off",
      description:
        'With `requireSignoffForLive`, the move to `live` is refused (guard `customer_signed_off`) until the customer\'s latest answer is "complete and accurate" for the newest passed validation report and no follow-up is open.',
      request: { params: IdParams, body: z.object({ requireSignoffForLive: z.boolean() }) },
      response: { status: 200, schema: SettingsSchema, description: 'The settings' },
      handler: async ({ params, body, access, audit, principal }) => {
        const organizationId = await integrationOrganization(deps.db, access, params.id);
        audit.target({ id: params.id, organizationId });
        const s = await setReviewSettings(deps.db, {
          integrationId: params.id,
          organizationId,
          requireSignoffForLive: body.requireSignoffForLive,
          actor: actorOf(principal),
        });
        return {
          integrationId: params.id,
          requireSignoffForLive: s.require_signoff_for_live,
          updatedBy: s.updated_by,
          updatedAt: iso(s.updated_at),
        };
      },
    }),
  ];
}
