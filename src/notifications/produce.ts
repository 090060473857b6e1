import { uuidv7FromName } from '../shared/ids.ts';
import { contactsOfIntegrations, type ContactRow } from '../storage/contacts.repo.ts';
import type { Database, Executor } from '../storage/db.ts';
import {
  insertNotifications,
  integrationNames,
  lockNotificationPosition,
  passedReportsToAnnounce,
  setNotificationPosition,
  type NewNotification,
} from '../storage/notifications.repo.ts';
import { committedOutboxEventsAfter, type OutboxEventRow } from '../storage/outbox.repo.ts';
import { insertReviewLinks } from '../storage/reviews.repo.ts';
import type { MessageParams, Milestone, Person } from './templates.ts';

/**
 * Turns milestone events into deliveries, one per recipient. Sources: the onboarding outbox (read
 * in commit-safe order after this producer's own position, which advances in the same transaction
 * as the deliveries it creates, exactly like the webhook producer), and passed validation reports
 * (announced once: the deliveries carry the report id). The unique index on (source, source id,
 * address) makes one delivery per milestone and person, whatever runs twice; sending it is at least once (a lost
 * SMTP answer, or a crash between the send and its record, sends it again with the same Message-ID).
 */
export const CONTACT_ROLES = ['finance_owner', 'security_admin', 'controller', 'account_manager'] as const;
export type ContactRole = (typeof CONTACT_ROLES)[number];

const CUSTOMER: readonly ContactRole[] = ['finance_owner', 'security_admin', 'controller'];

/** Who gets each milestone. Our account manager gets what our own team must act on. */
export const RECIPIENTS: Readonly<Record<Milestone, readonly ContactRole[]>> = {
  request_received: CUSTOMER,
  kickoff_scheduled: CUSTOMER,
  csr_submitted: ['finance_owner', 'security_admin'],
  security_admins_needed: ['finance_owner', 'security_admin'],
  waiting_for_jpm: CUSTOMER,
  approved: CUSTOMER,
  data_flowing: CUSTOMER,
  validation_report_ready: ['finance_owner', 'controller'],
  live: CUSTOMER,
  overdue: ['finance_owner', 'account_manager'],
  certificate_expiring: ['account_manager'],
  review_problem_reported: ['account_manager'],
};

/** A milestone older than this is not news any more: it is not mailed (e.g. when email is first turned on). */
export const DEFAULT_MAX_AGE_SECONDS = 2 * 86_400;
/** Review links stay valid this long. */
export const REVIEW_LINK_DAYS = 14;

const STAGE_MILESTONES: Readonly<Record<string, Milestone>> = {
  kickoff: 'kickoff_scheduled',
  security_admins: 'security_admins_needed',
  awaiting_approval: 'waiting_for_jpm',
  approved: 'approved',
  validating: 'data_flowing',
};

type Extra = Partial<Pick<MessageParams, 'expectedBy' | 'stage' | 'daysOverdue' | 'overdueKind' | 'certificate'>>;

/** The milestone an outbox event announces, if it is one people are told about. */
export function milestoneOf(
  e: Pick<OutboxEventRow, 'type' | 'payload'>,
): { milestone: Milestone; extra: Extra } | null {
  const p = (e.payload ?? {}) as Record<string, unknown>;
  const str = (k: string) => (typeof p[k] === 'string' ? p[k] : null);
  switch (e.type) {
    case 'integration.created':
      return { milestone: 'request_received', extra: {} };
    case 'credentials.csr_generated': {
      // The step it was made in says whether it is the first CSR, a replacement or a renewal.
      const stage = str('stage');
      return { milestone: 'csr_submitted', extra: stage ? { stage } : {} };
    }
    case 'integration.live':
      return { milestone: 'live', extra: {} };
    case 'integration.overdue':
      return {
        milestone: 'overdue',
        extra: {
          stage: str('stage') ?? '',
          expectedBy: str('dueAt'),
          daysOverdue: typeof p.daysOverdue === 'number' ? p.daysOverdue : 0,
          overdueKind: p.kind === 'process' ? 'process' : 'stage',
        },
      };
    case 'certificate.expiring':
      return {
        milestone: 'certificate_expiring',
        extra: {
          certificate: {
            commonName: str('commonName') ?? '',
            environment: str('environment') ?? '',
            notAfter: str('notAfter') ?? '',
            daysLeft: typeof p.daysLeft === 'number' ? p.daysLeft : 0,
          },
        },
      };
    case 'integration.stage_changed': {
      // Resuming from a pause re-enters a stage: that is not news for the customer.
      const milestone = p.kind === 'advance' ? STAGE_MILESTONES[str('to') ?? ''] : undefined;
      return milestone ? { milestone, extra: { expectedBy: str('stageDueAt') } } : null;
    }
    default:
      return null;
  }
}

