import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReviewPage } from '../../src/review/page.ts';
import { reviewPageData } from '../../src/review/service.ts';
import type { ReviewLinkRow } from '../../src/storage/reviews.repo.ts';
import { createValidationReport, renderValidationReportHtml } from '../../src/validation/index.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * A report since approval, made so soon after it that one account's bank has not closed a business day since: approved
 * at 12:30 on Tuesday 10 November in New York, which was already 02:30 on Wednesday 11 November in Tokyo; the report at
 * 06:00 UTC on the 11th (01:00 in New York, 15:00 in Tokyo). New York has closed the 10th, its first day; Tokyo's first
 * day, the 11th, is still open. Nothing is owed for Tokyo yet: it is listed as not yet reportable, its period not
 * running past the report's end, and it adds no reason to the verdict. Real Postgres, the report as the API builds it.
 */
const NOW = new Date('2026-11-11T06:00:00Z');
const APPROVED_AT = new Date('2026-11-10T17:30:00Z');

let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
});

afterAll(async () => {
  await t.drop();
});

async function approvedAt(tenancy: Tenancy, at: Date) {
  await t.db
    .insertInto('integration_transitions')
    .values({
      organization_id: tenancy.organizationId,
      integration_id: tenancy.integrationId,
      from_stage: 'testing',
      to_stage: 'approved',
      actor: 'test',
      created_at: at,
    })
    .execute();
}

/** Synced just now: a stale account is a reason of its own, not the one looked at here. */
async function syncedNow(accountId: string) {
  await t.db
    .updateTable('bank_accounts')
    .set({ last_synced_at: new Date(NOW.getTime() - 60_000) })
    .where('id', '=', accountId)
    .execute();
}

const report = (tenancy: Tenancy, period: { from?: string; to?: string } = {}) =>
  createValidationReport(
    { db: t.db, now: () => NOW },
    { integrationId: tenancy.integrationId, requestedBy: 'test', ...period },
  );

describe('validation report since approval: an account with no closed business day yet', () => {
  it('is listed as not yet reportable, with nothing owed, and does not fail the report', async () => {
    const tenancy = await createTenancy(t.db, { name: 'Not Closed Org' });
    const ny = await createAccount(t.db, tenancy, { timeZone: 'America/New_York', jpmAccountId: '000000001111' });
    const tokyo = await createAccount(t.db, tenancy, { timeZone: 'Asia/Tokyo', jpmAccountId: '000000002222' });
    await syncedNow(ny.id);
    await syncedNow(tokyo.id);
    await approvedAt(tenancy, APPROVED_AT);
    const doc = await report(tenancy);
    expect(doc.period).toEqual({ basis: 'since_approval', from: '2026-11-10', to: '2026-11-10' });
    const nyReport = doc.accounts.find((a) => a.accountId === ny.id)!;
    const tokyoReport = doc.accounts.find((a) => a.accountId === tokyo.id)!;
    // New York's day has no data and still fails the report; Tokyo adds nothing to it.
    expect(doc.reasons).toEqual(['account ****1111: 1 unproved day(s): 2026-11-10 (no final balance)']);
    // Its period does not run past the report's end.
    expect(tokyoReport.to <= doc.period.to).toBe(true);
    expect(nyReport.notYetReportable).toBeUndefined();
    expect(tokyoReport.notYetReportable).toEqual({ firstDay: '2026-11-11', lastClosedDay: '2026-11-10' });
    expect(tokyoReport.calendar).toEqual([]);
    expect(tokyoReport.days).toEqual({ proved: 0, broken: 0, unproved: 0 });
    const html = renderValidationReportHtml(doc).replace(/\s+/g, ' ');
    expect(html).toContain(
      'Not yet reportable: its first business day since the approval, 2026-11-11, is not closed by the bank yet; nothing is owed for it in this report.',
    );
    expect(html).not.toContain('2026-11-11 to 2026-11-10');
    // The page the controller signs, from the stored report, says the same.
    const link = {
      report_id: doc.id,
      organization_id: tenancy.organizationId,
      integration_id: tenancy.integrationId,
      organization_name: 'Not Closed Org',
      integration_name: 'Acme J.P. Morgan',
      contact_name: 'Controller',
    } as ReviewLinkRow;
    const review = renderReviewPage(await reviewPageData(t.db, link, ''), { csrf: 'x', path: '/review/x' }).replace(
      /\s+/g,
      ' ',
    );
    expect(review).toContain('<td class="num" data-label="Days checked">not yet reportable</td>');
    expect(review).toContain(
      'Not yet reportable: its first business day since the approval, 2026-11-11, is not closed by the bank yet; nothing is owed for it in this report.',
    );
  });

  it('an account alone in that state: the request is refused as before, never a passed report with nothing proved', async () => {
    const tenancy = await createTenancy(t.db, { name: 'Not Closed Org 2' });
    const tokyo = await createAccount(t.db, tenancy, { timeZone: 'Asia/Tokyo' });
    await syncedNow(tokyo.id);
    await approvedAt(tenancy, APPROVED_AT);
    // The period would start after its end: the request is refused (4xx) as before, never a passed report.
    await expect(report(tenancy)).rejects.toThrow(/period start 2026-11-11 is after its end 2026-11-10/);
  });

  it('a period with no business day in it still fails the report', async () => {
    const tenancy = await createTenancy(t.db, { name: 'Weekend Org' });
    const ny = await createAccount(t.db, tenancy, { timeZone: 'America/New_York', jpmAccountId: '000000003333' });
    await syncedNow(ny.id);
    const doc = await report(tenancy, { from: '2026-11-07', to: '2026-11-08' });
    expect(doc.accounts[0]!.notYetReportable).toBeUndefined();
    expect(doc.passed).toBe(false);
    expect(doc.reasons).toContain('account ****3333: no business day in the period');
  });
});
