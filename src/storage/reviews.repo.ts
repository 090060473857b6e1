import { sql } from 'kysely';
import type { Executor } from './db.ts';

/** Customer review links, the customers' answers, and whether `live` waits for a sign-off. */
export const LINK_COLUMNS = [
  'id',
  'organization_id',
  'integration_id',
  'report_id',
  'contact_id',
  'expires_at',
  'created_at',
] as const;

export async function insertReviewLinks(
  ex: Executor,
  links: readonly {
    id: string;
    organizationId: string;
    integrationId: string;
    reportId: string;
    contactId: string;
    expiresAt: Date;
  }[],
) {
  if (links.length === 0) {
    return [];
  }
  // One link per report and person: a second producer pass finds the existing one.
  await ex
    .insertInto('review_links')
    .values(
      links.map((l) => ({
        id: l.id,
        organization_id: l.organizationId,
        integration_id: l.integrationId,
        report_id: l.reportId,
        contact_id: l.contactId,
        expires_at: l.expiresAt,
      })),
    )
    .onConflict((oc) => oc.columns(['report_id', 'contact_id']).doNothing())
    .execute();
  return ex
    .selectFrom('review_links')
    .select(LINK_COLUMNS)
    .where('report_id', 'in', [...new Set(links.map((l) => l.reportId))])
    .execute();
}

export async function getReviewLink(ex: Executor, id: string) {
  return ex
    .selectFrom('review_links as l')
    .innerJoin('integration_contacts as c', 'c.id', 'l.contact_id')
    .innerJoin('integrations as i', 'i.id', 'l.integration_id')
    .innerJoin('organizations as o', 'o.id', 'l.organization_id')
    .select([
      'l.id',
      'l.organization_id',
      'l.integration_id',
      'l.report_id',
      'l.contact_id',
      'l.expires_at',
      'c.name as contact_name',
      'c.email as contact_email',
      'c.removed_at as contact_removed_at',
      'i.name as integration_name',
      'o.name as organization_name',
    ])
    .where('l.id', '=', id)
    .executeTakeFirst();
}

export type ReviewLinkRow = NonNullable<Awaited<ReturnType<typeof getReviewLink>>>;

export const REVIEW_COLUMNS = [
  'id',
  'organization_id',
  'integration_id',
  'link_id',
  'report_id',
  'contact_id',
  'reviewer_name',
  'reviewer_email',
  'verdict',
  'note',
  'transaction_ids',
  'follow_up_status',
  'follow_up_resolved_at',
  'follow_up_resolved_by',
  'created_at',
] as const;

export async function insertCustomerReview(
  ex: Executor,
  r: {
    id: string;
    organizationId: string;
    integrationId: string;
    linkId: string;
    reportId: string;
    contactId: string;
    reviewerName: string;
    reviewerEmail: string;
    verdict: 'accurate' | 'problem';
    note: string;
    transactionIds: readonly string[];
  },
) {
  return ex
    .insertInto('customer_reviews')
    .values({
      id: r.id,
      organization_id: r.organizationId,
      integration_id: r.integrationId,
      link_id: r.linkId,
      report_id: r.reportId,
      contact_id: r.contactId,
      reviewer_name: r.reviewerName,
      reviewer_email: r.reviewerEmail,
      verdict: r.verdict,
      note: r.note,
      transaction_ids: sql<string[]>`${[...r.transactionIds]}::uuid[]`,
      follow_up_status: r.verdict === 'problem' ? 'open' : null,
    })
    .returning(REVIEW_COLUMNS)
    .executeTakeFirstOrThrow();
}

/**
 * Locks a review link's row, so two answers through one link are recorded one after the other; returns the latest
 * answer given through it (or undefined).
 */