function person(c: ContactRow): Person {
  return { name: c.name, email: c.email };
}

interface Recipient {
  contact: ContactRow;
  params: MessageParams;
}

/** The people of one integration who get `milestone`, each with the params of their message. */
export function recipientsOf(
  milestone: Milestone,
  contacts: readonly ContactRow[],
  base: Omit<MessageParams, 'recipientName' | 'accountManager'>,
): Recipient[] {
  const manager = contacts.find((c) => c.role === 'account_manager');
  const roles = RECIPIENTS[milestone];
  const seen = new Set<string>();
  const out: Recipient[] = [];
  // One message per address. A person named in several roles gets it as the controller (whose
  // message carries the review link); otherwise as first named.
  const ordered = [...contacts].sort((a, b) => Number(b.role === 'controller') - Number(a.role === 'controller'));
  for (const c of ordered) {
    const email = c.email.toLowerCase();
    if (!roles.includes(c.role as ContactRole) || seen.has(email)) {
      continue;
    }
    seen.add(email);
    out.push({
      contact: c,
      params: { ...base, recipientName: c.name, accountManager: manager ? person(manager) : null },
    });
  }
  return out;
}

function byIntegration(contacts: readonly ContactRow[]): Map<string, ContactRow[]> {
  const out = new Map<string, ContactRow[]>();
  for (const c of contacts) {
    out.set(c.integration_id, [...(out.get(c.integration_id) ?? []), c]);
  }
  return out;
}

async function namesOf(ex: Executor, ids: readonly string[]) {
  return new Map((await integrationNames(ex, ids)).map((n) => [n.id, n]));
}

/**
 * A milestone email's delivery id, which makes its Message-ID: the same every time the milestone is produced for the
 * address. After a database restore the producer sends again the milestones of the backup that it had sent only after
 * the backup was taken (that history is lost): the repeat carries the Message-ID the first message had, so mail
 * systems that fold duplicates by Message-ID fold it, and a reader can tell it is the same message. As for the
 * milestone's webhook event id (src/events/webhooks.ts), the outbox sequence number alone would not do (a restore of
 * an older dump hands its numbers out again); with the organization and the time it was stored it names one milestone.
 */
function milestoneDeliveryId(e: Pick<OutboxEventRow, 'id' | 'organization_id' | 'created_at'>, email: string): string {
  return uuidv7FromName(
    e.created_at.getTime(),
    `email:${e.organization_id}:${e.id}:${e.created_at.toISOString()}:${email.toLowerCase()}`,
  );
}

/** Deliveries for outbox events of one integration (used by the producer and when a contact is added). */
export async function notificationsForEvents(
  ex: Executor,
  events: readonly Pick<
    OutboxEventRow,
    'id' | 'organization_id' | 'integration_id' | 'type' | 'payload' | 'created_at'
  >[],
  now: Date,
  maxAgeSeconds: number,
): Promise<NewNotification[]> {
  const relevant = events.flatMap((e) => {
    const m = e.integration_id ? milestoneOf(e) : null;
    const fresh = now.getTime() - e.created_at.getTime() <= maxAgeSeconds * 1000;
    return m && fresh && e.integration_id ? [{ e, integrationId: e.integration_id, ...m }] : [];
  });
  const ids = [...new Set(relevant.map((r) => r.integrationId))];
  const contacts = byIntegration(await contactsOfIntegrations(ex, ids));
  const names = await namesOf(ex, ids);
  return relevant.flatMap((r) => {
    const n = names.get(r.integrationId);
    const base = { integrationName: n?.name ?? '', organizationName: n?.organization_name ?? '', ...r.extra };
    return recipientsOf(r.milestone, contacts.get(r.integrationId) ?? [], base).map((x) => ({
      id: milestoneDeliveryId(r.e, x.contact.email),
      organizationId: r.e.organization_id,
      integrationId: r.integrationId,
      source: 'outbox' as const,
      sourceId: r.e.id,
      milestone: r.milestone,
      contactId: x.contact.id,
      recipientEmail: x.contact.email,
      recipientRole: x.contact.role,
      params: { ...x.params },
    }));
  });
}

