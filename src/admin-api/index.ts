import type { Route } from '../http/routes.ts';
import type { OnboardingOptions } from '../onboarding/index.ts';
import type { Queues } from '../scheduler/index.ts';
import type { Database } from '../storage/db.ts';
import { apiKeyRoutes } from './api-keys.routes.ts';
import { auditRoutes } from './audit.routes.ts';
import { eventRoutes } from './events.routes.ts';
import { integrationOnboardingRoutes } from './integration-onboarding.routes.ts';
import { integrationRoutes } from './integrations.routes.ts';
import { organizationRoutes } from './organizations.routes.ts';
import { validationRoutes } from './validations.routes.ts';

export interface AdminApiDeps {
  db: Database;
  queues: Queues;
  /** The onboarding service's options (clock, expectations, the `live` guard's validation provider). */
  onboarding: OnboardingOptions;
}

/**
 * Every admin API route. Add a resource's routes here (`...integrationRoutes(deps)`); widen
 * AdminApiDeps when a resource needs more (queues, the JPM client factory…).
 */
export function adminApiRoutes(deps: AdminApiDeps): Route[] {
  return [
    ...organizationRoutes(deps), ...apiKeyRoutes(deps), ...auditRoutes(deps), ...validationRoutes(deps),
    ...integrationRoutes(deps), ...integrationOnboardingRoutes(deps), ...eventRoutes(deps),
  ];
}
