import type { Server } from 'node:http';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/shared/ids.ts';
import { addDays, diffDays, isWeekend, type IsoDate } from '../../src/shared/time.ts';
import { recomputeAccountDays } from '../../src/validation/index.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';
import { obliterate } from '../helpers/orchestration.ts';
import { resolveChromium } from '../helpers/chromium.ts';
import { startSimBank, type SimBank } from '../helpers/sim-bank.ts';

/**
 * The console's day page explains what the sync decided: a business day whose pending items the
 * next morning's prior-day data superseded (or removed, when never posted) shows, for those rows, the
 * decision and the rule, as GET /v1/transactions/{id} records them. The bank is the simulator with
 * its quirks on (amounts that change on posting, items that never post).
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function nextWeekday(d: IsoDate): IsoDate {
  let n = addDays(d, 1);
  while (isWeekend(n)) {
    n = addDays(n, 1);
  }
  return n;
}

describe('operator console: decisions on the day page', () => {
  let api: TestApi;
  let env: SimBank;
  let browser: Browser;
  let day: IsoDate;

  beforeAll(async () => {
    api = await createTestApi();
    env = await startSimBank(api.t.db, {
      today: '2026-03-02',
      historyDays: 20,
      txPerDay: 14,
      accounts: [{ currency: 'USD' }],
    });
    const simUsd = env.sim.accounts[0]!;
    // A business day whose pending items change amount on posting and include one that never posts.
    for (let d: IsoDate = '2026-03-02'; ; d = nextWeekday(d)) {
      const marks = new Set(env.sim.ledger.day(simUsd, d)?.items.flatMap((i) => i.marks) ?? []);
      if (marks.has('amount-changed') && marks.has('never-posted')) {
        day = d;
        break;
      }
      expect(diffDays('2026-03-02', d)).toBeLessThan(60);
    }
    const account = env.accounts[0]!.id;
    env.setToday(day, 0.6);
    await env.sync(account, { mode: 'intraday' });
    env.setToday(nextWeekday(day), 0.1);
    await env.sync(account, { mode: 'prior_day' });
    await recomputeAccountDays(api.t.db, account, [day]);
    const { executablePath } = await resolveChromium();
    browser = await chromium.launch({ executablePath, args: ARGS, headless: true });
  });

  afterAll(async () => {
    await browser?.close();
    await env?.stop();
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  /** A browser page signed in to the console of the app served by `server`, and the server's base URL. */
  async function signedIn(server: Server) {
    const address = server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const page = await browser.newPage();
    await page.goto(`${base}/console/sign-in`);
    await page.getByLabel('API key').fill(api.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/console/`);
    return { page, base };
  }

  it('shows pending items the posted data superseded (or removed) with the rule that decided', async () => {
    const server = await new Promise<Server>((resolve) => {
      const s = api.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const { page, base } = await signedIn(server);
      const accountId = env.accounts[0]!.id;
      await page.goto(`${base}/console/accounts/${accountId}/days/${day}`);

      const decided = await api.t.db
        .selectFrom('transaction_decisions as d')
        .innerJoin('transactions as t', 't.id', 'd.transaction_id')
        .select(['t.id', 't.status', 'd.decision', 'd.rule'])
        .where('t.account_id', '=', accountId)
        .where('t.booking_date', '=', day)
        .where('t.status', 'in', ['superseded', 'removed'])
        .execute();
      expect(decided.some((d) => d.decision === 'superseded')).toBe(true);
      for (const d of decided) {
        const row = page.locator(`tr[data-transaction-id="${d.id}"]`);
        expect(await row.locator('td').first().textContent()).toBe(d.status);
        await row.locator('summary').click();
        expect(await row.locator('details li').allTextContents()).toContainEqual(
          expect.stringMatching(new RegExp(`${d.decision.replaceAll('_', ' ')} by rule ${d.rule}`)),
        );
      }
      await page.close();
    } finally {
      server.close();
    }
  });

  it('shows an open duplicate suspicion on the account calendar and the day page, and not once it is reviewed', async () => {
    const accountId = env.accounts[0]!.id;
    const rows = await api.t.db
      .selectFrom('transactions')
      .select(['id', 'organization_id', 'currency', 'decimal_location'])
      .where('account_id', '=', accountId)
      .where('booking_date', '=', day)
      .where('status', '=', 'posted')
      .orderBy('id')
      .limit(2)
      .execute();
    expect(rows).toHaveLength(2);
    const suspicionId = uuidv7();
    await api.t.db
      .insertInto('duplicate_suspicions')
      .values({
        id: suspicionId,
        organization_id: rows[0]!.organization_id,
        account_id: accountId,
        booking_date: day,
        fingerprint: 'console-test',
        direction: 'debit',
        amount_minor: '2500',
        currency: rows[0]!.currency,
        decimal_location: rows[0]!.decimal_location,
        live_count: 2,
        bank_count: 1,
        transaction_ids: rows.map((r) => r.id),
        evidence: JSON.stringify({}),
        first_detected_at: new Date(),
        last_detected_at: new Date(),
      })
      .execute();
    const server = await new Promise<Server>((resolve) => {
      const s = api.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const { page, base } = await signedIn(server);
      await page.goto(`${base}/console/accounts/${accountId}`);
      expect(await page.locator('main').innerText()).toContain('1 open duplicate suspicion(s)');
      expect(await page.locator('li', { hasText: day }).innerText()).toContain('1 open duplicate suspicion(s)');
      await page.goto(`${base}/console/accounts/${accountId}/days/${day}`);
      const item = page.locator(`li[data-suspicion="${suspicionId}"]`);
      expect(await item.innerText()).toMatch(/debit 25\.00 \w+: we hold 2, the bank reported 1; transactions/);
      for (const r of rows) {
        expect(await item.innerText()).toContain(r.id.slice(-8));
      }
      // Reviewed (not a duplicate): no longer open, so no longer shown.
      await api.t.db
        .updateTable('duplicate_suspicions')
        .set({ status: 'not_duplicate', reviewed_by: 'test', reviewed_at: new Date() })
        .where('id', '=', suspicionId)
        .execute();
      await page.reload();
      expect(await page.locator(`li[data-suspicion="${suspicionId}"]`).count()).toBe(0);
      await page.close();
    } finally {
      server.close();
      await api.t.db.deleteFrom('duplicate_suspicions').where('id', '=', suspicionId).execute();
    }
  });
});
