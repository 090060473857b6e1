import { z } from 'zod';
import type { CreatedEndpoint } from '../events/webhook-endpoints.ts';
import { WEBHOOK_EVENT_TYPES } from '../events/webhooks.ts';
import type { EndpointRow } from '../storage/webhooks.repo.ts';
import { Id, Instant, iso } from './dto.ts';

/** Webhook endpoint and delivery DTOs. Secrets appear only in CreatedWebhook (create and rotate). */

/** Request fields of the endpoint routes. */
export const EndpointParams = z.object({ id: Id });
export const DeliveryParams = z.object({ id: Id, deliveryId: Id });
export const EventTypes = z
  .array(z.string().min(1).max(100))
  .min(1)
  .max(50)
  .meta({
    description: `Event types: ${WEBHOOK_EVENT_TYPES.join(', ')}; or * (all) or <group>.* (e.g. certificate.*)`,
    example: ['transactions.changed', 'integration.*'],
  });
export const Url = z
  .string()
  .min(1)
  .max(2000)
  .meta({ description: 'https URL that receives POSTs', example: 'https://ledger.example.com/hooks/jpm-sync' });

export const WebhookEndpointSchema = z
  .object({
    id: Id,
    organizationId: Id,
    url: z.string(),
    description: z.string(),
    eventTypes: z.array(z.string()),
    status: z.enum(['active', 'disabled', 'deleted']),
    secretVersion: z.number().int(),
    secretRotatedAt: Instant.nullable(),
    previousSecretExpiresAt: Instant.nullable().meta({
      description: 'Until then deliveries also carry a signature with the previous secret',
    }),
    olderSecretExpiresAt: Instant.nullable().meta({
      description:
        'Set after a rotation within the previous rotation’s grace period: until then deliveries also carry a signature with the secret before the previous one',
    }),
    createdBy: z.string(),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .meta({ id: 'WebhookEndpoint' });

export const CreatedWebhookSchema = WebhookEndpointSchema.extend({
  secret: z.string().meta({ description: 'The signing secret (whsec_…). Shown only in this response: store it now.' }),
}).meta({ id: 'WebhookEndpointWithSecret' });

/** An endpoint with its secret: the one answer (create, rotate) that shows the secret. */
export function toCreatedWebhookDto(created: CreatedEndpoint): z.input<typeof CreatedWebhookSchema> {
  return { ...toEndpointDto(created.endpoint), secret: created.secret };
}

export function toEndpointDto(e: EndpointRow): z.input<typeof WebhookEndpointSchema> {
  return {
    id: e.id,
    organizationId: e.organization_id,
    url: e.url,
    description: e.description,
    eventTypes: e.event_types,
    status: e.status as 'active' | 'disabled' | 'deleted',
    secretVersion: e.secret_version,
    secretRotatedAt: iso(e.secret_rotated_at),
    previousSecretExpiresAt: iso(e.previous_secret_expires_at),
    olderSecretExpiresAt: iso(e.older_secret_expires_at),
    createdBy: e.created_by,
    createdAt: iso(e.created_at),
    updatedAt: iso(e.updated_at),
  };
}

export const DeliverySchema = z
  .object({
    id: Id,
    endpointId: Id,
    eventId: Id,
    eventType: z.string(),
    status: z
      .enum(['pending', 'succeeded', 'failed'])
      .meta({ description: 'failed: retries exhausted (a day) or the endpoint was disabled; replay it' }),
    attempts: z.number().int(),
    nextAttemptAt: Instant.nullable().meta({ description: 'When a pending delivery is tried next' }),
    giveUpAt: Instant,
    lastAttemptAt: Instant.nullable(),
    lastResponseStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    replayOf: Id.nullable(),
    createdAt: Instant,
    completedAt: Instant.nullable(),
  })
  .meta({ id: 'WebhookDelivery' });

export interface DeliveryRowLike {
  id: string;
  endpoint_id: string;
  event_id: string;
  type: string;
  status: string;
  attempts: number;
  next_attempt_at: Date;
  give_up_at: Date;
  last_attempt_at: Date | null;
  last_response_status: number | null;
  last_error: string | null;
  replay_of: string | null;
  created_at: Date;
  completed_at: Date | null;
}

export function toDeliveryDto(d: DeliveryRowLike): z.input<typeof DeliverySchema> {
  return {
    id: d.id,
    endpointId: d.endpoint_id,
    eventId: d.event_id,
    eventType: d.type,
    status: d.status as 'pending' | 'succeeded' | 'failed',
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' ? iso(d.next_attempt_at) : null,
    giveUpAt: iso(d.give_up_at),
    lastAttemptAt: iso(d.last_attempt_at),
    lastResponseStatus: d.last_response_status,
    lastError: d.last_error,
    replayOf: d.replay_of,
    createdAt: iso(d.created_at),
    completedAt: iso(d.completed_at),
  };
}

/**
 * A new delivery as POSTs that queue one answer it: the delivery itself (`deliveryId`, its former answer, kept one
 * release).
 */
export const QueuedDeliverySchema = DeliverySchema.extend({
  deliveryId: Id.meta({ description: 'Same as `id` (the former answer; kept for one release)' }),
}).meta({ id: 'QueuedWebhookDelivery' });

export function toQueuedDeliveryDto(d: DeliveryRowLike): z.input<typeof QueuedDeliverySchema> {
  return { ...toDeliveryDto(d), deliveryId: d.id };
}

export const AttemptSchema = z
  .object({
    attempt: z.number().int(),
    startedAt: Instant,
    durationMs: z.number().int(),
    outcome: z.enum(['succeeded', 'failed']),
    responseStatus: z.number().int().nullable(),
    error: z.string().nullable(),
  })
  .meta({ id: 'WebhookDeliveryAttempt' });

export function toAttemptDto(a: {
  attempt: number;
  started_at: Date;
  duration_ms: number;
  outcome: string;
  response_status: number | null;
  error: string | null;
}): z.input<typeof AttemptSchema> {
  return {
    attempt: a.attempt,
    startedAt: iso(a.started_at),
    durationMs: a.duration_ms,
    outcome: a.outcome as 'succeeded' | 'failed',
    responseStatus: a.response_status,
    error: a.error,
  };
}

export const DeliveryDetailSchema = DeliverySchema.extend({
  attemptLog: z.array(AttemptSchema),
  event: z
    .object({ id: Id, type: z.string(), createdAt: Instant, data: z.unknown() })
    .meta({ description: 'The event as delivered (the body is {id, type, organizationId, createdAt, data})' }),
}).meta({ id: 'WebhookDeliveryDetail' });

export function toDeliveryDetailDto(
  delivery: DeliveryRowLike & { event_created_at: Date; payload: unknown },
  attempts: readonly Parameters<typeof toAttemptDto>[0][],
): z.input<typeof DeliveryDetailSchema> {
  return {
    ...toDeliveryDto(delivery),
    attemptLog: attempts.map(toAttemptDto),
    event: {
      id: delivery.event_id,
      type: delivery.type,
      createdAt: delivery.event_created_at.toISOString(),
      data: delivery.payload,
    },
  };
}
