import type { AdminApiDeps } from '../admin-api/index.ts';
import type { ConsoleDeps } from '../console/index.ts';
import type { AppContext } from './context.ts';
import { JpmClient } from '../jpm/client.ts';
import { createLogger } from '../shared/logger.ts';
import { discoverAccounts } from '../sync/discover-accounts.ts';
import { createValidationReportProvider } from '../validation/index.ts';

/**
 * What the admin API's routes need, from the context (composition only). The connection test gets
 * its own short-lived client (closed after the test); discovery and syncs use the context's
 * per-integration client, so a freshly installed certificate is picked up on the next call.
 * `now` is the app's one clock (the machine's unless a test passes its own): onboarding (due dates,
 * overdue), certificates, validation reviews and planned runs all read it.
 */
export function adminApiDeps(ctx: AppContext, now: () => Date = () => new Date()): AdminApiDeps {
  const timeouts = { connectMs: ctx.config.jpm.connectTimeoutMs, requestMs: ctx.config.jpm.requestTimeoutMs };
  return {
    db: ctx.db,
    queues: ctx.queues,
    secrets: ctx.secrets,
    now,
    apiKeyChanged: () => ctx.apiKeys.forget?.(),
    feedDatabase: ctx.feedDatabase,
    // As the worker's milestone emails decide (notifications-wiring.ts): no SMTP_URL, no email; no
    // PUBLIC_BASE_URL, an email without the link. The API and worker roles must share both settings.
    reviewLinkEmailMissing: !ctx.secrets.smtpUrl
      ? 'SMTP_URL'
      : !ctx.config.http.publicBaseUrl
        ? 'PUBLIC_BASE_URL'
        : undefined,
    onboarding: {
      now,
      validationReportPassed: createValidationReportProvider(ctx.db),
      connectionPolicy: { outbound: ctx.outbound, jpmBaseUrlHosts: ctx.config.outbound.jpmBaseUrlHosts },
    },
    connectionTester: (o) =>
      new JpmClient({ baseUrl: o.baseUrl, credentials: o.credentials, timeouts, outbound: ctx.outbound }),
    discoverAccounts: async (integration, timeZone, beforeCommit) =>
      discoverAccounts(ctx.db, await ctx.clientFor(integration.id), integration, timeZone, beforeCommit),
    producer: {
      db: ctx.db,
      queues: ctx.queues,
      now,
      logger: createLogger('scheduler'),
      lookbackDays: ctx.config.sync.lookbackDays,
    },
  };
}

/** The operator console (/console): the API's own routes, key store and audit sink, sessions in Redis. */
export function consoleDeps(
  ctx: AppContext,
  api: Pick<ConsoleDeps, 'routes' | 'apiKeys' | 'audit' | 'authThrottle' | 'now'>,
): ConsoleDeps {
  return {
    ...api,
    db: ctx.db,
    queues: ctx.queues,
    redis: ctx.queues.redis,
    keyPrefix: ctx.queues.prefix,
    onboarding: adminApiDeps(ctx, api.now).onboarding,
    // Secure cookies need https; development and the tests serve plain http on localhost.
    secureCookies: ctx.config.env === 'production',
  };
}
