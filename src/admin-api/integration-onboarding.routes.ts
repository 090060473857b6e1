import { z } from 'zod';
import { displayName } from '../http/validate.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import {
  listMilestones,
  listSecurityAdmins,
  listTransitions,
  recordApiAccess,
  recordJpmProject,
  recordSecurityAdmin,
  REQUIRED_API_PRODUCTS,
  type OnboardingOptions,
} from '../onboarding/index.ts';
import { emailAddress } from '../shared/email.ts';
import { atomicWrite, type Database } from '../storage/db.ts';
import { outboxEventAt } from '../storage/outbox.repo.ts';
import { Id, IdParams } from './dto.ts';
import { MILESTONE_CURSOR, MilestoneEventPageSchema, toMilestoneEventPageDto } from './events.dto.ts';
import { pageMilestoneEvents } from './events.service.ts';
import {
  ApiAccessBody,
  EligibilityBody,
  IntegrationSchema,
  JpmProjectBody,
  SecurityAdminSchema,
  SideInput,
  storedSide,
  toIntegrationDto,
  toSecurityAdminDto,
  toTransitionDto,
  TransitionSchema,
} from './integrations.dto.ts';
import { recordEligibilityAnswers, removeIntegrationSecurityAdmin } from './integrations.service.ts';
import { actorOf, integrationOrganization, pageInMemory } from './lookup.ts';

/**
 * The facts the onboarding guards read (eligibility checklist, J.P. Morgan project, API access,
 * security administrators) and what an integration went through (stage history, milestones).
 */
const TAGS = ['Integration onboarding'];

