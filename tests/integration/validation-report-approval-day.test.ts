import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/shared/ids.ts';
import { createValidationReport } from '../../src/validation/index.ts';
import { createAccount, createTenancy, recordApproval, type Tenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * A validation report's default period starts on the business day the integration was approved, as each account's
 * bank counts days (its time zone, and the business day the bank last reported), never on the machine clock's UTC
 * date of the approval: an approval late on a New York evening is that New York business day, one early on a Tokyo
 * morning is that Tokyo day. Real Postgres, the report as the API builds it.
 */
const NOW = new Date('2026-11-20T17:00:00Z');
// 21:30 on Monday 9 November in New York; 06:30 on Tuesday 10 November in Tokyo (10 November in UTC as well).
const APPROVED_AT = new Date('2026-11-10T02:30:00Z');
// 02:30 on Wednesday 11 November in Tokyo; still 10 November in UTC and in New York.
const APPROVED_LATE_UTC = new Date('2026-11-10T17:30:00Z');

let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
});

afterAll(async () => {
  await t.drop();
});

const report = (tenancy: Tenancy) =>
  createValidationReport({ db: t.db, now: () => NOW }, { integrationId: tenancy.integrationId, requestedBy: 'test' });

describe('validation report: the period since approval', () => {
  it("starts on each account's business day at the approval, in its own time zone, not the approval's UTC date", async () => {
    const tenancy = await createTenancy(t.db, { name: 'Approval Day Org' });
    const ny = await createAccount(t.db, tenancy, { timeZone: 'America/New_York' });
    const tokyo = await createAccount(t.db, tenancy, { timeZone: 'Asia/Tokyo' });
    await recordApproval(t.db, tenancy, APPROVED_AT);
    const doc = await report(tenancy);
    expect(doc.period).toMatchObject({ basis: 'since_approval', from: '2026-11-09' });
    const fromOf = (id: string) => doc.accounts.find((a) => a.accountId === id)?.from;
    expect(fromOf(ny.id)).toBe('2026-11-09');
    expect(fromOf(tokyo.id)).toBe('2026-11-10');
  });

  it('an approval already on the next day in the account zone starts the period on that day', async () => {
    const tenancy = await createTenancy(t.db, { name: 'Approval Day Org 2' });
    const tokyo = await createAccount(t.db, tenancy, { timeZone: 'Asia/Tokyo' });
    await recordApproval(t.db, tenancy, APPROVED_LATE_UTC);
    const doc = await report(tenancy);
    expect(doc.period).toMatchObject({ basis: 'since_approval', from: '2026-11-11' });
    expect(doc.accounts.map((a) => [a.accountId, a.from])).toEqual([[tokyo.id, '2026-11-11']]);
  });

  it("coverage holds each account's own period: a failed window, a day never fetched or fetched empty before its start is not in it", async () => {
    // New York starts on 9 November, Tokyo on 10 November. On 9 November each account had a failed prior-day window, a
    // stored day proof without a fetch, and the bank's empty answer: New York's are in its period and count, Tokyo's are
    // before it (the report's period starts on New York's day).
    const tenancy = await createTenancy(t.db, { name: 'Approval Day Org 4' });
    const ny = await createAccount(t.db, tenancy, { timeZone: 'America/New_York' });
    const tokyo = await createAccount(t.db, tenancy, { timeZone: 'Asia/Tokyo' });
    const day = '2026-11-09';
    for (const account of [ny, tokyo]) {
      await t.db
        .insertInto('sync_runs')
        .values({
          id: uuidv7(),
          organization_id: tenancy.organizationId,
          integration_id: tenancy.integrationId,
          account_id: account.id,
          mode: 'prior_day',
          trigger: 'schedule',
          status: 'failed',
          window_from: day,
          window_to: day,
          error_code: 'jpm_unavailable',
          error_message: 'the bank did not answer',
          created_at: new Date('2026-11-10T11:00:00Z'),
          finished_at: new Date('2026-11-10T11:05:00Z'),
        })
        .execute();
      await t.db
        .insertInto('account_days')
        .values({
          account_id: account.id,
          organization_id: tenancy.organizationId,
          day,
          currency: 'USD',
          decimal_location: 2,
          state: 'unproved',
          reason: 'no_posted_fetch',
          evidence: JSON.stringify({}),
          computed_at: new Date('2026-11-10T12:00:00Z'),
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await t.db
        .insertInto('bank_day_fetches')
        .values({
          account_id: account.id,
          organization_id: tenancy.organizationId,
          booking_date: day,
          credit_count: 0,
          credits_minor: '0',
          debit_count: 0,
          debits_minor: '0',
          record_count: 0,
          state: 'unexpectedly_empty',
          fetched_at: new Date('2026-11-10T12:00:00Z'),
        })
        .execute();
    }
    await recordApproval(t.db, tenancy, APPROVED_AT);
    const doc = await report(tenancy);
    expect(doc.period).toMatchObject({ basis: 'since_approval', from: day });
    const accountsOf = (rows: { accountId: string | null }[]) =>
      rows.map((r) => (r.accountId === ny.id ? 'ny' : r.accountId === tokyo.id ? 'tokyo' : r.accountId));
    expect({
      failedWindows: accountsOf(doc.coverage.failedWindows),
      daysNotFetched: accountsOf(doc.coverage.daysNotFetched.filter((d) => d.day === day)),
      daysFetchedNothing: accountsOf((doc.coverage.daysFetchedNothing ?? []).filter((d) => d.day === day)),
      // New York's day is proved again by the report from the bank's (empty) answer: fetched, not "never fetched".
    }).toEqual({ failedWindows: ['ny'], daysNotFetched: [], daysFetchedNothing: ['ny'] });
  });

  it('follows the business day the bank last reported for the account, not the clock, when they differ', async () => {
    const tenancy = await createTenancy(t.db, { name: 'Approval Day Org 3' });
    const ny = await createAccount(t.db, tenancy, { timeZone: 'America/New_York' });
    // The bank answered at noon New York on 19 November that its current business day was still 18 November.
    await t.db
      .updateTable('bank_accounts')
      .set({ bank_business_day: '2026-11-18', bank_calendar_at: new Date('2026-11-19T17:00:00Z') })
      .where('id', '=', ny.id)
      .execute();
    await recordApproval(t.db, tenancy, APPROVED_LATE_UTC);
    const doc = await report(tenancy);
    // Approved at 12:30 on 10 November in New York, on the bank's business day 9 November.
    expect(doc.accounts.map((a) => a.from)).toEqual(['2026-11-09']);
  });
});
