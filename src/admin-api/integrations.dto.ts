import { z } from 'zod';
import { displayName } from '../http/validate.ts';
import { ENVIRONMENTS, ONBOARDING_STAGES } from '../domain/types.ts';
import {
  overdueKinds,
  PIPELINE,
  type SecurityAdminSide,
  type IntegrationView,
  type SecurityAdminView,
  type TransitionView,
} from '../onboarding/index.ts';
import { MAX_INTRADAY_RUNS } from '../scheduler/index.ts';
import { Id, Instant, iso } from './dto.ts';

/** DTOs of integrations and their onboarding facts (camelCase, ISO instants, never key material). */

/**
 * The sides of security administration as the API names them: `customer` and `provider` (the team
 * running jpm-sync). Stored as `customer` / `ours`; the API accepts `ours` for one more release.
 */
export const API_SIDES = ['customer', 'provider'] as const;
export const SideInput = z
  .enum(['customer', 'provider', 'ours'])
  .meta({ description: 'customer or provider (`ours`: the former name of provider, accepted for one release)' });
export const storedSide = (side: z.output<typeof SideInput>): SecurityAdminSide =>
  side === 'customer' ? 'customer' : 'ours';
export const apiSide = (side: SecurityAdminSide): (typeof API_SIDES)[number] =>
  side === 'customer' ? 'customer' : 'provider';
export const Stage = z.enum(ONBOARDING_STAGES);
const Days = z.number().int().min(1).max(3650);

/** A per-integration override of the onboarding expectations; any subset, days per stage. */
export const ExpectationsOverrideSchema = z
  .strictObject({
    stageDays: z
      .partialRecord(z.enum(PIPELINE), Days)
      .optional()
      .meta({ description: 'Days each stage is expected to take, e.g. { "awaiting_approval": 21 }' }),
    processDays: Days.optional().meta({ description: 'Days from request to live' }),
  })
  .meta({ id: 'ExpectationsOverride' });

