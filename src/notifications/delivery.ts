import { createLogger, type Logger } from '../shared/logger.ts';
import { startPollingLoop, type PollingLoop } from '../shared/polling-loop.ts';
import { listContacts } from '../storage/contacts.repo.ts';
import type { Database } from '../storage/db.ts';
import {
  claimDueNotifications,
  expireStaleNotifications,
  getNotification,
  recordNotificationAttempt,
} from '../storage/notifications.repo.ts';
import { fromDomain, type Mailer } from './mailer.ts';
import { DEFAULT_MAX_AGE_SECONDS, produceNotifications } from './produce.ts';
import { MILESTONES, renderMessage, type MessageParams, type Milestone } from './templates.ts';
import { retryDelayMs } from '../shared/backoff.ts';

/**
 * Milestone email runner, the webhook runner's pattern (src/events/webhook-delivery.ts): one pass
 * produces deliveries from the outbox and passed reports, claims due ones (SKIP LOCKED, so several
 * workers share the work without sending one delivery twice at once), renders and sends each over
 * SMTP, logs the attempt, and retries with exponential backoff (1 min, 2 min … capped at 1 h)
 * until two days after the delivery was created. No transaction is held open during a send.
 */
export interface NotificationRunnerDeps {
  db: Database;
  mailer: Mailer;
  logger?: Logger;
  /** The signed review URL of a review link (src/review), made at send time; undefined when it cannot be. */
  reviewUrl?: (linkId: string) => Promise<string | undefined>;
  retry?: { baseMs: number; maxMs: number };
  maxAgeSeconds?: number;
  batchSize?: number;
  now?: () => Date;
  /**
   * Aborted when the process stops: nothing more is claimed, and a send in flight is cut short (an SMTP server that
   * does not answer may hold it for its whole 30 s timeouts, longer than a stop allows). Its attempt is not logged
   * (the server did not refuse it) and the message stays pending under its claim's hold, so another runner sends it
   * when the hold ends, with the same Message-ID.
   */
  stopping?: AbortSignal;
  /**
   * Whether the change feed's database is the recorded one (src/events/feed-database-guard.ts): while not, no
   * deliveries are produced from milestones and reports; those already produced still go out.
   */
  feedDatabase?: { isOpen(): Promise<boolean> };
}

export interface NotificationPassResult {
  produced: { events: number; reports: number };
  /** Pending deliveries whose retry window ended before they could be sent (now failed). */
  expired: number;
  attempted: number;
  sent: number;
  retrying: number;
  failed: number;
}

const DEFAULT_RETRY = { baseMs: 60_000, maxMs: 3_600_000 };

/** A contact removed after the message was queued: not sent, not retried. */
class ContactRemoved extends Error {}
const CONTACT_REMOVED = 'the contact was removed before the message was sent';

function isMilestone(m: string): m is Milestone {
  return (MILESTONES as readonly string[]).includes(m);
}

