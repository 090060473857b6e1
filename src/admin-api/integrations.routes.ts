import { z } from 'zod';
import { displayName } from '../http/validate.ts';
import { ENVIRONMENTS } from '../domain/types.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { answerBeforeCommit, defineRoute, type HandlerInput, type Route } from '../http/routes.ts';
import {
  createIntegration,
  getIntegration,
  pageIntegrations,
  type IntegrationView,
  type TransitionResult,
} from '../onboarding/index.ts';
import { ValidationError } from '../shared/errors.ts';
import { deprecatedAlias, Id, IdParams } from './dto.ts';
import {
  ExpectationsOverrideSchema,
  IntegrationSchema,
  IntegrationTransitionResultSchema,
  IntegrationUpdateBody,
  MAX_PEM,
  Stage,
  StageBody,
  toIntegrationDto,
  toTransitionResultDto,
} from './integrations.dto.ts';
import { moveIntegration, updateIntegrationSettings, type IntegrationServiceDeps } from './integrations.service.ts';
import { actorOf, integrationOrganization } from './lookup.ts';

/**
 * Integrations: create, read, list (stage and overdue filters), update settings, and move through
 * the onboarding stages. The onboarding facts, security administrators and history are in
 * integration-onboarding.routes.ts; CSRs, certificates and the connection test in
 * integration-credentials.routes.ts. Moves and settings changes are integrations.service.ts's.
 */
export type IntegrationRouteDeps = IntegrationServiceDeps;

const TAGS = ['Integrations'];

