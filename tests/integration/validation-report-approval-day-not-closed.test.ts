import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/shared/errors.ts';
import { renderReviewPage } from '../../src/review/page.ts';
import { reviewPageData } from '../../src/review/service.ts';
import type { ReviewLinkRow } from '../../src/storage/reviews.repo.ts';
import { createValidationReport, renderValidationReportHtml } from '../../src/validation/index.ts';
import { createAccount, createTenancy, recordApproval, type Tenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, expectProblem } from '../helpers/api-app.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { obliterate } from '../helpers/orchestration.ts';

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
    await recordApproval(t.db, tenancy, APPROVED_AT);
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

  it('an account alone in that state: nothing to report yet, from its first day, never a passed report', async () => {
    const tenancy = await createTenancy(t.db, { name: 'Not Closed Org 2' });
    const tokyo = await createAccount(t.db, tenancy, { timeZone: 'Asia/Tokyo', jpmAccountId: '000000004444' });
    await syncedNow(tokyo.id);
    await recordApproval(t.db, tenancy, APPROVED_AT);
    const refused = await report(tenancy).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused).toMatchObject({
      httpStatus: 409,
      code: 'validation_not_yet_reportable',
      details: { firstBusinessDays: [{ accountId: tokyo.id, day: '2026-11-11', reportableFrom: '2026-11-12' }] },
    });
    // What the operator can act on: the first day a report can be made, and what proves it; never an hour the bank
    // did not state.
    expect((refused as Error).message).toBe(
      "nothing to report yet: the bank has not closed any account's first business day since the approval. " +
        'A report can be made once it closes one, from the day after it at the earliest; made before ' +
        "J.P. Morgan's prior-day data for that day is in, it lists the day unproved. " +
        'account ****4444: first business day 2026-11-11, reportable from 2026-11-12 at the earliest',
    );
    expect((refused as Error).message).not.toMatch(/\d{1,2}:\d{2}/);
    // Not a failed report either: nothing is stored.
    const stored = await t.db
      .selectFrom('validation_reports')
      .select('id')
      .where('integration_id', '=', tenancy.integrationId)
      .execute();
    expect(stored).toEqual([]);
    // A period asked to end before the approval is still the caller's to fix.
    await expect(report(tenancy, { to: '2026-11-05' })).rejects.toThrow(
      /period start 2026-11-11 is after its end 2026-11-05/,
    );
  });

  it('every account in that state, though the period has a closed day: nothing to report yet, naming each first day', async () => {
    // Half an hour after the approval: New York (12:30 on the 10th) has closed the 9th, Tokyo (03:00 on the 11th) the
    // 10th; the period since approval (from New York's 10th) has a closed day, but neither account has closed its own.
    const soon = new Date('2026-11-10T18:00:00Z');
    const tenancy = await createTenancy(t.db, { name: 'Not Closed Org 4' });
    const ny = await createAccount(t.db, tenancy, { timeZone: 'America/New_York', jpmAccountId: '000000006666' });
    const tokyo = await createAccount(t.db, tenancy, { timeZone: 'Asia/Tokyo', jpmAccountId: '000000007777' });
    await recordApproval(t.db, tenancy, APPROVED_AT);
    const refused = await createValidationReport(
      { db: t.db, now: () => soon },
      { integrationId: tenancy.integrationId, requestedBy: 'test' },
    ).catch((err: unknown) => err);
    // Never a report that passes with nothing proved.
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused).toMatchObject({
      code: 'validation_not_yet_reportable',
      details: {
        firstBusinessDays: [
          { accountId: ny.id, day: '2026-11-10', reportableFrom: '2026-11-11' },
          { accountId: tokyo.id, day: '2026-11-11', reportableFrom: '2026-11-12' },
        ],
      },
    });
    expect((refused as Error).message).toContain(
      'account ****6666: first business day 2026-11-10, reportable from 2026-11-11 at the earliest; ' +
        'account ****7777: first business day 2026-11-11, reportable from 2026-11-12 at the earliest',
    );
  });

  it('over HTTP: 409 validation_not_yet_reportable naming the day, then a report once the bank closes it', async () => {
    let now = NOW;
    const api = await createTestApi({ now: () => now });
    try {
      const tenancy = await createTenancy(api.t.db, { name: 'Not Closed Org 3' });
      const tokyo = await createAccount(api.t.db, tenancy, { timeZone: 'Asia/Tokyo', jpmAccountId: '000000005555' });
      await api.t.db
        .updateTable('bank_accounts')
        .set({ last_synced_at: new Date(NOW.getTime() - 60_000) })
        .where('id', '=', tokyo.id)
        .execute();
      await recordApproval(api.t.db, tenancy, APPROVED_AT);
      const run = () =>
        request(api.app)
          .post(`/v1/integrations/${tenancy.integrationId}/validations`)
          .set(bearer(api.adminKey))
          .send({});
      const problem = expectProblem(await run(), 409, 'validation_not_yet_reportable');
      expect(problem.detail).toContain(
        'account ****5555: first business day 2026-11-11, reportable from 2026-11-12 at the earliest',
      );
      // The next morning in Tokyo the 11th is closed: the report is made, from that day.
      now = new Date('2026-11-11T23:30:00Z');
      const res = await run();
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect((res.body as { report: { period: unknown } }).report.period).toEqual({
        basis: 'since_approval',
        from: '2026-11-11',
        to: '2026-11-11',
      });
    } finally {
      await obliterate(api.ctx.queues);
      await api.close();
    }
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