/** What the SMTP server said, without addresses or anything the server echoed back of the message. */
function smtpError(err: unknown): string {
  const e = err as { code?: string; responseCode?: number; command?: string };
  const parts = [
    e.code,
    e.responseCode ? `SMTP ${e.responseCode}` : undefined,
    e.command ? `during ${e.command}` : undefined,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(' ') : 'send failed';
}

async function sendOne(
  deps: NotificationRunnerDeps,
  id: string,
  log: Logger,
): Promise<'sent' | 'pending' | 'failed' | 'stopped'> {
  const d = await getNotification(deps.db, id);
  if (!d) {
    return 'failed';
  }
  const startedAt = new Date();
  const started = performance.now();
  let sent = false;
  let error: string | null = null;
  let messageId: string | null = null;
  // A 5xx answer (e.g. 550 mailbox unavailable) is the server's final word: retrying cannot help.
  let refused = false;
  if (!isMilestone(d.milestone)) {
    error = `unknown milestone ${d.milestone}`;
  } else {
    try {
      // Who to contact is whoever is our account manager now (they may have been named after the milestone).
      const contacts = await listContacts(deps.db, d.integration_id);
      if (d.contact_id !== null && !contacts.some((c) => c.id === d.contact_id)) {
        throw new ContactRemoved();
      }
      const manager = contacts.find((c) => c.role === 'account_manager');
      const params = {
        ...(d.params as unknown as MessageParams),
        accountManager: manager ? { name: manager.name, email: manager.email } : null,
      };
      const reviewUrl = params.reviewLinkId && deps.reviewUrl ? await deps.reviewUrl(params.reviewLinkId) : undefined;
      const message = renderMessage(d.milestone, params, { reviewUrl, fallbackContact: deps.mailer.from });
      // The delivery id makes the Message-ID: a retry of the same delivery is recognisably the same message.
      const info = await deps.mailer.send(
        { to: d.recipient_email, ...message, messageId: `<${d.id}@${fromDomain(deps.mailer.from)}>` },
        deps.stopping,
      );
      sent = true;
      messageId = info.messageId;
    } catch (err) {
      if (deps.stopping?.aborted) {
        log.info({ deliveryId: d.id, attempt: d.attempts }, 'milestone email send stopped');
        return 'stopped';
      }
      error = err instanceof ContactRemoved ? CONTACT_REMOVED : smtpError(err);
      const e = err as { responseCode?: number; command?: string };
      // Final only when the server refuses the recipient (an unknown mailbox); a refused login or relay
      // is our own setup, retried until it is fixed.
      refused = (e.responseCode ?? 0) >= 500 && (e.responseCode ?? 0) < 600 && e.command === 'RCPT TO';
      // The server's own text is not logged: a refusal usually quotes the recipient's address.
      log.info({ deliveryId: d.id, attempt: d.attempts, error }, 'milestone email not sent');
    }
  }
  const permanent = !sent && (refused || error?.startsWith('unknown milestone') === true || error === CONTACT_REMOVED);
  return recordNotificationAttempt(deps.db, {
    deliveryId: d.id,
    attempt: d.attempts,
    startedAt,
    durationMs: Math.round(performance.now() - started),
    sent,
    error,
    messageId,
    retryInMs: sent ? 0 : permanent ? 365 * 86_400_000 : retryDelayMs(d.attempts, deps.retry ?? DEFAULT_RETRY),
  });
}

/** One pass: produce, claim, send, record. A server's refusal is a retry, never a throw. */
export async function runNotificationPass(deps: NotificationRunnerDeps): Promise<NotificationPassResult> {
  const log = deps.logger ?? createLogger('notifications');
  const produced =
    deps.feedDatabase === undefined || (await deps.feedDatabase.isOpen())
      ? await produceNotifications(deps.db, {
          now: deps.now?.() ?? new Date(),
          maxAgeSeconds: deps.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS,
        })
      : { events: 0, reports: 0 };
  const expired = await expireStaleNotifications(deps.db);
  const result: NotificationPassResult = { produced, expired, attempted: 0, sent: 0, retrying: 0, failed: 0 };
  // One at a time (a relay throttles bursts, and milestone mail is a handful a day), each claimed just
  // before it is sent: the 120 s hold covers one send, never a queue of them, so another worker
  // cannot take over a message this one is still about to send.
  for (let i = 0; i < (deps.batchSize ?? 50) && !deps.stopping?.aborted; i++) {
    const [id] = await claimDueNotifications(deps.db, 1, 120);
    if (id === undefined) {
      break;
    }
    const status = await sendOne(deps, id, log);
    if (status === 'stopped') {
      break;
    }
    result.attempted++;
    result[status === 'pending' ? 'retrying' : status]++;
  }
  if (result.attempted > 0 || expired > 0) {
    log.info(
      {
        ...result.produced,
        expired,
        attempted: result.attempted,
        sent: result.sent,
        retrying: result.retrying,
        failed: result.failed,
      },
      'milestone emails pass',
    );
  }
  return result;
}

export type NotificationLoop = PollingLoop;

/**
 * Passes every `intervalMs` (default 5 s) until stopped; errors are logged and the loop goes on. Stopping cuts a send
 * in flight short (see `stopping`) rather than wait for the SMTP server, then closes the mailer.
 */
export function startNotificationLoop(
  deps: NotificationRunnerDeps,
  options: { intervalMs?: number } = {},
): NotificationLoop {
  const stopping = new AbortController();
  const loop = startPollingLoop(
    async () => (await runNotificationPass({ ...deps, stopping: stopping.signal })).attempted > 0,
    {
      intervalMs: options.intervalMs ?? 5_000,
      log: deps.logger ?? createLogger('notifications'),
      failure: 'milestone email pass failed',
    },
  );
  return {
    async stop() {
      stopping.abort();
      await loop.stop();
      deps.mailer.close();
    },
  };
}