/** One batch of outbox events → deliveries. Returns events read (0 when another producer holds the position). */
async function produceFromOutbox(db: Database, batchSize: number, maxAgeSeconds: number, now: Date): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const position = await lockNotificationPosition(trx);
    if (!position) {
      return 0;
    }
    const rows = await committedOutboxEventsAfter(trx, position, batchSize);
    const last = rows.at(-1);
    if (!last) {
      return 0;
    }
    await insertNotifications(trx, await notificationsForEvents(trx, rows, now, maxAgeSeconds), maxAgeSeconds);
    await setNotificationPosition(trx, { xid: last.xid, id: last.id });
    return rows.length;
  });
}

/** Passed validation reports → "report ready" for the finance owner, and a review link for each controller. */
async function produceFromReports(db: Database, now: Date, maxAgeSeconds: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const reports = await passedReportsToAnnounce(trx, new Date(now.getTime() - maxAgeSeconds * 1000), 100);
    if (reports.length === 0) {
      return 0;
    }
    const ids = [...new Set(reports.map((r) => r.integration_id))];
    const contacts = byIntegration(await contactsOfIntegrations(trx, ids));
    const names = await namesOf(trx, ids);
    const out: NewNotification[] = [];
    for (const r of reports) {
      // From the report's completion, not from now: the same link (id, expiry, so the same signed URL) every time.
      const completedAt = r.completed_at ?? now;
      const expiresAt = new Date(completedAt.getTime() + REVIEW_LINK_DAYS * 86_400_000);
      const n = names.get(r.integration_id);
      const base = {
        integrationName: n?.name ?? r.integration_name,
        organizationName: n?.organization_name ?? '',
        report: { id: r.id, periodFrom: r.period_from, periodTo: r.period_to },
      };
      const recipients = recipientsOf('validation_report_ready', contacts.get(r.integration_id) ?? [], base);
      const controllers = recipients.filter((x) => x.contact.role === 'controller');
      const links = await insertReviewLinks(
        trx,
        controllers.map((x) => ({
          id: uuidv7FromName(completedAt.getTime(), `review-link:${r.id}:${x.contact.id}`),
          organizationId: r.organization_id,
          integrationId: r.integration_id,
          reportId: r.id,
          contactId: x.contact.id,
          expiresAt,
        })),
      );
      for (const x of recipients) {
        const link = links.find((l) => l.report_id === r.id && l.contact_id === x.contact.id);
        out.push({
          id: uuidv7FromName(completedAt.getTime(), `email:validation_report:${r.id}:${x.contact.email.toLowerCase()}`),
          organizationId: r.organization_id,
          integrationId: r.integration_id,
          source: 'validation_report',
          sourceId: r.id,
          milestone: 'validation_report_ready',
          contactId: x.contact.id,
          recipientEmail: x.contact.email,
          recipientRole: x.contact.role,
          params: { ...x.params, reviewLinkId: link?.id ?? null },
        });
      }
    }
    return insertNotifications(trx, out, maxAgeSeconds);
  });
}

/** Drains both sources (bounded per call). Safe from many workers: one outbox producer at a time, unique deliveries. */
export async function produceNotifications(
  db: Database,
  options: { now?: Date; batchSize?: number; maxAgeSeconds?: number; maxBatches?: number } = {},
): Promise<{ events: number; reports: number }> {
  const now = options.now ?? new Date();
  const batchSize = options.batchSize ?? 1_000;
  const maxAge = options.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  let events = 0;
  for (let i = 0; i < (options.maxBatches ?? 10); i++) {
    const n = await produceFromOutbox(db, batchSize, maxAge, now);
    events += n;
    if (n < batchSize) {
      break;
    }
  }
  const reports = await produceFromReports(db, now, maxAge);
  return { events, reports };
}
