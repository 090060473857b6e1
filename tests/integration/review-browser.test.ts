import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addContact, produceNotifications } from '../../src/notifications/index.ts';
import { createIntegration, transition } from '../../src/onboarding/index.ts';
import { deriveReviewKeys, signReviewToken, type ReviewKeys } from '../../src/review/index.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import type { ValidationReportDocument } from '../../src/validation/index.ts';
import { createOrganization } from '../factories/onboarding.ts';
import { createAccount } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { captureLogLines } from '../helpers/log-capture.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { resolveChromium } from '../helpers/chromium.ts';

/**
 * The customer's review page in headless Chromium: reached by the signed link alone, it shows
 * one organization's report (totals, calendar) and transactions, searches them, records both
 * answers (with the report id, the person and the marked transactions), refuses tampered,
 * expired and foreign links and forms without the link's CSRF token, loads nothing from anywhere
 * else, and fits a 420 px screen. "Something is wrong" opens a follow-up and tells our account
 * manager; with sign-off required, `live` waits for it.
 */
const logLines = captureLogLines();

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const HOSTILE = 'REFUND <img src=x onerror="window.__xss=1"> & CO';
const ACCOUNT_NUMBER = '000000555501234';

let api: TestApi;
let server: Server;
let base: string;
let browser: Browser;
let keys: ReviewKeys;

interface Side {
  organizationId: string;
  integrationId: string;
  accountId: string;
  txIds: string[];
  reportId: string;
  linkId: string;
  expiresAt: Date;
}
let a: Side;
let b: Side;

function reportDoc(s: {
  id: string;
  organizationId: string;
  integrationId: string;
  accountId: string;
  masked: string;
}): ValidationReportDocument {
  const days = ['2026-11-02', '2026-11-03', '2026-11-04', '2026-11-05', '2026-11-06'];
  return {
    id: s.id,
    integration: { id: s.integrationId, name: 'Acme Treasury', organizationId: s.organizationId, stage: 'validating' },
    period: { from: '2026-11-02', to: '2026-11-06', basis: 'since_approval' },
    generatedAt: '2026-11-07T08:00:00.000Z',
    passed: true,
    reasons: [],
    summary: { accounts: 1, openSuspicions: 0, proved: 5, broken: 0, unproved: 0 },
    totalsByCurrency: [
      {
        currency: 'USD',
        decimalLocation: 2,
        creditsMinor: '1234567',
        debitsMinor: '4500',
        creditCount: 2,
        debitCount: 1,
      },
    ],
    accounts: [
      {
        accountId: s.accountId,
        accountMasked: s.masked,
        accountName: 'OPERATING',
        currency: 'USD',
        decimalLocation: 2,
        timeZone: 'America/New_York',
        from: '2026-11-02',
        to: '2026-11-06',
        days: { proved: 5, broken: 0, unproved: 0 },
        totals: { creditsMinor: '1234567', debitsMinor: '4500', creditCount: 2, debitCount: 1 },
        calendar: days.map((day) => ({ day, state: 'proved' as const, differenceMinor: null, reason: null })),
        openSuspicions: 0,
      },
    ],
    suspicions: [],
    coverage: { staleHours: 26, daysNotFetched: [], failedWindows: [], staleAccounts: [] },
  };
}

