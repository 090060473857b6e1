import type { Route } from '../http/routes.ts';
import type { OnboardingOptions } from '../onboarding/index.ts';
import type { ProducerDeps, Queues } from '../scheduler/index.ts';
import type { Database } from '../storage/db.ts';
import { accountRoutes, type AccountRouteDeps } from './accounts.routes.ts';
import { apiKeyRoutes } from './api-keys.routes.ts';
import { auditRoutes } from './audit.routes.ts';
import { contactRoutes } from './contacts.routes.ts';
import { customerReviewRoutes } from './customer-reviews.routes.ts';
import { eventRoutes } from './events.routes.ts';
import { integrationCredentialRoutes, type CredentialRouteDeps } from './integration-credentials.routes.ts';
import { integrationOnboardingRoutes } from './integration-onboarding.routes.ts';
import { integrationRoutes } from './integrations.routes.ts';
import { organizationRoutes } from './organizations.routes.ts';
import { syncRoutes } from './syncs.routes.ts';
import { validationRoutes } from './validations.routes.ts';

export interface AdminApiDeps {
  db: Database;
  queues: Queues;
  /** The app's clock (certificate checks, validation reviews); the same one as `onboarding.now` and `producer.now`. */
  now: () => Date;
  /** The onboarding service's options (clock, expectations, the `live` guard's validation provider). */
  onboarding: OnboardingOptions;
  secrets: CredentialRouteDeps['secrets'];
  /** The J.P. Morgan client the connection test runs with. */
  connectionTester: CredentialRouteDeps['connectionTester'];
  /** Account discovery with the integration's bank client (src/sync/discover-accounts.ts). */
  discoverAccounts: AccountRouteDeps['discoverAccounts'];
  /** What triggering, reading and cancelling sync runs needs (db, queues, clock, look-back). */
  producer: ProducerDeps;
  /**
   * The setting a re-sent review link is missing to reach the controller (it travels only by email, with a
   * URL built on the public base URL): `SMTP_URL`, `PUBLIC_BASE_URL`, or undefined when both are set.
   */
  reviewLinkEmailMissing: 'SMTP_URL' | 'PUBLIC_BASE_URL' | undefined;
  /** Tells this process's API key cache that a key change was committed here (src/http/auth.ts `forget`). */
  apiKeyChanged?: () => void;
  /** The milestone feeds answer 503 while the change feed's database check fails (events/feed-database-guard.ts). */
  feedDatabase?: { assertOpen(): Promise<void> };
}

/**
 * Every admin API route. Add a resource's routes here (`...integrationRoutes(deps)`); widen
 * AdminApiDeps when a resource needs more.
 */
export function adminApiRoutes(deps: AdminApiDeps): Route[] {
  return [
    ...organizationRoutes(deps),
    ...apiKeyRoutes(deps),
    ...auditRoutes(deps),
    ...validationRoutes(deps),
    ...integrationRoutes(deps),
    ...integrationOnboardingRoutes(deps),
    ...integrationCredentialRoutes(deps),
    ...accountRoutes(deps),
    ...syncRoutes(deps),
    ...eventRoutes(deps),
    ...contactRoutes(deps),
    ...customerReviewRoutes(deps),
  ];
}