export function integrationRoutes(deps: IntegrationRouteDeps): Route[] {
  const opts = deps.onboarding;
  const now = () => (opts.now ? opts.now() : new Date());
  const dto = async (id: string) => toIntegrationDto(await getIntegration(deps.db, id, opts), now());
  /**
   * The scope check, then the move (src/admin-api/integrations.service.ts), its answer (`toAnswer`, the path's own)
   * stored in the move's transaction.
   */
  const move = async <A>(
    {
      params,
      body,
      access,
      audit,
      principal,
      atomicAnswer,
    }: HandlerInput<z.output<typeof IdParams>, unknown, z.output<typeof StageBody>>,
    toAnswer: (moved: TransitionResult) => A,
  ): Promise<A> => {
    audit.target({ organizationId: await integrationOrganization(deps.db, access, params.id) });
    const phase = answerBeforeCommit(atomicAnswer, toAnswer);
    const moved = await moveIntegration(
      deps,
      {
        integrationId: params.id,
        to: body.to,
        actor: actorOf(principal),
        ...(body.note !== undefined ? { note: body.note } : {}),
      },
      phase.beforeCommit,
    );
    return phase.answer(moved);
  };
  const stage = defineRoute({
    method: 'post',
    path: '/v1/integrations/{id}/stage',
    permission: 'integrations:write',
    tags: TAGS,
    auditTarget: 'integration',
    summary: 'Move an integration to another stage',
    description:
      'Forward one pipeline stage at a time when its guards pass, pause (from any active stage), resume (to the stage it was paused from) or cancel. ' +
      'A refused move is a 409 `transition_refused` whose detail names every failed guard (e.g. `guard eligibility_complete failed (…)`) or the stages allowed from here. ' +
      "Pausing or cancelling stops the accounts' schedules; resuming restores them. Answers the integration; the move is the newest entry of GET /v1/integrations/{id}/transitions.",
    request: { params: IdParams, body: StageBody },
    response: { status: 200, schema: IntegrationSchema, description: 'The integration in its new stage' },
    errors: [409],
    handler: (input) => move(input, (moved) => toIntegrationDto(moved.integration, now())),
  });
  return [
    defineRoute({
      method: 'post',
      path: '/v1/integrations',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'integration',
      summary: 'Create an integration',
      description:
        'Starts onboarding in `requested`, with due dates from the expectations. A key scoped to one organization creates it there (organizationId may be omitted); a key for all organizations must name the organization. The simulator environment needs a baseUrl.',
      request: {
        body: z.object({
          organizationId: Id.optional(),
          name: displayName(200),
          environment: z.enum(ENVIRONMENTS).optional().meta({ description: 'Default: simulator' }),
          baseUrl: z.string().max(2000).optional(),
          serverCaPem: z.string().max(MAX_PEM).nullable().optional(),
          expectations: ExpectationsOverrideSchema.nullable().optional(),
        }),
      },
      response: { status: 201, schema: IntegrationSchema, description: 'The new integration' },
      handler: async ({ body, access, audit, principal, atomicAnswer }) => {
        const organizationId = access.filter(body.organizationId);
        if (organizationId === undefined) {
          throw new ValidationError('organizationId is required for a key valid for all organizations', [
            { path: 'body.organizationId', message: 'required' },
          ]);
        }
        audit.target({ organizationId });
        const phase = answerBeforeCommit(atomicAnswer, (view: IntegrationView) => toIntegrationDto(view, now()));
        const created = await createIntegration(
          deps.db,
          {
            organizationId,
            name: body.name,
            actor: actorOf(principal),
            ...(body.environment !== undefined ? { environment: body.environment } : {}),
            ...(body.baseUrl !== undefined ? { baseUrl: body.baseUrl } : {}),
            ...(body.serverCaPem !== undefined ? { serverCaPem: body.serverCaPem } : {}),
            ...(body.expectations !== undefined ? { expectations: body.expectations } : {}),
          },
          opts,
          phase.beforeCommit,
        );
        audit.target({ id: created.id });
        return phase.answer(created);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'Get an integration',
      request: { params: IdParams },
      response: { status: 200, schema: IntegrationSchema, description: 'The integration' },
      handler: async ({ params, access }) => {
        await integrationOrganization(deps.db, access, params.id);
        return dto(params.id);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'List integrations',
      description: 'Oldest first. `overdue=true`: only those past their stage or whole-process due date now.',
      request: {
        query: z.object({
          ...PAGE_QUERY,
          organizationId: Id.optional(),
          stage: Stage.optional(),
          overdue: z.enum(['true', 'false']).optional(),
        }),
      },
      response: {
        status: 200,
        schema: pageSchema(IntegrationSchema).meta({ id: 'IntegrationPage' }),
        description: 'A page of integrations',
      },
      handler: async ({ query, access }) => {
        const page = await pageIntegrations(
          deps.db,
          {
            organizationId: access.filter(query.organizationId),
            stage: query.stage,
            overdue: query.overdue === 'true',
            cursor: query.cursor,
            limit: query.limit,
          },
          opts,
        );
        const at = now();
        return { data: page.integrations.map((v) => toIntegrationDto(v, at)), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/integrations/{id}',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'integration',
      summary: 'Update integration settings',
      description:
        "Any of: name; intradayRunsPerDay (the accounts' schedules are reconciled); expectations (due dates recomputed; null clears); environment, baseUrl, serverCaPem (certificates are per environment: after a switch only the new environment's are used); " +
        'the onboarding facts eligibility, jpmProjectId and apiAccess (the same as their own POST routes). Everything is checked before anything is changed, and every part is applied in one transaction: all of it or none. ' +
        'Security administrators are a list of their own: POST /v1/integrations/{id}/security-admins.',
      request: { params: IdParams, body: IntegrationUpdateBody },
      response: { status: 200, schema: IntegrationSchema, description: 'The updated integration' },
      handler: async ({ params, body, access, audit, principal }) => {
        audit.target({ organizationId: await integrationOrganization(deps.db, access, params.id) });
        if (body.securityAdmins !== undefined) {
          throw new ValidationError(
            `security administrators are not an integration setting: add each with POST /v1/integrations/${params.id}/security-admins (list: GET, remove: DELETE …/security-admins/{securityAdminId})`,
            [{ path: 'body.securityAdmins', message: `use POST /v1/integrations/${params.id}/security-admins` }],
          );
        }
        if (Object.values(body).every((v) => v === undefined)) {
          throw new ValidationError('nothing to change: give at least one setting', [
            { path: 'body', message: 'empty' },
          ]);
        }
        await updateIntegrationSettings(deps, params.id, body, actorOf(principal));
        return dto(params.id);
      },
    }),
    stage,
    // The old path (one release): the same move, answered as { integration, transition, kind }.
    deprecatedAlias(stage, '/v1/integrations/{id}/transitions', {
      response: {
        status: 201,
        schema: IntegrationTransitionResultSchema,
        description: 'The integration in its new stage and the history row',
        mediaType: 'application/json',
      },
      handler: (input) => move(input as Parameters<typeof move>[0], (moved) => toTransitionResultDto(moved, now())),
    }),
  ];
}
