import { readFileSync } from 'node:fs';
import type { AppContext } from './context.ts';
import { createMailer, startNotificationLoop, type NotificationLoop } from '../notifications/index.ts';
import { deriveReviewKeys, reviewUrl } from '../review/index.ts';
import { createLogger } from '../shared/logger.ts';
import { getReviewLink } from '../storage/reviews.repo.ts';

/**
 * Milestone emails run in every worker process when SMTP_URL is set (claims are SKIP LOCKED, as for
 * webhooks). Without it the worker says so once and sends nothing; deliveries are still produced
 * only by a running loop, so turning email on later does not mail old milestones (older than two
 * days are skipped).
 */
export function startMilestoneEmails(ctx: AppContext): NotificationLoop | undefined {
  const log = createLogger('notifications');
  if (!ctx.secrets.smtpUrl) {
    log.info('milestone emails off: SMTP_URL is not set');
    return undefined;
  }
  let caPem: string | undefined;
  try {
    caPem = ctx.config.mail.caFile ? readFileSync(ctx.config.mail.caFile, 'utf8') : undefined;
  } catch {
    throw new Error(`SMTP_CA_FILE: cannot read ${ctx.config.mail.caFile} (a PEM file of the SMTP server's CA)`);
  }
  const mailer = createMailer({ url: ctx.secrets.smtpUrl, from: ctx.config.mail.from, caPem });
  const keys = deriveReviewKeys(ctx.secrets.masterKey.key);
  const base = ctx.config.http.publicBaseUrl;
  const smtp = new URL(ctx.secrets.smtpUrl);
  log.info(
    { host: smtp.hostname, port: smtp.port || null, tls: smtp.protocol === 'smtps:' ? 'implicit' : 'starttls' },
    'milestone emails on',
  );
  if (!base) {
    log.warn('PUBLIC_BASE_URL is not set: "report ready" emails go out without the review link');
  }
  return startNotificationLoop({
    db: ctx.db,
    feedDatabase: ctx.feedDatabase,
    mailer,
    logger: log,
    reviewUrl: async (linkId) => {
      const link = await getReviewLink(ctx.db, linkId);
      return link && base ? reviewUrl(base, keys, link) : undefined;
    },
  });
}
