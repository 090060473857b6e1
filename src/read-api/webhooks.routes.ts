import { z } from 'zod';
import {
  changeWebhookEndpoint,
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  getDeliveryDetail,
  getEndpointDelivery,
  getWebhookEndpoint,
  pageEndpointDeliveries,
  pageWebhookEndpoints,
  pingEndpoint,
  replayDelivery,
  rotateWebhookSecret,
  type WebhookEndpointDeps,
} from '../events/webhook-endpoints.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import type { OrgAccess } from '../http/auth.ts';
import { ConflictError, ValidationError } from '../shared/errors.ts';
import { atomicWrite, type Database } from '../storage/db.ts';
import type { EndpointRow } from '../storage/webhooks.repo.ts';
import { Id } from './dto.ts';
import {
  CreatedWebhookSchema,
  DeliveryDetailSchema,
  DeliveryParams,
  DeliverySchema,
  EndpointParams,
  EventTypes,
  QueuedDeliverySchema,
  Url,
  WebhookEndpointSchema,
  toCreatedWebhookDto,
  toDeliveryDetailDto,
  toDeliveryDto,
  toEndpointDto,
  toQueuedDeliveryDto,
} from './webhooks.dto.ts';

const TAGS = ['Webhooks'];

/** What the webhook routes need: the endpoint service's dependencies (src/events/webhook-endpoints.ts). */
export type WebhookRouteDeps = WebhookEndpointDeps;

/**
 * A disabled endpoint fails every delivery at once, unsent: a ping or a replay asked for meanwhile is refused (409
 * `endpoint_disabled`) rather than queued to fail.
 */
function assertSends(endpoint: EndpointRow): void {
  if (endpoint.status === 'disabled') {
    throw new ConflictError(
      `webhook endpoint ${endpoint.id} is disabled: nothing would be sent to it; enable it first (PATCH /v1/webhooks/${endpoint.id} with status active)`,
      'endpoint_disabled',
    );
  }
}

/** The endpoint under the key's organization scope (another organization's → 404). */
async function scopedEndpoint(db: Database, access: OrgAccess, id: string): Promise<EndpointRow> {
  const endpoint = await getWebhookEndpoint(db, id);
  access.assert(endpoint.organization_id, 'webhook endpoint', id);
  return endpoint;
}

