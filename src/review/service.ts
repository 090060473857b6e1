import { AppError, ConflictError, NotFoundError, ValidationError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import { createLogger } from '../shared/logger.ts';
import { unstorableCharacter } from '../shared/pg-text.ts';
import { listContacts } from '../storage/contacts.repo.ts';
import { inTransaction, type Database, type Executor } from '../storage/db.ts';
import { insertNotifications } from '../storage/notifications.repo.ts';
import { integrationNames } from '../storage/notifications.repo.ts';
import {
  getReviewLink,
  insertCustomerReview,
  latestPassedReport,
  lockLinkLatestAnswer,
  renewReviewLink,
  reviewTransactions,
  transactionsOfIntegration,
  type ReviewLinkRow,
} from '../storage/reviews.repo.ts';
import { getValidationReport, reportDocument, type ValidationReportDocument } from '../validation/index.ts';
import { verifyReviewToken, type ReviewKeys } from './links.ts';

/**
 * The customer's review: open a signed link, show what the report saw, record the answer. A link
 * is refused unless its signature holds, it has not expired, its row exists with the same expiry
 * and its contact is still current. Everything shown is read through the link's own organization
 * and integration, never from anything the browser sends.
 */
export class ReviewLinkRefused extends AppError {
  readonly kind: 'invalid' | 'expired';
  constructor(kind: 'invalid' | 'expired') {
    super(kind === 'expired' ? 'this review link has expired' : 'this review link is not valid', {
      code: kind === 'expired' ? 'review_link_expired' : 'review_link_invalid',
      httpStatus: kind === 'expired' ? 410 : 403,
    });
    this.kind = kind;
  }
}

const log = () => createLogger('review');

export async function openLink(db: Executor, keys: ReviewKeys, token: string, now: Date): Promise<ReviewLinkRow> {
  const check = verifyReviewToken(keys, token, now);
  if (!check.ok) {
    log().info({ reason: check.reason }, 'review link refused');
    throw new ReviewLinkRefused(check.reason === 'expired' ? 'expired' : 'invalid');
  }
  const link = await getReviewLink(db, check.linkId);
  if (
    !link ||
    Math.floor(link.expires_at.getTime() / 1000) !== Math.floor(check.expiresAt.getTime() / 1000) ||
    link.contact_removed_at !== null
  ) {
    log().info(
      { linkId: check.linkId, reason: link ? 'contact removed or expiry differs' : 'unknown link' },
      'review link refused',
    );
    throw new ReviewLinkRefused('invalid');
  }
  return link;
}

export interface ReviewTransaction {
  id: string;
  bookingDate: string;
  status: string;
  direction: string;
  amountMinor: string;
  currency: string;
  decimalLocation: number;
  description: string;
  reference: string;
  accountLast4: string;
}

export interface ReviewPageData {
  link: ReviewLinkRow;
  report: ValidationReportDocument;
  transactions: ReviewTransaction[];
  /** More matched than are shown. */
  truncated: boolean;
  query: string;
}

export const MAX_LISTED = 200;

export async function reviewPageData(db: Executor, link: ReviewLinkRow, query: string): Promise<ReviewPageData> {
  const stored = await getValidationReport(db, link.report_id);
  const report = stored && stored.organization_id === link.organization_id ? reportDocument(stored) : null;
  if (!stored || !report) {
    throw new ReviewLinkRefused('invalid');
  }
  const rows = await reviewTransactions(db, {
    organizationId: link.organization_id,
    integrationId: link.integration_id,
    // What the report saw: its accounts (one removed from the integration before the report is not among them).
    accountIds: report.accounts.map((a) => a.accountId),
    from: stored.period_from,
    to: stored.period_to,
    q: query,
    limit: MAX_LISTED + 1,
  });
  return {
    link,
    report,
    query,
    truncated: rows.length > MAX_LISTED,
    transactions: rows.slice(0, MAX_LISTED).map((r) => ({
      id: r.id,
      bookingDate: r.booking_date,
      status: r.status,
      direction: r.direction,
      amountMinor: String(r.amount_minor),
      currency: r.currency,
      decimalLocation: r.decimal_location,
      description: r.description,
      reference: r.bank_reference || r.customer_reference,
      accountLast4: r.account_last4,
    })),
  };
}

export interface ReviewAnswer {
  verdict: 'accurate' | 'problem';
  note: string;
  transactionIds: readonly string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MAX_NOTE = 4000;
export const MAX_MARKED = 100;

/**
 * Whether Postgres can store or search for the text as typed: `text` cannot hold U+0000, and a lone UTF-16 surrogate
 * (half of a character) would reach it as U+FFFD. The review page's forms are not the API's (`parsePart` refuses these
 * with a problem document there): the page says so itself.
 */
export function storableText(text: string): boolean {
  return unstorableCharacter(text) === undefined;
}

/** Checks a form's answer; the messages are shown to the customer above the form. */
export function parseAnswer(verdict: 'accurate' | 'problem', body: Record<string, unknown>): ReviewAnswer {
  const note = typeof body.note === 'string' ? body.note.trim() : '';
  const raw = body.transactionIds;
  const ids = (Array.isArray(raw) ? raw : raw === undefined || raw === '' ? [] : [raw])
    .map((x) => String(x).trim())
    .filter(Boolean);
  if (note.length > MAX_NOTE) {
    throw new ValidationError(`Please keep the note under ${MAX_NOTE} characters.`, [
      { path: 'note', message: 'too long' },
    ]);
  }
  if (!storableText(note)) {
    throw new ValidationError(
      'The note holds a character that cannot be stored (NUL or half of a character); remove it and send it again.',
      [{ path: 'note', message: 'unstorable character' }],
    );
  }
  if (verdict === 'problem' && note === '') {
    throw new ValidationError('Please tell us what is wrong in the note, so we can look into it.', [
      { path: 'note', message: 'required' },
    ]);
  }
  if (ids.length > MAX_MARKED || ids.some((id) => !UUID.test(id))) {
    throw new ValidationError(`Mark at most ${MAX_MARKED} transactions from the list.`, [
      { path: 'transactionIds', message: 'invalid' },
    ]);
  }
  return { verdict, note, transactionIds: [...new Set(ids.map((i) => i.toLowerCase()))] };
}

function sameAnswer(
  given: { verdict: string; note: string; transaction_ids: readonly string[] },
  answer: ReviewAnswer,
): boolean {
  const ids = (list: readonly string[]) => [...list].map((i) => i.toLowerCase()).sort();
  return (
    given.verdict === answer.verdict &&
    given.note === answer.note &&
    ids(given.transaction_ids).join() === ids(answer.transactionIds).join()
  );
}

/**
 * Records the answer with who gave it, when, and the report they saw. "Something is wrong" opens a
 * follow-up on the integration and tells our account manager(s), in the same transaction. The same
 * answer posted again through the link (a double click, a retried or replayed post) while it is
 * still the link's latest is that answer, not a second one: no second follow-up, no second mail.
 */
export async function recordAnswer(db: Database, link: ReviewLinkRow, answer: ReviewAnswer) {
  return db.transaction().execute(async (trx) => {
    const latest = await lockLinkLatestAnswer(trx, link.id);
    if (latest && sameAnswer(latest, answer)) {
      log().info(
        { integrationId: link.integration_id, reviewId: latest.id, verdict: answer.verdict },
        'customer review repeated: already recorded',
      );
      return latest;
    }
    const own = await transactionsOfIntegration(trx, link.integration_id, answer.transactionIds);
    if (own.length !== answer.transactionIds.length) {
      throw new ValidationError('Some marked transactions are not in this list; mark them again from the list below.', [
        { path: 'transactionIds', message: 'unknown transaction' },
      ]);
    }
    const review = await insertCustomerReview(trx, {
      id: uuidv7(),
      organizationId: link.organization_id,
      integrationId: link.integration_id,
      linkId: link.id,
      reportId: link.report_id,
      contactId: link.contact_id,
      reviewerName: link.contact_name,
      reviewerEmail: link.contact_email,
      verdict: answer.verdict,
      note: answer.note,
      transactionIds: answer.transactionIds,
    });
    if (answer.verdict === 'problem') {
      const managers = (await listContacts(trx, link.integration_id)).filter((c) => c.role === 'account_manager');
      await insertNotifications(
        trx,
        managers.map((m) => ({
          id: uuidv7(),
          organizationId: link.organization_id,
          integrationId: link.integration_id,
          source: 'customer_review' as const,
          sourceId: review.id,
          milestone: 'review_problem_reported',
          contactId: m.id,
          recipientEmail: m.email,
          recipientRole: m.role,
          params: {
            integrationName: link.integration_name,
            organizationName: link.organization_name,
            recipientName: m.name,
            accountManager: null,
            review: {
              reviewerName: link.contact_name,
              reviewerEmail: link.contact_email,
              note: answer.note,
              transactionCount: answer.transactionIds.length,
              reportId: link.report_id,
            },
          },
        })),
        7 * 86_400,
      );
    }
    log().info(
      { integrationId: link.integration_id, reviewId: review.id, reportId: link.report_id, verdict: answer.verdict },
      'customer review recorded',
    );
    return review;
  });
}

/** How long a review link stays valid (the link in the "report ready" email, or a re-sent one). */
export const LINK_DAYS = 14;

/**
 * Sends a controller a fresh review link for the integration's newest passed report (when theirs
 * expired or was lost): the link's expiry moves, so the old token stops working, and the email is
 * queued in the same transaction. The token itself is never returned: it goes to the person only.
 */
export async function resendReviewLink(db: Executor, input: { integrationId: string; contactId: string; now?: Date }) {
  const now = input.now ?? new Date();
  return inTransaction(db, async (trx) => {
    const contact = (await listContacts(trx, input.integrationId)).find((c) => c.id === input.contactId);
    if (!contact) {
      throw new NotFoundError('contact', input.contactId);
    }
    if (contact.role !== 'controller') {
      throw new ConflictError(
        `review links go to the customer's controller; this contact is ${contact.role}`,
        'not_a_controller',
      );
    }
    const report = await latestPassedReport(trx, input.integrationId);
    if (!report) {
      throw new ConflictError('the integration has no passed validation report to review yet', 'no_passed_report');
    }
    const expiresAt = new Date(now.getTime() + LINK_DAYS * 86_400_000);
    const link = await renewReviewLink(trx, {
      id: uuidv7(),
      organizationId: report.organization_id,
      integrationId: input.integrationId,
      reportId: report.id,
      contactId: contact.id,
      expiresAt,
    });
    const names = (await integrationNames(trx, [input.integrationId]))[0];
    await insertNotifications(
      trx,
      [
        {
          id: uuidv7(),
          organizationId: report.organization_id,
          integrationId: input.integrationId,
          source: 'validation_report',
          // One message per renewal: the link and its new expiry name it.
          sourceId: `${report.id}/${link.id}/${Math.floor(expiresAt.getTime() / 1000)}`,
          milestone: 'validation_report_ready',
          contactId: contact.id,
          recipientEmail: contact.email,
          recipientRole: contact.role,
          params: {
            integrationName: names?.name ?? '',
            organizationName: names?.organization_name ?? '',
            recipientName: contact.name,
            accountManager: null,
            report: { id: report.id, periodFrom: report.period_from, periodTo: report.period_to },
            reviewLinkId: link.id,
          },
        },
      ],
      2 * 86_400,
    );
    log().info({ integrationId: input.integrationId, linkId: link.id, reportId: report.id }, 'review link re-sent');
    return { linkId: link.id, reportId: report.id, contactId: contact.id, expiresAt: link.expires_at };
  });
}
