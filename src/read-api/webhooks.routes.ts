import { z } from 'zod';
import {
  pingEndpoint,
  replayDelivery,
  rotateWebhookSecret,
  createWebhookEndpoint,
  assertEndpointUrl,
  assertSubscriptions,
  WEBHOOK_EVENT_TYPES,
} from '../events/webhooks.ts';
import type { SealingKeys } from '../events/webhook-signing.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import type { OrgAccess } from '../http/auth.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import type { OutboundPolicy } from '../shared/outbound-policy.ts';
import type { Database } from '../storage/db.ts';
import { decodeCursor, encodeCursor } from '../storage/pagination.ts';
import {
  getDelivery,
  getEndpoint,
  listAttempts,
  listDeliveries,
  listEndpoints,
  updateEndpoint,
  type EndpointRow,
} from '../storage/webhooks.repo.ts';
import { Id } from './dto.ts';
import {
  CreatedWebhookSchema,
  DeliveryDetailSchema,
  DeliverySchema,
  WebhookEndpointSchema,
  toAttemptDto,
  toDeliveryDto,
  toEndpointDto,
} from './webhooks.dto.ts';

const TAGS = ['Webhooks'];

export interface WebhookRouteDeps {
  db: Database;
  /** The credentials master keys (Secrets), which seal signing secrets at rest. */
  keys: SealingKeys;
  /** Plain-http endpoint URLs (development and tests only). */
  allowHttpEndpoints: boolean;
  /** The deployment's outbound address policy, checked when a URL is registered (and again at delivery). */
  outbound?: OutboundPolicy;
}

const EventTypes = z
  .array(z.string().min(1).max(100))
  .min(1)
  .max(50)
  .meta({
    description: `Event types: ${WEBHOOK_EVENT_TYPES.join(', ')}; or * (all) or <group>.* (e.g. certificate.*)`,
    example: ['transactions.changed', 'integration.*'],
  });
const Url = z
  .string()
  .min(1)
  .max(2000)
  .meta({ description: 'https URL that receives POSTs', example: 'https://ledger.example.com/hooks/jpm-sync' });

async function loadEndpoint(db: Database, access: OrgAccess, id: string): Promise<EndpointRow> {
  const endpoint = await getEndpoint(db, id);
  if (!endpoint) {
    throw new NotFoundError('webhook endpoint', id);
  }
  access.assert(endpoint.organization_id, 'webhook endpoint', id);
  return endpoint;
}

async function loadDelivery(db: Database, endpoint: EndpointRow, deliveryId: string) {
  const delivery = await getDelivery(db, deliveryId);
  if (!delivery || delivery.endpoint_id !== endpoint.id) {
    throw new NotFoundError('webhook delivery', deliveryId);
  }
  return delivery;
}

/** A new delivery as POSTs that queue one answer it: the delivery itself (`deliveryId`, its former answer, kept one release). */
const QueuedDeliverySchema = DeliverySchema.extend({
  deliveryId: Id.meta({ description: 'Same as `id` (the former answer; kept for one release)' }),
}).meta({ id: 'QueuedWebhookDelivery' });