export function webhookRoutes(deps: WebhookRouteDeps): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/webhooks',
      permission: 'webhooks:write',
      summary: 'Register a webhook endpoint',
      description:
        'Returns the signing secret ONCE (`secret`); it is stored encrypted and never shown again (rotate it to get a new one). Not idempotent on purpose: a stored replay would keep the secret in clear for a day.',
      tags: TAGS,
      auditTarget: 'webhook_endpoint',
      idempotent: false,
      request: {
        body: z.object({
          organizationId: Id.optional().meta({ description: 'Required for keys valid for all organizations' }),
          url: Url,
          eventTypes: EventTypes,
          description: z.string().max(500).default(''),
        }),
      },
      response: { status: 201, schema: CreatedWebhookSchema, description: 'The endpoint and its secret', secret: true },
      handler: async ({ body, access, audit, principal }) => {
        const organizationId = access.filter(body.organizationId);
        if (organizationId === undefined) {
          throw new ValidationError('organizationId is required with a key valid for all organizations', [
            { path: 'body.organizationId', message: 'required' },
          ]);
        }
        const created = await createWebhookEndpoint(deps, {
          organizationId,
          url: body.url,
          eventTypes: body.eventTypes,
          description: body.description,
          createdBy: `api_key:${principal.keyPrefix}`,
        });
        audit.target({ id: created.endpoint.id, organizationId });
        return toCreatedWebhookDto(created);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/webhooks',
      permission: 'webhooks:read',
      summary: 'List webhook endpoints',
      tags: TAGS,
      request: { query: z.object({ organizationId: Id.optional(), ...PAGE_QUERY }) },
      response: {
        status: 200,
        schema: pageSchema(WebhookEndpointSchema).meta({ id: 'WebhookEndpointPage' }),
        description: 'A page of endpoints',
      },
      handler: async ({ query, access }) => {
        const page = await pageWebhookEndpoints(deps.db, {
          organizationId: access.filter(query.organizationId),
          cursor: query.cursor,
          limit: query.limit,
        });
        return { data: page.rows.map(toEndpointDto), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/webhooks/{id}',
      permission: 'webhooks:read',
      summary: 'Get a webhook endpoint',
      tags: TAGS,
      request: { params: EndpointParams },
      response: { status: 200, schema: WebhookEndpointSchema, description: 'The endpoint' },
      handler: async ({ params, access }) => toEndpointDto(await scopedEndpoint(deps.db, access, params.id)),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/webhooks/{id}',
      permission: 'webhooks:write',
      summary: 'Change a webhook endpoint (URL, event types, description, enabled)',
      description:
        '`status: disabled` pauses the endpoint: it gets no events for changes and milestones made while it is disabled, also after it is enabled again (events are made only for active endpoints, and are not made later). Deliveries already queued fail at their next attempt (logged as `endpoint is disabled`, not retried); replay them (`POST …/deliveries/{deliveryId}/replay`) once it is enabled. To catch up after enabling, read the change feed (`GET /v1/changes`) from the `data.cursor.to` of the last `transactions.changed` you processed (or your own stored cursor), and the milestone feed (`GET /v1/events`) from a cursor you stored, or from the start keeping the events that occurred after the endpoint was disabled.',
      tags: TAGS,
      auditTarget: 'webhook_endpoint',
      request: {
        params: EndpointParams,
        body: z.object({
          url: Url.optional(),
          eventTypes: EventTypes.optional(),
          description: z.string().max(500).optional(),
          status: z.enum(['active', 'disabled']).optional(),
        }),
      },
      response: { status: 200, schema: WebhookEndpointSchema, description: 'The endpoint' },
      handler: async ({ params, body, access, audit }) => {
        const endpoint = await scopedEndpoint(deps.db, access, params.id);
        audit.target({ organizationId: endpoint.organization_id });
        return toEndpointDto(await changeWebhookEndpoint(deps, endpoint.id, body));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/webhooks/{id}',
      permission: 'webhooks:write',
      summary: 'Delete a webhook endpoint',
      description:
        'No further deliveries: once this answers, the receiver gets no further request. Pending deliveries end at once (failed, `endpoint deleted`); one being sent at that moment is let finish first (within the delivery timeout, unless its runner stalls). The delivery log is kept.',
      tags: TAGS,
      auditTarget: 'webhook_endpoint',
      request: { params: EndpointParams },
      response: { status: 200, schema: WebhookEndpointSchema, description: 'The deleted endpoint' },
      handler: async ({ params, access, audit }) => {
        const endpoint = await scopedEndpoint(deps.db, access, params.id);
        audit.target({ organizationId: endpoint.organization_id });
        return toEndpointDto(await deleteWebhookEndpoint(deps.db, endpoint.id));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/webhooks/{id}/rotate-secret',
      permission: 'webhooks:write',
      summary: 'Rotate the signing secret',
      description:
        'Returns the new secret ONCE. During the grace period deliveries carry two signatures (new and old secret), so receivers can switch without dropping any. Rotating again within the grace keeps the first old secret signing until its own grace ends; at most two earlier secrets sign, so a rotation while two are in their grace is refused with 409 `secret_rotation_too_soon` (saying when it is allowed). `gracePeriodHours: 0` ends every earlier secret at once and is never refused.',
      tags: TAGS,
      auditTarget: 'webhook_endpoint',
      idempotent: false,
      request: {
        params: EndpointParams,
        body: z.object({
          gracePeriodHours: z.number().int().min(0).max(168).default(24).meta({
            description: 'How long the replaced secret keeps signing (default 24 h); 0 stops every earlier secret now',
          }),
        }),
      },
      response: {
        status: 200,
        schema: CreatedWebhookSchema,
        description: 'The endpoint and its new secret',
        secret: true,
      },
      handler: async ({ params, body, access, audit }) => {
        const endpoint = await scopedEndpoint(deps.db, access, params.id);
        audit.target({ organizationId: endpoint.organization_id });
        return toCreatedWebhookDto(
          await rotateWebhookSecret(deps.db, deps.keys, endpoint.id, body.gracePeriodHours * 3600),
        );
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/webhooks/{id}/ping',
      permission: 'webhooks:write',
      summary: 'Send a webhook.ping event to this endpoint',
      description: '409 `endpoint_disabled` while the endpoint is disabled (nothing would be sent): enable it first.',
      tags: TAGS,
      auditTarget: 'webhook_endpoint',
      request: { params: EndpointParams },
      response: { status: 202, schema: QueuedDeliverySchema, description: 'The queued delivery' },
      errors: [409],
      handler: async ({ params, access, audit, atomicAnswer }) => {
        const endpoint = await scopedEndpoint(deps.db, access, params.id);
        audit.target({ organizationId: endpoint.organization_id });
        assertSends(endpoint);
        return atomicWrite(deps.db, atomicAnswer, async (trx) =>
          toQueuedDeliveryDto(await pingEndpoint(trx, endpoint)),
        );
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/webhooks/{id}/deliveries',
      permission: 'webhooks:read',
      summary: "An endpoint's delivery log",
      description: 'Newest first: status, attempts, last response code and error.',
      tags: TAGS,
      request: {
        params: EndpointParams,
        query: z.object({ status: z.enum(['pending', 'succeeded', 'failed']).optional(), ...PAGE_QUERY }),
      },
      response: {
        status: 200,
        schema: pageSchema(DeliverySchema).meta({ id: 'WebhookDeliveryPage' }),
        description: 'A page of deliveries',
      },
      handler: async ({ params, query, access }) => {
        const endpoint = await scopedEndpoint(deps.db, access, params.id);
        const page = await pageEndpointDeliveries(deps.db, endpoint.id, query);
        return { data: page.rows.map(toDeliveryDto), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/webhooks/{id}/deliveries/{deliveryId}',
      permission: 'webhooks:read',
      summary: 'A delivery with every attempt and the event it carries',
      tags: TAGS,
      request: { params: DeliveryParams },
      response: { status: 200, schema: DeliveryDetailSchema, description: 'The delivery' },
      handler: async ({ params, access }) => {
        const endpoint = await scopedEndpoint(deps.db, access, params.id);
        const detail = await getDeliveryDetail(deps.db, endpoint.id, params.deliveryId);
        return toDeliveryDetailDto(detail.delivery, detail.attempts);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/webhooks/{id}/deliveries/{deliveryId}/replay',
      permission: 'webhooks:write',
      summary: 'Replay a delivery',
      description:
        'Queues the same event again for this endpoint (a new delivery with its own attempts and retry window, signed at send time). Receivers dedupe by event id. 409 `endpoint_disabled` while the endpoint is disabled (nothing would be sent): enable it first.',
      tags: TAGS,
      auditTarget: 'webhook_delivery',
      request: { params: DeliveryParams },
      response: {
        status: 202,
        schema: QueuedDeliverySchema,
        description: 'The new delivery (`replayOf`: the one replayed)',
      },
      errors: [409],
      handler: async ({ params, access, audit, atomicAnswer }) => {
        const endpoint = await scopedEndpoint(deps.db, access, params.id);
        const delivery = await getEndpointDelivery(deps.db, endpoint.id, params.deliveryId);
        audit.target({ id: delivery.id, organizationId: endpoint.organization_id });
        assertSends(endpoint);
        return atomicWrite(deps.db, atomicAnswer, async (trx) =>
          toQueuedDeliveryDto(await replayDelivery(trx, delivery)),
        );
      },
    }),
  ];
}