export async function lockLinkLatestAnswer(ex: Executor, linkId: string) {
  await ex.selectFrom('review_links').select('id').where('id', '=', linkId).forUpdate().executeTakeFirst();
  return ex
    .selectFrom('customer_reviews')
    .select(REVIEW_COLUMNS)
    .where('link_id', '=', linkId)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function listCustomerReviews(
  ex: Executor,
  integrationId: string,
  opts: { limit: number; beforeId?: string | undefined },
) {
  let q = ex.selectFrom('customer_reviews').select(REVIEW_COLUMNS).where('integration_id', '=', integrationId);
  if (opts.beforeId !== undefined) {
    q = q.where('id', '<', opts.beforeId);
  }
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}

export async function resolveFollowUp(ex: Executor, integrationId: string, reviewId: string, actor: string) {
  return ex
    .updateTable('customer_reviews')
    .set({ follow_up_status: 'resolved', follow_up_resolved_at: sql<Date>`now()`, follow_up_resolved_by: actor })
    .where('id', '=', reviewId)
    .where('integration_id', '=', integrationId)
    .where('follow_up_status', '=', 'open')
    .returning(REVIEW_COLUMNS)
    .executeTakeFirst();
}

export async function getCustomerReview(ex: Executor, reviewId: string) {
  return ex.selectFrom('customer_reviews').select(REVIEW_COLUMNS).where('id', '=', reviewId).executeTakeFirst();
}

/**
 * What the `live` guard reads: whether sign-off is required, the latest answer of the customer, and the
 * newest passed validation report (an answer counts only for that one).
 */
export async function signoffState(
  ex: Executor,
  integrationId: string,
): Promise<{
  required: boolean;
  latest: { verdict: string; reportId: string } | null;
  openFollowUps: number;
  newestPassedReportId: string | null;
}> {
  const [settings, latest, open, newest] = await Promise.all([
    ex
      .selectFrom('customer_review_settings')
      .select('require_signoff_for_live')
      .where('integration_id', '=', integrationId)
      .executeTakeFirst(),
    ex
      .selectFrom('customer_reviews')
      .select(['verdict', 'report_id'])
      .where('integration_id', '=', integrationId)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst(),
    ex
      .selectFrom('customer_reviews')
      .select(sql<string>`count(*)::text`.as('n'))
      .where('integration_id', '=', integrationId)
      .where('follow_up_status', '=', 'open')
      .executeTakeFirst(),
    latestPassedReport(ex, integrationId),
  ]);
  return {
    required: settings?.require_signoff_for_live ?? false,
    latest: latest ? { verdict: latest.verdict, reportId: latest.report_id } : null,
    openFollowUps: Number(open?.n ?? '0'),
    newestPassedReportId: newest?.id ?? null,
  };
}

export async function getReviewSettings(ex: Executor, integrationId: string) {
  return ex
    .selectFrom('customer_review_settings')
    .select(['integration_id', 'require_signoff_for_live', 'updated_by', 'updated_at'])
    .where('integration_id', '=', integrationId)
    .executeTakeFirst();
}

export async function setReviewSettings(
  ex: Executor,
  s: { integrationId: string; organizationId: string; requireSignoffForLive: boolean; actor: string },
) {
  return ex
    .insertInto('customer_review_settings')
    .values({
      integration_id: s.integrationId,
      organization_id: s.organizationId,
      require_signoff_for_live: s.requireSignoffForLive,
      updated_by: s.actor,
    })
    .onConflict((oc) =>
      oc.column('integration_id').doUpdateSet({
        require_signoff_for_live: s.requireSignoffForLive,
        updated_by: s.actor,
        updated_at: sql<Date>`now()`,
      }),
    )
    .returning(['integration_id', 'require_signoff_for_live', 'updated_by', 'updated_at'])
    .executeTakeFirstOrThrow();
}

/**
 * The imported transactions a customer reviews: the report's accounts of one integration (an account removed before
 * the report is not in it), the report's period, optionally narrowed by text (description or references) — newest first, at most `limit`. Only
 * the last four digits of the account number leave the database.
 */
export async function reviewTransactions(
  ex: Executor,
  f: {
    organizationId: string;
    integrationId: string;
    accountIds: readonly string[];
    from: string;
    to: string;
    q?: string | undefined;
    limit: number;
  },
) {
  if (f.accountIds.length === 0) {
    return [];
  }
  let q = ex
    .selectFrom('transactions as t')
    .innerJoin('bank_accounts as a', 'a.id', 't.account_id')
    .select([
      't.id',
      't.booking_date',
      't.status',
      't.direction',
      't.amount_minor',
      't.currency',
      't.decimal_location',
      't.description',
      't.bank_reference',
      't.customer_reference',
      sql<string>`right(a.jpm_account_id, 4)`.as('account_last4'),
    ])
    .where('a.integration_id', '=', f.integrationId)
    .where('t.organization_id', '=', f.organizationId)
    .where('t.account_id', 'in', f.accountIds)
    .where('t.status', 'in', ['posted', 'pending'])
    .where('t.booking_date', '>=', f.from)
    .where('t.booking_date', '<=', f.to);
  const text = f.q?.trim();
  if (text) {
    const like = `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    q = q.where((eb) =>
      eb.or([
        eb('t.description', 'ilike', like),
        eb('t.bank_reference', 'ilike', like),
        eb('t.customer_reference', 'ilike', like),
      ]),
    );
  }
  return q.orderBy('t.booking_date', 'desc').orderBy('t.id', 'desc').limit(f.limit).execute();
}

/** Which of `ids` are transactions of the integration (a customer may only point at their own). */
export async function transactionsOfIntegration(
  ex: Executor,
  integrationId: string,
  ids: readonly string[],
): Promise<string[]> {
  if (ids.length === 0) {
    return [];
  }
  const rows = await ex
    .selectFrom('transactions as t')
    .innerJoin('bank_accounts as a', 'a.id', 't.account_id')
    .select('t.id')
    .where('a.integration_id', '=', integrationId)
    .where('t.id', 'in', [...ids])
    .execute();
  return rows.map((r) => r.id);
}

/** The integration's newest completed, passed validation report (what a re-sent review link shows). */
export async function latestPassedReport(ex: Executor, integrationId: string) {
  return ex
    .selectFrom('validation_reports')
    .select(['id', 'organization_id', 'period_from', 'period_to'])
    .where('integration_id', '=', integrationId)
    .where('status', '=', 'completed')
    .where('passed', '=', true)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/**
 * The link of a report and person, valid until `expiresAt`: created, or its expiry moved (which
 * also ends the old token: a token must carry the link's current expiry).
 */
export async function renewReviewLink(
  ex: Executor,
  l: {
    id: string;
    organizationId: string;
    integrationId: string;
    reportId: string;
    contactId: string;
    expiresAt: Date;
  },
) {
  return ex
    .insertInto('review_links')
    .values({
      id: l.id,
      organization_id: l.organizationId,
      integration_id: l.integrationId,
      report_id: l.reportId,
      contact_id: l.contactId,
      expires_at: l.expiresAt,
    })
    .onConflict((oc) => oc.columns(['report_id', 'contact_id']).doUpdateSet({ expires_at: l.expiresAt }))
    .returning(LINK_COLUMNS)
    .executeTakeFirstOrThrow();
}