export function integrationOnboardingRoutes(deps: {
  db: Database;
  onboarding: OnboardingOptions;
  /** The milestone feed answers 503 while the change feed's database check fails (events/feed-database-guard.ts). */
  feedDatabase?: { assertOpen(): Promise<void> };
}): Route[] {
  const opts = deps.onboarding;
  const now = () => (opts.now ? opts.now() : new Date());
  const updated = {
    status: 200 as const,
    schema: IntegrationSchema,
    description: 'The integration with the recorded facts',
  };
  return [
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/eligibility',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'integration',
      summary: 'Record eligibility answers',
      description:
        'Merges the given answers into the checklist that guards leaving `requested`: a J.P. Morgan Access account that is not Chase Connect, the J.P. Morgan representative, the person with signing authority.',
      request: { params: IdParams, body: EligibilityBody },
      response: updated,
      handler: async ({ params, body, access, audit, principal, atomicAnswer }) => {
        audit.target({ organizationId: await integrationOrganization(deps.db, access, params.id) });
        return atomicWrite(deps.db, atomicAnswer, async (trx) =>
          toIntegrationDto(
            await recordEligibilityAnswers({ ...deps, db: trx }, params.id, body, actorOf(principal)),
            now(),
          ),
        );
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/jpm-project',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'integration',
      summary: 'Record the J.P. Morgan developer-portal project',
      description: 'The project id guards leaving `kickoff`.',
      request: { params: IdParams, body: JpmProjectBody },
      response: updated,
      handler: async ({ params, body, access, audit, principal, atomicAnswer }) => {
        audit.target({ organizationId: await integrationOrganization(deps.db, access, params.id) });
        return atomicWrite(deps.db, atomicAnswer, async (trx) =>
          toIntegrationDto(
            await recordJpmProject(
              trx,
              { integrationId: params.id, projectId: body.projectId, actor: actorOf(principal) },
              opts,
            ),
            now(),
          ),
        );
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/api-access',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'integration',
      summary: 'Record that API access was requested or confirmed',
      description: `Requested guards leaving \`technical_setup\`; confirmed (by J.P. Morgan) guards entering \`approved\`. Products default to ${REQUIRED_API_PRODUCTS.join(' and ')}.`,
      request: { params: IdParams, body: ApiAccessBody },
      response: updated,
      handler: async ({ params, body, access, audit, principal, atomicAnswer }) => {
        audit.target({ organizationId: await integrationOrganization(deps.db, access, params.id) });
        return atomicWrite(deps.db, atomicAnswer, async (trx) => {
          const view = await recordApiAccess(
            trx,
            {
              integrationId: params.id,
              status: body.status,
              actor: actorOf(principal),
              ...(body.products ? { products: body.products } : {}),
            },
            opts,
          );
          return toIntegrationDto(view, now());
        });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/security-admins',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'security_admin',
      summary: 'Record a security administrator',
      description:
        'One on each side (`customer`, and `provider`: the team running jpm-sync) guards entering `awaiting_approval`. The same side and email updates the existing entry. `ours`, the former name of `provider`, is accepted for one release.',
      request: {
        params: IdParams,
        body: z.object({
          side: SideInput,
          name: displayName(200),
          email: emailAddress(),
          role: displayName(200),
        }),
      },
      response: { status: 201, schema: SecurityAdminSchema, description: 'The recorded administrator' },
      handler: async ({ params, body, access, audit, principal, atomicAnswer }) => {
        audit.target({ organizationId: await integrationOrganization(deps.db, access, params.id) });
        return atomicWrite(deps.db, atomicAnswer, async (trx) => {
          const admin = await recordSecurityAdmin(trx, {
            integrationId: params.id,
            ...body,
            side: storedSide(body.side),
            actor: actorOf(principal),
          });
          audit.target({ id: admin.id });
          return toSecurityAdminDto(admin);
        });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/security-admins',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'List security administrators',
      description: 'Oldest first.',
      request: { params: IdParams, query: z.object(PAGE_QUERY) },
      response: {
        status: 200,
        schema: pageSchema(SecurityAdminSchema).meta({ id: 'SecurityAdminPage' }),
        description: 'A page of administrators',
      },
      handler: async ({ params, query, access }) => {
        await integrationOrganization(deps.db, access, params.id);
        const page = pageInMemory(await listSecurityAdmins(deps.db, params.id), query, (a) => a.id, 'uuid');
        return { data: page.rows.map(toSecurityAdminDto), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/integrations/{id}/security-admins/{securityAdminId}',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'security_admin',
      summary: 'Remove a security administrator',
      request: { params: z.object({ id: Id, securityAdminId: Id }) },
      response: { status: 200, schema: SecurityAdminSchema, description: 'The removed administrator' },
      handler: async ({ params, access, audit, principal }) => {
        audit.target({
          id: params.securityAdminId,
          organizationId: await integrationOrganization(deps.db, access, params.id),
        });
        const admin = await removeIntegrationSecurityAdmin(deps.db, {
          integrationId: params.id,
          securityAdminId: params.securityAdminId,
          actor: actorOf(principal),
        });
        return toSecurityAdminDto(admin);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/transitions',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'Stage history of an integration',
      description: 'Oldest first; the first entry records the creation (from = null).',
      request: { params: IdParams, query: z.object(PAGE_QUERY) },
      response: {
        status: 200,
        schema: pageSchema(TransitionSchema).meta({ id: 'IntegrationTransitionPage' }),
        description: 'A page of stage changes',
      },
      handler: async ({ params, query, access }) => {
        await integrationOrganization(deps.db, access, params.id);
        const page = pageInMemory(await listTransitions(deps.db, params.id), query, (t) => String(t.id), 'int');
        return { data: page.rows.map(toTransitionDto), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/events',
      permission: 'events:read',
      tags: TAGS,
      summary: 'Milestone events of an integration',
      description:
        'Created, stage changes, live, overdue, CSRs generated, certificates installed, retired and expiring, in ' +
        'commit order (as GET /v1/events): a poller that keeps a cursor (nextCursor, or the cursor of the last event read) ' +
        'misses nothing and reads nothing twice. A cursor of the former format (before the feed was commit-ordered) ' +
        'or one naming no event of the feed (issued before a database restore) is a 400 invalid_cursor: read again ' +
        'without a cursor.',
      request: { params: IdParams, query: z.object({ ...PAGE_QUERY, cursor: MILESTONE_CURSOR }) },
      response: { status: 200, schema: MilestoneEventPageSchema, description: 'A page of events' },
      handler: async ({ params, query, access }) => {
        await integrationOrganization(deps.db, access, params.id);
        await deps.feedDatabase?.assertOpen();
        const page = toMilestoneEventPageDto(
          await pageMilestoneEvents(
            query,
            (p) => listMilestones(deps.db, params.id, p),
            (p) => outboxEventAt(deps.db, p),
          ),
        );
        await deps.feedDatabase?.assertOpen();
        return page;
      },
    }),
  ];
}