export const IntegrationSchema = z
  .object({
    id: Id,
    organizationId: Id,
    name: z.string(),
    stage: Stage,
    pausedFromStage: Stage.nullable().meta({ description: 'While paused: the stage a resume returns to' }),
    environment: z.enum(ENVIRONMENTS),
    baseUrl: z.string(),
    serverCaPem: z
      .string()
      .nullable()
      .meta({ description: 'CA bundle trusted for the bank (simulator, test gateways); null = system roots' }),
    syncStatus: z.string().meta({ description: 'ok | degraded | failed | certificate_expired' }),
    syncStatusReason: z.string().nullable(),
    intradayRunsPerDay: z
      .number()
      .int()
      .meta({ description: 'Scheduled intraday syncs per business day of each account' }),
    eligibility: z.object({
      jpmAccessAccount: z.boolean().nullable(),
      notChaseConnect: z.boolean().nullable(),
      jpmRepresentative: z.string().nullable(),
      signingAuthority: z.string().nullable(),
    }),
    jpmProjectId: z.string().nullable(),
    apiAccess: z.object({
      products: z.array(z.string()),
      requestedAt: Instant.nullable(),
      confirmedAt: Instant.nullable(),
    }),
    stageEnteredAt: Instant,
    stageDueAt: Instant.nullable(),
    processDueAt: Instant.nullable(),
    overdue: z
      .array(z.enum(['stage', 'process']))
      .meta({ description: 'Which due dates have passed now (empty when on time)' }),
    expectationsOverride: ExpectationsOverrideSchema.nullable(),
    expectations: z.object({ stageDays: z.record(z.string(), z.number().int()), processDays: z.number().int() }),
    liveAt: Instant.nullable(),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .meta({ id: 'Integration', description: "A customer's connection to J.P. Morgan Access and its onboarding state" });

export function toIntegrationDto(v: IntegrationView, now: Date): z.input<typeof IntegrationSchema> {
  return {
    id: v.id,
    organizationId: v.organizationId,
    name: v.name,
    stage: v.stage,
    pausedFromStage: v.pausedFromStage,
    environment: v.environment,
    baseUrl: v.baseUrl,
    serverCaPem: v.serverCaPem,
    syncStatus: v.syncStatus,
    syncStatusReason: v.syncStatusReason,
    intradayRunsPerDay: v.intradayRunsPerDay,
    eligibility: {
      jpmAccessAccount: v.eligibility.jpmAccessAccount ?? null,
      notChaseConnect: v.eligibility.notChaseConnect ?? null,
      jpmRepresentative: v.eligibility.jpmRepresentative ?? null,
      signingAuthority: v.eligibility.signingAuthority ?? null,
    },
    jpmProjectId: v.jpmProjectId,
    apiAccess: {
      products: v.apiAccess.products,
      requestedAt: iso(v.apiAccess.requestedAt),
      confirmedAt: iso(v.apiAccess.confirmedAt),
    },
    stageEnteredAt: iso(v.stageEnteredAt),
    stageDueAt: iso(v.stageDueAt),
    processDueAt: iso(v.processDueAt),
    overdue: overdueKinds({ stage: v.stage, stage_due_at: v.stageDueAt, process_due_at: v.processDueAt }, now),
    expectationsOverride: v.expectationsOverride,
    expectations: v.expectations,
    liveAt: iso(v.liveAt),
    createdAt: iso(v.createdAt),
    updatedAt: iso(v.updatedAt),
  };
}

export const TransitionSchema = z
  .object({
    id: z.string().meta({ description: 'Sequence number (string: a 64-bit integer)' }),
    from: Stage.nullable().meta({ description: 'null for the row that records the creation' }),
    to: Stage,
    actor: z.string(),
    note: z.string(),
    at: Instant,
  })
  .meta({ id: 'IntegrationTransition', description: 'One stage change of an integration' });

export function toTransitionDto(t: TransitionView): z.input<typeof TransitionSchema> {
  return { id: String(t.id), from: t.from, to: t.to, actor: t.actor, note: t.note, at: iso(t.at) };
}

export const SecurityAdminSchema = z
  .object({
    id: Id,
    integrationId: Id,
    side: z.enum(API_SIDES).meta({
      description:
        "customer: the customer's administrator (approves access at J.P. Morgan); provider: ours, the team running jpm-sync (manages certificates)",
    }),
    name: z.string(),
    email: z.string(),
    role: z.string(),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .meta({
    id: 'SecurityAdmin',
    description:
      "A security administrator: the customer's (approves access at J.P. Morgan) or ours (manages certificates)",
  });

/** The answer of the stage move's old path (POST /v1/integrations/{id}/transitions). */
export const IntegrationTransitionResultSchema = z
  .object({
    integration: IntegrationSchema,
    transition: TransitionSchema,
    kind: z.enum(['advance', 'pause', 'resume', 'cancel']),
  })
  .meta({ id: 'IntegrationTransitionResult' });

export function toTransitionResultDto(
  result: { integration: IntegrationView; transition: TransitionView; kind: 'advance' | 'pause' | 'resume' | 'cancel' },
  now: Date,
): z.input<typeof IntegrationTransitionResultSchema> {
  return {
    integration: toIntegrationDto(result.integration, now),
    transition: toTransitionDto(result.transition),
    kind: result.kind,
  };
}

export function toSecurityAdminDto(a: SecurityAdminView): z.input<typeof SecurityAdminSchema> {
  return {
    id: a.id,
    integrationId: a.integrationId,
    side: apiSide(a.side),
    name: a.name,
    email: a.email,
    role: a.role,
    createdAt: iso(a.createdAt),
    updatedAt: iso(a.updatedAt),
  };
}

/** Bodies of the fact routes, shared with PATCH /v1/integrations/{id}, which accepts the same facts. */
export const EligibilityBody = z.strictObject({
  jpmAccessAccount: z.boolean().optional(),
  notChaseConnect: z.boolean().optional(),
  jpmRepresentative: z.string().trim().max(200).nullable().optional(),
  signingAuthority: z.string().trim().max(200).nullable().optional(),
});
export const JpmProjectBody = z.strictObject({ projectId: z.string().trim().min(1).max(200) });
export const ApiAccessBody = z.strictObject({
  status: z.enum(['requested', 'confirmed']),
  products: z.array(z.string().trim().min(1).max(100)).max(20).optional(),
});

export const MAX_PEM = 100_000;
const IntradayRuns = z
  .number()
  .int()
  .min(0)
  .max(MAX_INTRADAY_RUNS)
  .meta({ description: `Scheduled intraday syncs per business day (0 to ${MAX_INTRADAY_RUNS}; 0 = prior-day only)` });

/** PATCH /v1/integrations/{id}: any of the settings and onboarding facts. */
export const IntegrationUpdateBody = z.object({
  name: displayName(200).optional(),
  intradayRunsPerDay: IntradayRuns.optional(),
  expectations: ExpectationsOverrideSchema.nullable()
    .optional()
    .meta({ description: 'null clears the override (deployment defaults apply)' }),
  environment: z.enum(ENVIRONMENTS).optional(),
  baseUrl: z
    .string()
    .max(2000)
    .nullable()
    .optional()
    .meta({ description: "null = the environment's default (cat, prod)" }),
  serverCaPem: z.string().max(MAX_PEM).nullable().optional(),
  // The onboarding facts, here too (also POST /v1/integrations/{id}/eligibility, /jpm-project, /api-access).
  eligibility: EligibilityBody.optional().meta({
    description: 'Merged into the eligibility checklist (as POST …/eligibility)',
  }),
  jpmProjectId: JpmProjectBody.shape.projectId
    .optional()
    .meta({ description: 'The J.P. Morgan developer-portal project (as POST …/jpm-project)' }),
  apiAccess: ApiAccessBody.optional().meta({ description: 'API access requested or confirmed (as POST …/api-access)' }),
  securityAdmins: z.unknown().optional().meta({
    description:
      'Not settable here: security administrators are a list of their own, POST /v1/integrations/{id}/security-admins (400 points there)',
  }),
});

/** POST /v1/integrations/{id}/stage (and its old path). */
export const StageBody = z.object({ to: Stage, note: z.string().trim().max(2000).optional() });