async function side(name: string, accountNumber: string, descriptions: string[]): Promise<Side> {
  const db = api.ctx.db;
  const organizationId = await createOrganization(db, name);
  const { id: integrationId } = await createIntegration(db, {
    organizationId,
    name: 'Acme Treasury',
    environment: 'cat',
    actor: 'test',
  });
  await addContact(db, {
    integrationId,
    role: 'controller',
    name: `${name} Controller`,
    email: `controller@${name.toLowerCase()}.example`,
    actor: 'test',
  });
  await addContact(db, {
    integrationId,
    role: 'account_manager',
    name: 'Max Manager',
    email: 'max@jpm-sync.example',
    actor: 'test',
  });
  const account = await createAccount(db, { organizationId, integrationId }, { jpmAccountId: accountNumber });
  await ingestWire(
    db,
    { id: account.id, organizationId },
    descriptions.map((d, i) =>
      wireTransaction({
        transactionId: `${name}-${i}`,
        jpmAccountId: accountNumber,
        asOfDate: `2026-11-0${2 + i}`,
        shortDescription: d,
        amount: i === 2 ? '45.00' : i === 0 ? '12300.67' : '45.00',
        direction: i === 2 ? 'DEBIT' : 'CREDIT',
      }),
    ),
  );
  const txIds = (
    await db
      .selectFrom('transactions')
      .select('id')
      .where('account_id', '=', account.id)
      .orderBy('booking_date')
      .execute()
  ).map((r) => r.id);
  const reportId = uuidv7();
  await db
    .insertInto('validation_reports')
    .values({
      id: reportId,
      organization_id: organizationId,
      integration_id: integrationId,
      period_from: '2026-11-02',
      period_to: '2026-11-06',
      requested_by: 'test',
      status: 'completed',
      passed: true,
      reasons: JSON.stringify([]),
      completed_at: new Date(),
      report: JSON.stringify(
        reportDoc({
          id: reportId,
          organizationId,
          integrationId,
          accountId: account.id,
          masked: `****${accountNumber.slice(-4)}`,
        }),
      ),
    })
    .execute();
  return { organizationId, integrationId, accountId: account.id, txIds, reportId, linkId: '', expiresAt: new Date() };
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical findings (run through evaluate, which the page's CSP does not govern). */
async function axe(page: Page): Promise<string[]> {
  await page.evaluate(`${AXE}\n;void 0`);
  const result = await page.evaluate<{
    violations: { id: string; impact: string | null; nodes: { target: string[] }[] }[];
  }>(`axe.run(document, { resultTypes: ['violations'] })`);
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.nodes
          .slice(0, 3)
          .map((n) => n.target.join(' '))
          .join(', ')}`,
    );
}

const url = (s: Pick<Side, 'linkId' | 'expiresAt'>) => `${base}/review/${signReviewToken(keys, s.linkId, s.expiresAt)}`;

async function open(width: number, target: string): Promise<{ page: Page; foreign: string[] }> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const foreign: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(`${base}/`) && !r.url().startsWith('data:')) {
      foreign.push(r.url());
    }
  });
  page.on('console', (m) => {
    if (m.type() === 'error') {
      foreign.push(`console error: ${m.text()}`);
    }
  });
  await page.goto(target, { waitUntil: 'load' });
  return { page, foreign };
}

beforeAll(async () => {
  // Milestone emails and the links' public base URL configured (this process only queues emails; no test here
  // sends one): a link can be re-sent.
  api = await createTestApi({
    env: {
      SMTP_URL: 'smtp://127.0.0.1:9',
      SMTP_FROM: 'onboarding@jpm-sync.example',
      PUBLIC_BASE_URL: 'https://sync.jpm-sync.example',
    },
  });
  keys = deriveReviewKeys(api.ctx.secrets.masterKey.key);
  server = await new Promise<Server>((resolve) => {
    const s = api.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  a = await side('Acme', ACCOUNT_NUMBER, ['PAYROLL ACME NOVEMBER', HOSTILE, 'WIRE FEE']);
  b = await side('Other', '000000777709999', ['OTHER ORG SECRET PAYMENT']);
  // Reports are announced (and links made) while an integration is validating; the stages before are walked in notifications.test.ts.
  await api.ctx.db
    .updateTable('integrations')
    .set({ stage: 'validating' })
    .where('id', 'in', [a.integrationId, b.integrationId])
    .execute();
  // The producer makes one link per controller when a passed report is announced.
  await produceNotifications(api.ctx.db);
  for (const s of [a, b]) {
    const link = await api.ctx.db
      .selectFrom('review_links')
      .select(['id', 'expires_at'])
      .where('report_id', '=', s.reportId)
      .executeTakeFirstOrThrow();
    s.linkId = link.id;
    s.expiresAt = link.expires_at;
  }
  const { executablePath } = await resolveChromium();
  browser = await chromium.launch({ executablePath, args: ARGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await api?.close();
});

describe('customer review page (headless Chromium)', () => {
  it("shows one organization's report and transactions at 420 px, searches, and loads nothing from elsewhere", async () => {
    const { page, foreign } = await open(420, url(a));
    expect(await page.title()).toBe('Review your data: Acme Treasury');
    expect(await page.locator('#totals').innerText()).toContain('****1234');
    expect(await page.locator('#totals').innerText()).toContain('12,345.67');
    expect(await page.locator('.calendar svg').count()).toBe(1);
    const rows = page.locator('#transactions tbody tr');
    expect(await rows.count()).toBe(3);
    const text = await page.locator('main').innerText();
    expect(text).not.toContain('OTHER ORG SECRET');
    expect(text).not.toContain(ACCOUNT_NUMBER);
    expect(text).toContain(HOSTILE);
    expect(await page.locator('#transactions img').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    // Usable on a phone: no sideways scrolling of the page, both answers within the screen.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(420);
    for (const button of ['#accurate-form button', '#problem-form button']) {
      const box = await page.locator(button).boundingBox();
      expect(box).not.toBeNull();
      expect(box!.x).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width).toBeLessThanOrEqual(420);
    }
    await page.fill('#q', 'payroll');
    await Promise.all([page.waitForURL(/\?q=payroll/), page.click('form.search button')]);
    expect(await page.locator('#transactions tbody tr').count()).toBe(1);
    await page.fill('#q', 'OTHER ORG');
    await Promise.all([page.waitForURL(/\?q=OTHER/), page.click('form.search button')]);
    expect(await page.locator('#no-transactions').count()).toBe(1);
    expect(foreign).toEqual([]);
    expect(await axe(page)).toEqual([]);
    await page.close();
  });

  it("refuses tampered, expired and foreign links, and forms without the link's CSRF token", async () => {
    const good = url(a);
    const tampered = `${good.slice(0, -2)}${good.endsWith('AA') ? 'BB' : 'AA'}`;
    const { page } = await open(800, tampered);
    expect(await page.locator('#refused').innerText()).toContain('not valid');
    expect(await axe(page)).toEqual([]);
    await page.close();
    const longer = `${base}/review/${a.linkId}.${Math.floor(a.expiresAt.getTime() / 1000) + 86_400}.${good.split('.').at(-1)!}`;
    expect((await request(api.app).get(new URL(longer).pathname)).status).toBe(403);
    expect((await request(api.app).get('/review/not-a-token')).status).toBe(403);
    // Another organization's link with this link's signature: refused.
    expect(
      (await request(api.app).get(`/review/${b.linkId}.${good.split('.')[1]!}.${good.split('.')[2]!}`)).status,
    ).toBe(403);

    const expired = new Date(Date.now() - 60_000);
    await api.ctx.db.updateTable('review_links').set({ expires_at: expired }).where('id', '=', b.linkId).execute();
    const gone = await request(api.app).get(new URL(url({ linkId: b.linkId, expiresAt: expired })).pathname);
    expect(gone.status).toBe(410);
    expect(gone.text).toContain('expired');
    await api.ctx.db.updateTable('review_links').set({ expires_at: b.expiresAt }).where('id', '=', b.linkId).execute();

    const path = new URL(good).pathname;
    const page2 = await request(api.app).get(path).expect(200);
    expect(page2.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page2.headers['cache-control']).toBe('no-store');
    expect(page2.headers['referrer-policy']).toBe('no-referrer');
    const csrfA = /name="csrf" value="([^"]+)"/.exec(page2.text)?.[1];
    const csrfB = /name="csrf" value="([^"]+)"/.exec((await request(api.app).get(new URL(url(b)).pathname)).text)?.[1];
    expect(csrfA).toBeTruthy();
    expect((await request(api.app).post(`${path}/accurate`).type('form').send({})).status).toBe(403);
    expect((await request(api.app).post(`${path}/accurate`).type('form').send({ csrf: csrfB })).status).toBe(403);
    // A transaction of another organization cannot be marked.
    const foreignTx = await request(api.app)
      .post(`${path}/problem`)
      .type('form')
      .send({ csrf: csrfA, note: 'x', transactionIds: b.txIds[0] });
    expect(foreignTx.status).toBe(400);
    expect(foreignTx.text).toContain('not in this list');
    const none = await api.ctx.db.selectFrom('customer_reviews').select('id').execute();
    expect(none).toEqual([]);
  });

  it('refuses a note or a search holding NUL with the page and its own message (400), before Postgres sees it', async () => {
    // Postgres text cannot hold U+0000: sent on, the note or the search text failed in the database and the customer
    // got the API's JSON problem document instead of the page. (A lone surrogate cannot arrive: an undecodable escape
    // stays as typed, `%ED%A0%80`.)
    const path = new URL(url(a)).pathname;
    const csrf = /name="csrf" value="([^"]+)"/.exec((await request(api.app).get(path).expect(200)).text)?.[1];
    expect(csrf).toBeTruthy();
    const note = await request(api.app)
      .post(`${path}/problem`)
      .type('form')
      .send(`csrf=${encodeURIComponent(csrf!)}&note=the%20fee%00is%20not%20ours`);
    expect(note.status).toBe(400);
    expect(note.headers['content-type']).toMatch(/^text\/html/);
    expect(note.text).toMatch(/id="error">The note holds a character that cannot be stored/);
    expect(note.text).toContain('>the feeis not ours</textarea>');
    const search = await request(api.app).get(`${path}?q=fee%00`);
    expect(search.status).toBe(400);
    expect(search.headers['content-type']).toMatch(/^text\/html/);
    expect(search.text).toMatch(/id="error">The search text holds a character that cannot be searched for/);
    expect(await api.ctx.db.selectFrom('customer_reviews').select('id').execute()).toEqual([]);
  });

  it('searches for a long text ending in a character outside the BMP: the cut at 200 keeps whole characters', async () => {
    // The search is cut to 200 UTF-16 units; cutting an emoji in half left a lone surrogate, and the page answered 400
    // "half of a character" for text the customer typed whole.
    const path = new URL(url(a)).pathname;
    const res = await request(api.app).get(`${path}?q=${encodeURIComponent(`${'w'.repeat(199)}\u{1F600}`)}`);
    expect(res.status).toBe(200);
    expect(res.text).not.toMatch(/id="error"/);
  });

  it('takes every answer the form allows: a note of the full length in any script, and too many ticks get the page with its own message', async () => {
    // A note of 4000 characters (the field's maxlength) in Chinese is 36 kB once form-encoded: the parser's 32 kB limit
    // refused it with the API's JSON problem document instead of recording it.
    const path = new URL(url(b)).pathname;
    const csrf = /name="csrf" value="([^"]+)"/.exec((await request(api.app).get(path).expect(200)).text)?.[1];
    expect(csrf).toBeTruthy();
    const form = (note: string, ticks: readonly string[]) =>
      [`csrf=${encodeURIComponent(csrf!)}`, `note=${encodeURIComponent(note)}`]
        .concat(ticks.map((id) => `transactionIds=${id}`))
        .join('&');
    const ticks = Array.from({ length: 199 }, () => b.txIds[0]!);
    const tooMany = await request(api.app).post(`${path}/problem`).type('form').send(form('the fee is wrong', ticks));
    expect(tooMany.status).toBe(400);
    expect(tooMany.headers['content-type']).toMatch(/^text\/html/);
    expect(tooMany.text).toMatch(/id="error">Mark at most 100 transactions/);
    const forged = await request(api.app)
      .post(`${path}/problem`)
      .type('form')
      .send(
        form(
          'the fee is wrong',
          Array.from({ length: 1000 }, () => b.txIds[0]!),
        ),
      );
    expect(forged.status).toBe(413);
    expect(forged.headers['content-type']).toMatch(/^text\/html/);
    expect(forged.text).toMatch(/id="error">The answer is too long to send/);
    const note = '\u6578\u64da'.repeat(2000);
    const recorded = await request(api.app)
      .post(`${path}/problem`)
      .type('form')
      .send(form(note, [b.txIds[0]!]));
    expect(recorded.status, recorded.text.slice(0, 300)).toBe(303);
    const stored = await api.ctx.db
      .selectFrom('customer_reviews')
      .select(['note', 'report_id'])
      .where('integration_id', '=', b.integrationId)
      .execute();
    expect(stored).toEqual([{ note, report_id: b.reportId }]);
  });

  it('records both answers with the report id; "something is wrong" opens a follow-up, tells the account manager, and holds `live` when sign-off is required', async () => {
    const admin = bearer(api.adminKey);
    await request(api.app)
      .put(`/v1/integrations/${a.integrationId}/customer-review-settings`)
      .set(admin)
      .send({ requireSignoffForLive: true })
      .expect(200);
    const goLive = () =>
      transition(
        api.ctx.db,
        { integrationId: a.integrationId, to: 'live', actor: 'ops' },
        { validationReportPassed: () => Promise.resolve({ passed: true, reportId: a.reportId }) },
      );
    await expect(goLive()).rejects.toThrow(
      /guard customer_signed_off failed \(the customer has not confirmed their data yet/,
    );

    const { page } = await open(420, url(a));
    await page.fill('#note', 'The wire fee on 4 November is not ours');
    await page.check(`input[name="transactionIds"][value="${a.txIds[2]!}"]`);
    await Promise.all([page.waitForURL(/done=problem/), page.click('#problem-form button')]);
    expect(await page.locator('#done').innerText()).toContain('account manager will be in touch');

    let reviews = (
      await request(api.app).get(`/v1/integrations/${a.integrationId}/customer-reviews`).set(admin).expect(200)
    ).body as {
      data: {
        id: string;
        verdict: string;
        reportId: string;
        reviewer: { email: string };
        note: string;
        transactionIds: string[];
        followUp: { status: string } | null;
      }[];
    };
    expect(reviews.data).toEqual([
      expect.objectContaining({
        verdict: 'problem',
        reportId: a.reportId,
        reviewer: expect.objectContaining({ email: 'controller@acme.example' }) as unknown,
        note: 'The wire fee on 4 November is not ours',
        transactionIds: [a.txIds[2]],
        followUp: expect.objectContaining({ status: 'open' }) as unknown,
      }),
    ]);
    const told = await api.ctx.db
      .selectFrom('notification_deliveries')
      .select(['milestone', 'recipient_email', 'source'])
      .where('integration_id', '=', a.integrationId)
      .where('source', '=', 'customer_review')
      .execute();
    expect(told).toEqual([
      { milestone: 'review_problem_reported', recipient_email: 'max@jpm-sync.example', source: 'customer_review' },
    ]);

    await Promise.all([page.waitForURL(/done=accurate/), page.click('#accurate-form button')]);
    expect(await page.locator('#done').innerText()).toContain('complete and accurate');
    await page.close();
    // The follow-up is still open: live waits for an operator to resolve it.
    await expect(goLive()).rejects.toThrow(/the customer reported a problem with their data/);
    const problem = reviews.data[0]!;
    await request(api.app)
      .post(`/v1/integrations/${a.integrationId}/customer-reviews/${problem.id}/resolve`)
      .set(admin)
      .expect(200);
    await request(api.app)
      .post(`/v1/integrations/${a.integrationId}/customer-reviews/${problem.id}/resolve`)
      .set(admin)
      .expect(409);
    // The answer vouches for the report the customer saw: while a newer report has passed, it does not count.
    const newer = await api.ctx.db
      .selectFrom('validation_reports')
      .selectAll()
      .where('id', '=', a.reportId)
      .executeTakeFirstOrThrow();
    const newerId = uuidv7();
    await api.ctx.db
      .insertInto('validation_reports')
      .values({ ...newer, id: newerId, reasons: JSON.stringify(newer.reasons), report: JSON.stringify(newer.report) })
      .execute();
    await expect(goLive()).rejects.toThrow(
      /the customer confirmed an earlier validation report; a newer one has passed since/,
    );
    await api.ctx.db.deleteFrom('validation_reports').where('id', '=', newerId).execute();
    const live = await goLive();
    expect(live.integration.stage).toBe('live');

    reviews = (
      await request(api.app).get(`/v1/integrations/${a.integrationId}/customer-reviews`).set(admin).expect(200)
    ).body as typeof reviews;
    expect(reviews.data.map((r) => [r.verdict, r.reportId, r.followUp?.status ?? null])).toEqual([
      ['accurate', a.reportId, null],
      ['problem', a.reportId, 'resolved'],
    ]);
    const other = await api.key('admin', b.organizationId);
    expect(
      (await request(api.app).get(`/v1/integrations/${a.integrationId}/customer-reviews`).set(bearer(other))).status,
    ).toBe(404);
  });

  it('re-sends a fresh link to a controller only; the old one stops working', async () => {
    const admin = bearer(api.adminKey);
    const contacts = await api.ctx.db
      .selectFrom('integration_contacts')
      .select(['id', 'role'])
      .where('integration_id', '=', a.integrationId)
      .execute();
    const controller = contacts.find((c) => c.role === 'controller')!;
    const manager = contacts.find((c) => c.role === 'account_manager')!;
    const before = url(a);
    const res = await request(api.app)
      .post(`/v1/integrations/${a.integrationId}/review-links`)
      .set(admin)
      .send({ contactId: controller.id })
      .expect(201);
    const body = res.body as { linkId: string; reportId: string; expiresAt: string };
    expect(body).toMatchObject({ linkId: a.linkId, reportId: a.reportId, contactId: controller.id });
    expect(JSON.stringify(res.body)).not.toContain(before.split('.').at(-1)!);
    expect((await request(api.app).get(new URL(before).pathname)).status).toBe(403);
    a.expiresAt = new Date(body.expiresAt);
    expect((await request(api.app).get(new URL(url(a)).pathname)).status).toBe(200);
    const queued = await api.ctx.db
      .selectFrom('notification_deliveries')
      .select(['milestone', 'recipient_role', 'status'])
      .where('integration_id', '=', a.integrationId)
      .where('source_id', 'like', `${a.reportId}/${a.linkId}/%`)
      .execute();
    expect(queued).toEqual([{ milestone: 'validation_report_ready', recipient_role: 'controller', status: 'pending' }]);
    const refused = await request(api.app)
      .post(`/v1/integrations/${a.integrationId}/review-links`)
      .set(admin)
      .send({ contactId: manager.id });
    expect(refused.status).toBe(409);
    expect((refused.body as { code: string }).code).toBe('not_a_controller');
    const other = await api.key('admin', b.organizationId);
    expect(
      (
        await request(api.app)
          .post(`/v1/integrations/${a.integrationId}/review-links`)
          .set(bearer(other))
          .send({ contactId: controller.id })
      ).status,
    ).toBe(404);
  });

  it('wrote no review link credential (its HMAC) and no full account number into any log line', () => {
    expect(logLines.some((l) => l.includes('/review/'))).toBe(true);
    for (const s of [a, b]) {
      const mac = signReviewToken(keys, s.linkId, s.expiresAt).split('.').at(-1)!;
      expect(logLines.filter((l) => l.includes(mac))).toEqual([]);
    }
    expect(logLines.filter((l) => l.includes(ACCOUNT_NUMBER))).toEqual([]);
  });
});
