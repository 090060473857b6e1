import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/admin-api/api-keys.service.ts';
import { generateCsr, installCertificate } from '../../src/credentials/index.ts';
import { createIntegration } from '../../src/onboarding/index.ts';
import { startWorkers, type RunningWorkers } from '../../src/scheduler/index.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { formatMinorUnits } from '../../src/shared/money.ts';
import { addDays, localDate } from '../../src/shared/time.ts';
import { NO_QUIRKS, signCsr, startSimulator, type RunningSimulator } from '../../src/simulator/index.ts';
import { insertCustomerReview, insertReviewLinks } from '../../src/storage/reviews.repo.ts';
import { CSR_SUBJECT, createOrganization } from '../factories/onboarding.ts';
import { createAccount } from '../factories/tenancy.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { resolveChromium } from '../helpers/chromium.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { obliterate } from '../helpers/orchestration.ts';
import { TEST_STALL } from '../helpers/recording-bank.ts';

/**
 * The operator console in real headless Chromium (playwright-core) against the real app, Postgres,
 * Redis, queue workers and the simulator over mTLS: sign-in and its session, an onboarding move that
 * is refused with its reason and then made, a backfill whose progress bar advances on the page
 * without a reload, and a day's drill-down from the validation calendar. Every page is checked with
 * axe-core (no serious or critical violation), must log no console error (a CSP violation is one),
 * must request nothing from another origin, and must fit 420 px and 1280 px; screenshots go to
 * test-artifacts/console/.
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ZONE = 'America/New_York';
const OPS = 'ops@jpm-sync.example';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'console');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface Watched {
  page: Page;
  errors: string[];
  foreign: string[];
}

describe('operator console in headless chromium', () => {
  let api: TestApi;
  let server: Server;
  let base: string;
  let browser: Browser;
  let sim: RunningSimulator;
  let pkiDir: string;
  let worker: RunningWorkers | undefined;
  let orgId: string;
  let onboardingId: string;
  let syncsId: string;
  let accountId: string;
  let operatorKey: string;
  let viewerKey: string;
  const today = localDate(new Date(), ZONE);
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    api = await createTestApi();
    server = await new Promise<Server>((resolve) => {
      const s = api.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    pkiDir = await mkdtemp(join(tmpdir(), 'console-pki-'));
    sim = await startSimulator({
      pkiDir,
      today,
      seed: 'console',
      accounts: [{ currency: 'USD' }],
      historyDays: 30,
      txPerDay: 4,
      quirks: NO_QUIRKS,
    });
    // A customer name with markup: it must show as text everywhere.
    orgId = await createOrganization(api.t.db, 'Acme <b>Treasury</b>');
    onboardingId = (
      await createIntegration(api.t.db, {
        organizationId: orgId,
        name: 'Acme <i>Onboarding</i>',
        actor: OPS,
        environment: 'simulator',
        baseUrl: sim.url,
      })
    ).id;
    const syncs = await createIntegration(api.t.db, {
      organizationId: orgId,
      name: 'Acme Syncs',
      environment: 'simulator',
      baseUrl: sim.url,
      serverCaPem: sim.caCertPem,
      actor: OPS,
    });
    syncsId = syncs.id;
    const kp = await generateCsr(api.t.db, api.ctx.secrets, {
      integrationId: syncsId,
      subject: CSR_SUBJECT,
      actor: OPS,
    });
    await installCertificate(api.t.db, {
      integrationId: syncsId,
      certificatePem: await signCsr(sim.pki, kp.csrPem),
      chainPem: sim.caCertPem,
      actor: OPS,
    });
    await api.t.db.updateTable('integrations').set({ stage: 'validating' }).where('id', '=', syncsId).execute();
    accountId = (
      await createAccount(
        api.t.db,
        { organizationId: orgId, integrationId: syncsId },
        {
          jpmAccountId: sim.accounts[0]!.accountId,
          currency: 'USD',
          decimalLocation: 2,
          timeZone: ZONE,
        },
      )
    ).id;
    operatorKey = await api.key('operator', orgId);
    viewerKey = await api.key('viewer', orgId);
    await mkdir(ARTIFACTS, { recursive: true });
    const { executablePath } = await resolveChromium();
    browser = await chromium.launch({ executablePath, args: ARGS, headless: true });
  });

  afterAll(async () => {
    for (const c of contexts) {
      await c.close();
    }
    await browser?.close();
    await worker?.close();
    server?.close();
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
    await sim?.stop();
    await rm(pkiDir, { recursive: true, force: true });
  });

  /** Queue workers, one job at a time (so a backfill's windows finish one after another). */
  function startWorker(): void {
    worker ??= startWorkers(
      {
        queues: api.ctx.queues,
        sync: {
          db: api.ctx.db,
          clientFor: (id) => api.ctx.clientFor(id),
          now: () => new Date(),
          logger: createLogger('sync'),
          lookbackDays: 2,
        },
        logger: createLogger('scheduler'),
      },
      {
        redisUrl: REDIS_URL,
        database: { url: api.t.url, poolMax: 3 },
        concurrency: 1,
        stall: TEST_STALL,
        busyRetryMs: 200,
      },
    );
  }

  async function open(width = 1280): Promise<Watched> {
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    const errors: string[] = [];
    const foreign: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') {
        errors.push(m.text());
      }
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('data:')) {
        foreign.push(r.url());
      }
    });
    return { page, errors, foreign };
  }

  async function signIn(w: Watched, key: string): Promise<void> {
    await w.page.goto(`${base}/console/sign-in`);
    await w.page.getByLabel('API key').fill(key);
    await w.page.getByRole('button', { name: 'Sign in' }).click();
    await w.page.waitForURL(`${base}/console/`);
  }

  /** axe-core from node_modules, run in the page (evaluate is not subject to the page's CSP). */
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

  /** Accessibility, layout at both widths, a screenshot of each; no console error, nothing foreign. */
  async function inspect(w: Watched, name: string): Promise<void> {
    for (const width of [1280, 420]) {
      await w.page.setViewportSize({ width, height: 900 });
      // At both widths: on a phone, wide tables scroll sideways and must be reachable by keyboard.
      expect(await axe(w.page), `${name} at ${width}px: axe serious/critical violations`).toEqual([]);
      expect(
        await w.page.evaluate<number>('document.documentElement.scrollWidth'),
        `${name} fits ${width}px`,
      ).toBeLessThanOrEqual(width);
      await w.page.screenshot({ path: join(ARTIFACTS, `${name}-${width}.png`), fullPage: true });
    }
    await w.page.setViewportSize({ width: 1280, height: 900 });
    expect(w.errors, `${name}: console errors`).toEqual([]);
    expect(w.foreign, `${name}: requests to other origins`).toEqual([]);
  }

  it('signs in with an API key into an httpOnly, SameSite=Strict session; a wrong key is refused; revoking the key ends the session', async () => {
    const w = await open();
    await w.page.goto(`${base}/console/`);
    expect(w.page.url()).toBe(`${base}/console/sign-in`);
    await inspect(w, 'sign-in');
    await w.page.getByLabel('API key').fill('jpms_abcdefgh_wrongwrongwrongwrongwrongwrongwrongwron');
    await w.page.getByRole('button', { name: 'Sign in' }).click();
    await expect
      .poll(() => w.page.getByRole('alert').textContent())
      .toContain('The API key is malformed, unknown or revoked.');

    const { row, token } = await createApiKey(api.t.db, {
      name: 'Olivia Operator',
      role: 'operator',
      organizationId: orgId,
      createdByKeyId: null,
    });
    await signIn(w, token);
    await expect.poll(() => w.page.getByRole('heading', { level: 1 }).textContent()).toBe('Onboarding board');
    expect(await w.page.locator('header.top').textContent()).toContain('Olivia Operator');
    const cookies = await w.page.context().cookies();
    const session = cookies.find((c) => c.name === 'jpms_console');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    // Opaque: the cookie is a random token, never the key or anything derived from it.
    expect(session!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session!.value).not.toContain(row.prefix);
    const stored = await api.ctx.queues.redis.keys(`${api.ctx.queues.prefix}:console:session:*`);
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.join(' ')).not.toContain(session!.value);

    // The customer's name is text, not markup.
    expect(await w.page.locator(`[data-integration-id="${onboardingId}"] h3`).textContent()).toBe(
      'Acme <i>Onboarding</i>',
    );
    expect(await w.page.locator('main i').count()).toBe(0);

    // A form post without the session's CSRF token is refused and changes nothing.
    const forged = await w.page.context().request.post(`${base}/console/integrations/${onboardingId}/actions/stage`, {
      form: { to: 'cancelled' },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    expect(
      (
        await api.t.db
          .selectFrom('integrations')
          .select('stage')
          .where('id', '=', onboardingId)
          .executeTakeFirstOrThrow()
      ).stage,
    ).toBe('requested');

    const revoked = await request(api.app).post(`/v1/api-keys/${row.id}/revoke`).set(bearer(api.adminKey));
    expect(revoked.status).toBe(200);
    await w.page.goto(`${base}/console/`);
    expect(w.page.url()).toBe(`${base}/console/sign-in`);
    expect(await api.ctx.queues.redis.exists(stored[0]!)).toBe(0);
  });

  it("shows what blocks the next move, refuses a move with the API's reason, records the missing facts, then moves one stage", async () => {
    const w = await open();
    await signIn(w, operatorKey);
    const card = () => w.page.locator(`[data-integration-id="${onboardingId}"]`);
    expect(await w.page.locator('#stage-requested').locator(`[data-integration-id="${onboardingId}"]`).count()).toBe(1);
    expect(await card().locator('ul.blockers li').allTextContents()).toEqual([
      'eligibility checklist incomplete: J.P. Morgan Access account confirmed; not a Chase Connect account; J.P. Morgan representative named; person with signing authority named',
    ]);
    expect((await card().locator('p.meta').nth(1).textContent())!.replace(/\s+/g, ' ')).toMatch(
      /^0 day\(s\) in requested · live due \d{4}-\d{2}-\d{2}/,
    );
    await inspect(w, 'board');

    await card().getByLabel('Move to', { exact: true }).selectOption('kickoff');
    await card().getByRole('button', { name: 'Move' }).click();
    await w.page.waitForURL(`${base}/console/`);
    const refusal = await w.page.getByRole('alert').textContent();
    expect(refusal).toContain(
      'Not done: cannot move the integration from requested to kickoff: guard eligibility_complete failed (eligibility checklist incomplete',
    );
    expect(
      (
        await api.t.db
          .selectFrom('integrations')
          .select('stage')
          .where('id', '=', onboardingId)
          .executeTakeFirstOrThrow()
      ).stage,
    ).toBe('requested');

    // The missing facts, recorded with the form the failed guard asks for.
    await card().getByText('Record what is missing').click();
    await card().getByLabel('Has a J.P. Morgan Access account').selectOption('yes');
    await card().getByLabel('The account is not Chase Connect').selectOption('yes');
    await card().getByLabel('J.P. Morgan representative').fill('Rita Representative');
    await card().getByLabel('Person with signing authority').fill('Sam Signer');
    await card().getByRole('button', { name: 'Record eligibility' }).click();
    await expect
      .poll(() => w.page.getByRole('status').first().textContent())
      .toContain('Eligibility answers recorded.');
    expect(await card().locator('.ready').textContent()).toBe('Ready to move to kickoff.');

    await card().getByLabel('Move to', { exact: true }).selectOption('kickoff');
    await card().getByLabel('Note').fill('kick-off call booked');
    await card().getByRole('button', { name: 'Move' }).click();
    await expect.poll(() => w.page.getByRole('status').first().textContent()).toContain('Moved to kickoff.');
    expect(await w.page.locator('#stage-kickoff').locator(`[data-integration-id="${onboardingId}"]`).count()).toBe(1);
    const history = await api.t.db
      .selectFrom('integration_transitions')
      .select(['from_stage', 'to_stage', 'actor', 'note'])
      .where('integration_id', '=', onboardingId)
      .orderBy('id')
      .execute();
    expect(history.at(-1)).toMatchObject({
      from_stage: 'requested',
      to_stage: 'kickoff',
      note: 'kick-off call booked',
    });
    // The console's calls are in the audit log as the API's own: the refusal and the move.
    const audit = await api.t.db
      .selectFrom('audit_log')
      .select(['route', 'status_code'])
      .where('target_id', '=', onboardingId)
      .orderBy('id')
      .execute();
    expect(audit.filter((a) => a.route === '/v1/integrations/{id}/stage').map((a) => a.status_code)).toEqual([
      409, 200,
    ]);
    expect(w.errors).toEqual([]);

    // A viewer sees the board but no action; a forged post with its own token is refused by the API's role table.
    const v = await open();
    await signIn(v, viewerKey);
    expect(await v.page.locator(`[data-integration-id="${onboardingId}"] form`).count()).toBe(0);
    const csrf = await v.page.locator('header form input[name="_csrf"]').getAttribute('value');
    const refused = await v.page.context().request.post(`${base}/console/integrations/${onboardingId}/actions/stage`, {
      form: { _csrf: csrf!, _back: '/console/', to: 'cancelled' },
      maxRedirects: 0,
    });
    expect(refused.status()).toBe(303);
    await v.page.reload();
    expect(await v.page.getByRole('alert').textContent()).toContain(
      'The viewer role does not have the integrations:write permission.',
    );
    expect(
      (
        await api.t.db
          .selectFrom('integrations')
          .select('stage')
          .where('id', '=', onboardingId)
          .executeTakeFirstOrThrow()
      ).stage,
    ).toBe('kickoff');
  });

  it('queues a re-sync range and its progress bar advances on the page while the backfill runs, without a reload', async () => {
    const w = await open();
    await signIn(w, operatorKey);
    await w.page.goto(`${base}/console/integrations/${syncsId}`);
    const resync = w.page.locator('form[action$="/resync"]');
    await resync.getByLabel('Account').selectOption(accountId);
    await resync.getByLabel('From').fill(addDays(today, -14));
    await resync.getByLabel('To').fill(addDays(today, -3));
    await resync.getByRole('button', { name: 'Re-sync range' }).click();
    await expect.poll(() => w.page.getByRole('status').first().textContent()).toContain('queued: 1 run(s)');
    const bar = w.page.locator('.run-progress progress').first();
    const total = Number(await bar.getAttribute('max'));
    expect(total).toBeGreaterThanOrEqual(2);
    expect(Number(await bar.getAttribute('value'))).toBe(0);
    await inspect(w, 'integration');
    await w.page.evaluate('window.__sameDocument = true');

    // No worker ran yet; now one does, one window at a time. The bank asks us to slow down once after
    // the first window (429 with Retry-After), so the page has a moment to show the bar part-way.
    sim.injectFaults([{ kind: 'rate-limit', count: 1, after: 1, retryAfterSeconds: 2 }]);
    startWorker();
    const seen: number[] = [];
    const deadline = Date.now() + 120_000;
    let status = '';
    while (Date.now() < deadline) {
      const state = await w.page.evaluate<{ value: number; status: string }>(
        `(() => { const d = document.querySelector('.run-progress'); return { value: Number(d.querySelector('progress').value), status: d.dataset.status }; })()`,
      );
      if (seen.at(-1) !== state.value) {
        seen.push(state.value);
      }
      status = state.status;
      if (status !== 'queued' && status !== 'running') {
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe('succeeded');
    expect(seen[0]).toBe(0);
    expect(seen.at(-1)).toBe(total);
    expect(
      seen.some((v) => v > 0 && v < total),
      `an intermediate value among ${seen.join(', ')}`,
    ).toBe(true);
    console.log(`progress values seen on the page: ${seen.join(' → ')} of ${total}`);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
    }
    expect(await w.page.evaluate<boolean>('window.__sameDocument === true')).toBe(true);
    expect(await w.page.locator('.run-progress').first().getAttribute('hx-get')).toBeNull();
    expect(w.errors).toEqual([]);
  });

  it('runs the validation report from the console, then drills from a calendar day into its proof and transactions', async () => {
    const w = await open();
    await signIn(w, operatorKey);
    await w.page.goto(`${base}/console/integrations/${syncsId}`);
    expect(await w.page.locator('ul.blockers').textContent()).toContain('validation report not passed');
    await w.page.getByText('Record what is missing').click();
    const validation = w.page.locator('form[action$="/actions/validation"]');
    await validation.getByLabel('From').fill(addDays(today, -14));
    await validation.getByLabel('To').fill(addDays(today, -3));
    await validation.getByRole('button', { name: 'Run a validation report' }).click();
    await expect.poll(() => w.page.locator('.flash').textContent()).toMatch(/Validation report (passed|did not pass)/);

    await w.page.getByRole('link', { name: `****${sim.accounts[0]!.accountId.slice(-4)}` }).click();
    await w.page.waitForURL(`${base}/console/accounts/${accountId}`);
    const days = await api.t.db
      .selectFrom('account_days')
      .select(['day', 'state', 'opening_ledger_minor', 'closing_ledger_minor', 'credit_count', 'debit_count'])
      .where('account_id', '=', accountId)
      .orderBy('day')
      .execute();
    const proved = days.filter((d) => d.state === 'proved');
    expect(proved.length).toBeGreaterThan(0);
    expect(await w.page.locator('svg.calendar a').count()).toBe(days.length);
    await inspect(w, 'account');

    // Keyboard: the day's square is a link; Enter opens the day.
    const day = proved.find((d) => d.credit_count + d.debit_count > 0) ?? proved[0]!;
    await w.page.locator(`svg.calendar a[href$="/days/${day.day}"]`).focus();
    await w.page.keyboard.press('Enter');
    await w.page.waitForURL(`${base}/console/accounts/${accountId}/days/${day.day}`);
    expect(await w.page.getByRole('heading', { level: 1 }).textContent()).toContain(day.day);
    expect(await w.page.locator('.day-state').getAttribute('data-state')).toBe('proved');
    const row = (name: string) => w.page.locator('tr', { has: w.page.locator(`th:text-is("${name}")`) });
    expect(await row('Opening ledger').locator('td').last().textContent()).toBe(
      `${formatMinorUnits(BigInt(day.opening_ledger_minor!), 2).replace(/\B(?=(\d{3})+(?!\d))/g, ',')} USD`,
    );
    expect(await row('Closing ledger').locator('td').last().textContent()).toBe(
      `${formatMinorUnits(BigInt(day.closing_ledger_minor!), 2).replace(/\B(?=(\d{3})+(?!\d))/g, ',')} USD`,
    );
    const stored = await api.t.db
      .selectFrom('transactions')
      .select('id')
      .where('account_id', '=', accountId)
      .where('booking_date', '=', day.day)
      .execute();
    expect(await w.page.locator('tr[data-transaction-id]').count()).toBe(stored.length);
    await inspect(w, 'day');
  });
  it("creates a customer's integration and takes it from requested to live using only the console", async () => {
    const w = await open();
    await signIn(w, operatorKey);
    // Created from the board (a key scoped to one organization creates it there).
    await w.page.getByText('New integration').click();
    const create = w.page.locator('form[action="/console/integrations"]');
    await create.getByLabel('Name').fill('Acme Walk');
    await create.getByLabel('Environment').selectOption('simulator');
    await create.getByLabel('Base URL').fill(sim.url);
    await create.getByLabel('Server CA').fill(sim.caCertPem);
    await create.getByRole('button', { name: 'Create integration' }).click();
    await w.page.waitForURL(/\/console\/integrations\/[0-9a-f-]{36}$/);
    const walkId = w.page.url().split('/').at(-1)!;
    const pageUrl = `${base}/console/integrations/${walkId}`;
    expect(await w.page.locator('.flash').textContent()).toContain('Integration Acme Walk requested.');
    expect(
      await api.t.db
        .selectFrom('integrations')
        .select(['organization_id', 'stage'])
        .where('id', '=', walkId)
        .executeTakeFirstOrThrow(),
    ).toEqual({ organization_id: orgId, stage: 'requested' });
    // The first such form: the one the next move asks for (rotation forms further down repeat some).
    const form = (action: string) =>
      w.page.locator(`form[action$="/integrations/${walkId}/actions/${action}"]`).first();
    const ok = async (text: string) => {
      await w.page.waitForURL(pageUrl);
      const flash = await w.page.locator('.flash').textContent();
      expect(flash, flash ?? '').toContain(text);
    };
    const move = async (to: string) => {
      await form('stage').getByLabel('Move to', { exact: true }).selectOption(to);
      await form('stage').getByRole('button', { name: 'Move' }).click();
      await ok(`Moved to ${to.replaceAll('_', ' ')}.`);
    };
    const open_ = async () => {
      const summary = w.page.getByText('Record what is missing');
      if (
        (await summary.count()) > 0 &&
        (await w.page.locator('details:has(> summary:text("Record what is missing"))').getAttribute('open')) === null
      ) {
        await summary.click();
      }
    };

    // Who is told about the milestones.
    await w.page.getByText('Add a contact').click();
    await form('contact').getByLabel('Role').selectOption('finance_owner');
    await form('contact').getByLabel('Name').fill('Fiona Finance');
    await form('contact').getByLabel('Email').fill('fiona@acme.example');
    await form('contact').getByRole('button').click();
    await ok('Fiona Finance will be told about the milestones.');
    expect(await w.page.locator('section[aria-labelledby="h-told"] h3 + ul li').allTextContents()).toEqual([
      'finance owner: Fiona Finance (fiona@acme.example)',
    ]);
    expect(await w.page.locator('section[aria-labelledby="h-told"]').textContent()).toContain(
      'No answer from the customer yet.',
    );

    await open_();
    await form('eligibility').getByLabel('Has a J.P. Morgan Access account').selectOption('yes');
    await form('eligibility').getByLabel('The account is not Chase Connect').selectOption('yes');
    await form('eligibility').getByLabel('J.P. Morgan representative').fill('Rita Representative');
    await form('eligibility').getByLabel('Person with signing authority').fill('Sam Signer');
    await form('eligibility').getByRole('button').click();
    await ok('Eligibility answers recorded.');
    await move('kickoff');

    await open_();
    await form('jpm-project').getByLabel('Developer-portal project id').fill('JPM-PRJ-42');
    await form('jpm-project').getByRole('button').click();
    await ok('J.P. Morgan project recorded.');
    await move('technical_setup');

    // A bad CSR subject: the API's own validation message, field by field.
    await open_();
    await form('key-pair').getByLabel('Country').fill('USA');
    await form('key-pair').getByLabel('Organization').fill('Acme Walk Inc.');
    await form('key-pair').getByRole('button').click();
    await w.page.waitForURL(pageUrl);
    expect(await w.page.getByRole('alert').textContent()).toMatch(/Not done: .*country/is);
    await open_();
    await form('key-pair').getByLabel('Country').fill('US');
    await form('key-pair').getByLabel('Organization').fill('Acme Walk Inc.');
    await form('key-pair').getByRole('button').click();
    await ok('Key pair and CSR generated.');
    const [download] = await Promise.all([
      w.page.waitForEvent('download'),
      w.page.locator('.flash a', { hasText: 'Download the CSR' }).click(),
    ]);
    const csrPem = readFileSync(await download.path(), 'utf8');
    expect(csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    await open_();
    await form('api-access').getByRole('button', { name: 'Record: API access requested' }).click();
    await ok('API access recorded as requested.');
    await move('security_admins');

    for (const [side, name] of [
      ['customer', 'Cara Customer'],
      ['provider', 'Pat Provider'],
    ] as const) {
      await open_();
      const admin = form('security-admin').first();
      await admin.getByLabel('Side').selectOption(side);
      await admin.getByLabel('Name').fill(name);
      await admin.getByLabel('Email').fill(`${side}@example.com`);
      await admin.getByLabel('Role').fill('security administrator');
      await admin.getByRole('button').click();
      await ok(`Security administrator recorded (${side} side).`);
    }
    await move('awaiting_approval');

    // J.P. Morgan (the simulator's CA) signs the CSR the console handed out.
    await open_();
    // The certificate is chosen as the file J.P. Morgan sent (static/console.js reads it into the form); the chain is pasted.
    const issuedPem = await signCsr(sim.pki, csrPem);
    await form('certificate')
      .getByLabel('Or choose the certificate file')
      .setInputFiles({ name: 'acme-walk.crt', mimeType: 'application/x-x509-ca-cert', buffer: Buffer.from(issuedPem) });
    await expect
      .poll(() =>
        form('certificate')
          .getByRole('textbox', { name: /^Certificate/ })
          .inputValue(),
      )
      .toBe(issuedPem);
    await form('certificate')
      .getByRole('textbox', { name: /^Chain/ })
      .fill(sim.caCertPem);
    await form('certificate').getByRole('button', { name: 'Install certificate' }).click();
    await ok('Certificate installed');
    await open_();
    await form('api-access').getByRole('button', { name: 'Record: J.P. Morgan confirmed API access' }).click();
    await ok('API access recorded as confirmed by J.P. Morgan.');
    await move('approved');

    await open_();
    await form('discover').getByLabel('Time zone of new accounts').fill(ZONE);
    await form('discover').getByRole('button').click();
    await ok('Accounts discovered at J.P. Morgan: 1, of which 1 new.');
    await move('validating');

    startWorker();
    const resync = w.page.locator('form[action$="/resync"]');
    await resync.getByLabel('From').fill(addDays(today, -14));
    await resync.getByLabel('To').fill(addDays(today, -3));
    await resync.getByRole('button').click();
    await ok('queued: 1 run(s)');
    await expect
      .poll(() => w.page.locator('.run-progress').first().getAttribute('data-status'), { timeout: 120_000 })
      .toBe('succeeded');
    await w.page.reload();
    await open_();
    await form('validation').getByLabel('From').fill(addDays(today, -14));
    await form('validation').getByLabel('To').fill(addDays(today, -3));
    await form('validation').getByRole('button').click();
    await ok('Validation report passed.');
    await move('live');
    expect(
      (await api.t.db.selectFrom('integrations').select('stage').where('id', '=', walkId).executeTakeFirstOrThrow())
        .stage,
    ).toBe('live');
    const steps = await api.t.db
      .selectFrom('integration_transitions')
      .select('to_stage')
      .where('integration_id', '=', walkId)
      .orderBy('id')
      .execute();
    expect(steps.map((t) => t.to_stage)).toEqual([
      'requested',
      'kickoff',
      'technical_setup',
      'security_admins',
      'awaiting_approval',
      'approved',
      'validating',
      'live',
    ]);
    // Day-to-day operations on the same page: the connection test, an account paused and resumed,
    // and the last certificate refused retirement with the API's reason.
    await form('test-connection').getByRole('button').click();
    await ok('Connection to J.P. Morgan works: 1 entitled account(s).');
    await form('pause-account').getByRole('button', { name: 'Pause' }).click();
    await ok('paused: no syncs until it is resumed.');
    await form('resume-account').getByRole('button', { name: 'Resume' }).click();
    await ok('resumed.');
    await form('retire-certificate').getByRole('button', { name: 'Retire' }).click();
    await w.page.waitForURL(pageUrl);
    expect(await w.page.getByRole('alert').textContent()).toMatch(/Not done: .*(only|last) usable certificate/i);

    // The customer answers "something is wrong" on their review page (rows as the review page writes
    // them); the operator sees the answer and resolves its follow-up here.
    const report = await api.t.db
      .selectFrom('validation_reports')
      .select('id')
      .where('integration_id', '=', walkId)
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
    const contact = await api.t.db
      .selectFrom('integration_contacts')
      .select('id')
      .where('integration_id', '=', walkId)
      .executeTakeFirstOrThrow();
    const [link] = await insertReviewLinks(api.t.db, [
      {
        id: uuidv7(),
        organizationId: orgId,
        integrationId: walkId,
        reportId: report.id,
        contactId: contact.id,
        expiresAt: new Date(Date.now() + 86_400_000),
      },
    ]);
    await insertCustomerReview(api.t.db, {
      id: uuidv7(),
      organizationId: orgId,
      integrationId: walkId,
      linkId: link!.id,
      reportId: report.id,
      contactId: contact.id,
      reviewerName: 'Fiona Finance',
      reviewerEmail: 'fiona@acme.example',
      verdict: 'problem',
      note: 'a wire of <b>5 Dec</b> is missing',
      transactionIds: [],
    });
    await w.page.goto(pageUrl);
    const told = w.page.locator('section[aria-labelledby="h-told"]');
    expect((await told.textContent())!.replace(/\s+/g, ' ')).toContain(
      'Fiona Finance answered something is wrong: “a wire of <b>5 Dec</b> is missing” (follow-up open)',
    );
    await form('resolve-review').getByRole('button', { name: 'Resolve the follow-up' }).click();
    await ok('Follow-up resolved.');
    expect((await told.textContent())!.replace(/\s+/g, ' ')).toContain('(follow-up resolved)');

    await w.page.goto(pageUrl);
    await inspect(w, 'integration-live');
    // The README's picture of the console (small: a JPEG of the first screen).
    await w.page.setViewportSize({ width: 1100, height: 760 });
    await w.page.screenshot({ path: join(ARTIFACTS, 'readme.jpg'), type: 'jpeg', quality: 70 });
    expect(w.errors).toEqual([]);
    expect(w.foreign).toEqual([]);
  });
});