export function webhookRoutes(deps: WebhookRouteDeps): Route[] {
  const EndpointParams = z.object({ id: Id });
  const DeliveryParams = z.object({ id: Id, deliveryId: Id });
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
      response: { status: 201, schema: CreatedWebhookSchema, description: 'The endpoint and its secret' },
      handler: async ({ body, access, audit, principal }) => {
        const organizationId = access.filter(body.organizationId);
        if (organizationId === undefined) {
          throw new ValidationError('organizationId is required with a key valid for all organizations', [
            { path: 'body.organizationId', message: 'required' },
          ]);
        }
        await assertEndpointUrl(body.url, deps.allowHttpEndpoints, deps.outbound);
        const created = await createWebhookEndpoint(deps.db, deps.keys, {
          organizationId,
          url: body.url,
          eventTypes: body.eventTypes,
          description: body.description,
          createdBy: `api_key:${principal.keyPrefix}`,
        });
        audit.target({ id: created.endpoint.id, organizationId });
        return { ...toEndpointDto(created.endpoint), secret: created.secret };
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
        const afterId = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ['uuid'])[0];
        const rows = await listEndpoints(deps.db, {
          organizationId: access.filter(query.organizationId),
          afterId,
          limit: query.limit,
        });
        const page = rows.slice(0, query.limit);
        const last = page[page.length - 1];
        return {
          data: page.map(toEndpointDto),
          nextCursor: rows.length > query.limit && last ? encodeCursor([last.id]) : null,
        };
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
      handler: async ({ params, access }) => toEndpointDto(await loadEndpoint(deps.db, access, params.id)),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/webhooks/{id}',
      permission: 'webhooks:write',
      summary: 'Change a webhook endpoint (URL, event types, description, enabled)',
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
        const endpoint = await loadEndpoint(deps.db, access, params.id);
        audit.target({ organizationId: endpoint.organization_id });
        if (body.url !== undefined) {
          await assertEndpointUrl(body.url, deps.allowHttpEndpoints, deps.outbound);
        }
        if (body.eventTypes !== undefined) {
          assertSubscriptions(body.eventTypes);
        }
        return toEndpointDto(await updateEndpoint(deps.db, endpoint.id, body));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/webhooks/{id}',
      permission: 'webhooks:write',
      summary: 'Delete a webhook endpoint',
      description: 'No further deliveries; pending ones fail. The delivery log is kept.',
      tags: TAGS,
      auditTarget: 'webhook_endpoint',
      request: { params: EndpointParams },
      response: { status: 200, schema: WebhookEndpointSchema, description: 'The deleted endpoint' },
      handler: async ({ params, access, audit }) => {
        const endpoint = await loadEndpoint(deps.db, access, params.id);
        audit.target({ organizationId: endpoint.organization_id });
        return toEndpointDto(await updateEndpoint(deps.db, endpoint.id, { status: 'deleted' }));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/webhooks/{id}/rotate-secret',
      permission: 'webhooks:write',
      summary: 'Rotate the signing secret',
      description:
        'Returns the new secret ONCE. During the grace period deliveries carry two signatures (new and old secret), so receivers can switch without dropping any.',
      tags: TAGS,
      auditTarget: 'webhook_endpoint',
      idempotent: false,
      request: {
        params: EndpointParams,
        body: z.object({
          gracePeriodHours: z
            .number()
            .int()
            .min(0)
            .max(168)
            .default(24)
            .meta({ description: 'How long the old secret keeps signing (default 24 h)' }),
        }),
      },
      response: { status: 200, schema: CreatedWebhookSchema, description: 'The endpoint and its new secret' },
      handler: async ({ params, body, access, audit }) => {
        const endpoint = await loadEndpoint(deps.db, access, params.id);
        audit.target({ organizationId: endpoint.organization_id });
        const rotated = await rotateWebhookSecret(deps.db, deps.keys, endpoint.id, body.gracePeriodHours * 3600);
        return { ...toEndpointDto(rotated.endpoint), secret: rotated.secret };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/webhooks/{id}/ping',
      permission: 'webhooks:write',
      summary: 'Send a webhook.ping event to this endpoint',
      tags: TAGS,
      auditTarget: 'webhook_endpoint',
      request: { params: EndpointParams },
      response: { status: 202, schema: QueuedDeliverySchema, description: 'The queued delivery' },
      handler: async ({ params, access, audit }) => {
        const endpoint = await loadEndpoint(deps.db, access, params.id);
        audit.target({ organizationId: endpoint.organization_id });
        const deliveryId = await pingEndpoint(deps.db, endpoint);
        return { ...toDeliveryDto(await loadDelivery(deps.db, endpoint, deliveryId)), deliveryId };
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
        const endpoint = await loadEndpoint(deps.db, access, params.id);
        const before =
          query.cursor === undefined
            ? undefined
            : (([createdAt, id]) => ({ createdAt, id }))(decodeCursor(query.cursor, ['string', 'uuid']));
        const rows = await listDeliveries(deps.db, endpoint.id, { status: query.status, before, limit: query.limit });
        const page = rows.slice(0, query.limit);
        const last = page[page.length - 1];
        return {
          data: page.map(toDeliveryDto),
          nextCursor: rows.length > query.limit && last ? encodeCursor([last.created_at_key, last.id]) : null,
        };
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
        const endpoint = await loadEndpoint(deps.db, access, params.id);
        const delivery = await loadDelivery(deps.db, endpoint, params.deliveryId);
        return {
          ...toDeliveryDto(delivery),
          attemptLog: (await listAttempts(deps.db, delivery.id)).map(toAttemptDto),
          event: {
            id: delivery.event_id,
            type: delivery.type,
            createdAt: delivery.event_created_at.toISOString(),
            data: delivery.payload,
          },
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/webhooks/{id}/deliveries/{deliveryId}/replay',
      permission: 'webhooks:write',
      summary: 'Replay a delivery',
      description:
        'Queues the same event again for this endpoint (a new delivery with its own attempts and retry window, signed at send time). Receivers dedupe by event id.',
      tags: TAGS,
      auditTarget: 'webhook_delivery',
      request: { params: DeliveryParams },
      response: {
        status: 202,
        schema: QueuedDeliverySchema,
        description: 'The new delivery (`replayOf`: the one replayed)',
      },
      handler: async ({ params, access, audit }) => {
        const endpoint = await loadEndpoint(deps.db, access, params.id);
        const delivery = await loadDelivery(deps.db, endpoint, params.deliveryId);
        audit.target({ id: delivery.id, organizationId: endpoint.organization_id });
        const deliveryId = await replayDelivery(deps.db, {
          id: delivery.id,
          organizationId: delivery.organization_id,
          endpointId: endpoint.id,
          eventId: delivery.event_id,
        });
        return { ...toDeliveryDto(await loadDelivery(deps.db, endpoint, deliveryId)), deliveryId };
      },
    }),
  ];
}
