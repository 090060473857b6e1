import { z } from 'zod';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { atomicWrite } from '../storage/db.ts';
import { getReviewSettings, setReviewSettings } from '../storage/reviews.repo.ts';
import {
  ReviewLinkSchema,
  ReviewSchema,
  SettingsSchema,
  toReviewDto,
  toReviewLinkDto,
  toReviewSettingsDto,
} from './customer-reviews.dto.ts';
import {
  pageCustomerReviews,
  resolveReviewFollowUp,
  sendReviewLink,
  type CustomerReviewServiceDeps,
} from './customer-reviews.service.ts';
import { Id, IdParams } from './dto.ts';
import { actorOf, integrationOrganization } from './lookup.ts';

/**
 * What customers answered on their review page (who, when, the report they saw, their note and the
 * transactions they marked), the follow-ups "something is wrong" opens, and whether going live
 * waits for the customer's sign-off.
 */
const TAGS = ['Customer review'];

export function customerReviewRoutes(deps: CustomerReviewServiceDeps): Route[] {
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
        const page = await pageCustomerReviews(deps.db, params.id, query);
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
      handler: async ({ params, access, audit, principal, atomicAnswer }) => {
        audit.target({
          id: params.reviewId,
          organizationId: await integrationOrganization(deps.db, access, params.id),
        });
        return atomicWrite(deps.db, atomicAnswer, async (trx) =>
          toReviewDto(await resolveReviewFollowUp(trx, params.id, params.reviewId, actorOf(principal))),
        );
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
        "For the integration's newest passed validation report, valid 14 days; the controller's previous link for that report stops working. Emailed only: the response never holds the link. 409 `email_off` when milestone emails are not configured (SMTP_URL) or the public base URL the link is built on is not set (PUBLIC_BASE_URL): the controller's current link then keeps working. 409 `not_a_controller` or `no_passed_report`, and `integration_cancelled` for a cancelled integration.",
      request: { params: IdParams, body: z.object({ contactId: Id }) },
      response: { status: 201, schema: ReviewLinkSchema, description: 'The link, queued for sending' },
      errors: [409],
      handler: async ({ params, body, access, audit, atomicAnswer }) => {
        audit.target({ organizationId: await integrationOrganization(deps.db, access, params.id) });
        return atomicWrite(deps.db, atomicAnswer, async (trx) => {
          const link = await sendReviewLink(
            { ...deps, db: trx },
            { integrationId: params.id, contactId: body.contactId },
          );
          audit.target({ id: link.linkId });
          return toReviewLinkDto(link);
        });
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
        return toReviewSettingsDto(params.id, await getReviewSettings(deps.db, params.id));
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
        const settings = await setReviewSettings(deps.db, {
          integrationId: params.id,
          organizationId,
          requireSignoffForLive: body.requireSignoffForLive,
          actor: actorOf(principal),
        });
        return toReviewSettingsDto(params.id, settings);
      },
    }),
  ];
}
