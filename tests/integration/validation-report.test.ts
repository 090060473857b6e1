import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transition } from '../../src/onboarding/index.ts';
import { addDays, localDate } from '../../src/shared/time.ts';
import { createValidationReportProvider, healAccountDays, validationReportPassed } from '../../src/validation/index.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { startValidationSim, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * The validation report end to end: data synced from the simulator, a report through the API that
 * fails while a day is broken and passes once healed, the onboarding `live` transition refused and
 * then allowed by it, and the HTML page a person sends the customer. The API runs on the real clock,
 * so the simulator's business date is today in New York; the report period is explicit.
 */
let api: TestApi;
let v: ValidationSim;
let from: string;
let to: string;
let admin: { Authorization: string };

// Markup, and a right-to-left override left open (it must end with the name, not reverse the period after it).
const HOSTILE = 'Acme <script>alert("x")</script> & \u202eSons';

beforeAll(async () => {
  api = await createTestApi();
  admin = bearer(api.adminKey);
  const today = localDate(new Date(), 'America/New_York');
  v = await startValidationSim(api.ctx.db, {
    today,
    seed: 'validation-report',
    historyDays: 16,
    txPerDay: 8,
    quirks: { latePostings: false },
  });
  to = addDays(today, -1);
  from = addDays(today, -10);
  await api.ctx.db
    .updateTable('integrations')
    .set({ stage: 'validating', name: HOSTILE })
    .where('id', '=', v.tenancy.integrationId)
    .execute();
  for (const a of v.accounts) {
    await v.syncRange(a.id, from, to);
  }
});

afterAll(async () => {
  await v.stop();
  await api.close();
});

async function runReport(body: object = { from, to }) {
  const res = await request(api.app)
    .post(`/v1/integrations/${v.tenancy.integrationId}/validations`)
    .set(admin)
    .send(body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as {
    id: string;
    passed: boolean;
    reasons: string[];
    report: {
      accounts: {
        accountId: string;
        calendar: { day: string; state: string; differenceMinor: string | null }[];
        days: Record<string, number>;
      }[];
    };
  };
}

async function goLive() {
  return transition(
    api.ctx.db,
    { integrationId: v.tenancy.integrationId, to: 'live', actor: 'cs@bank-sync.example' },
    {
      validationReportPassed: createValidationReportProvider(api.ctx.db),
    },
  );
}

describe('validation report and the onboarding live guard', () => {
  it('without a report, going live is refused with the reason', async () => {
    expect(await validationReportPassed(api.ctx.db, v.tenancy.integrationId)).toEqual({
      passed: false,
      reason: 'no validation report has been completed for this integration',
    });
    const err = await goLive().then(
      () => null,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err).toMatchObject({ code: 'transition_refused' });
    expect(err!.message).toMatch(/no validation report has been completed/);
  });

  it('a broken day fails the report and blocks live; after the heal the report passes and live is allowed', async () => {
    const a = v.accounts[0]!;
    const victim = await api.ctx.db
      .selectFrom('transactions')
      .select(['id', 'booking_date', 'amount_minor', 'direction'])
      .where('account_id', '=', a.id)
      .where('status', '=', 'posted')
      .where('booking_date', '<=', to)
      .orderBy('booking_date', 'desc')
      .orderBy('id')
      .executeTakeFirstOrThrow();
    await sql`delete from transaction_versions where transaction_id = ${victim.id}`.execute(api.ctx.db);
    await sql`delete from transaction_decisions where transaction_id = ${victim.id} or related_transaction_id = ${victim.id}`.execute(
      api.ctx.db,
    );
    await sql`delete from transactions where id = ${victim.id}`.execute(api.ctx.db);

    const failed = await runReport();
    expect(failed.passed).toBe(false);
    const sign = victim.direction === 'credit' ? '' : '-';
    const day = failed.report.accounts
      .find((x) => x.accountId === a.id)!
      .calendar.find((d) => d.day === victim.booking_date)!;
    // The cause is named: the bank's tallies of the day no longer match the rows we hold.
    expect(day).toMatchObject({
      day: victim.booking_date,
      state: 'broken',
      differenceMinor: `${sign}${victim.amount_minor}`,
      reason: 'differs_from_bank',
    });
    expect((day as { explanation?: string }).explanation).toMatch(
      /^Our posted transactions differ from what the bank reported for the day: credits /,
    );
    expect(failed.reasons.join('\n')).toMatch(
      new RegExp(`1 broken day\\(s\\): ${victim.booking_date} off by .* \\(differs from bank\\)`),
    );
    const refused = await goLive().then(
      () => null,
      (e: unknown) => e as { code: string; message: string; details: unknown },
    );
    expect(refused).toMatchObject({
      code: 'transition_refused',
      details: { failedGuards: [expect.objectContaining({ guard: 'validation_passed' })] },
    });
    expect(refused!.message).toContain(`validation report ${failed.id} failed`);

    const healed = await healAccountDays(
      { db: api.ctx.db, refetch: v.syncRange, now: () => new Date() },
      { accountId: a.id },
    );
    expect(healed.windows.map((w) => w.outcome)).toEqual(['healed']);
    const passed = await runReport();
    expect(passed).toMatchObject({ passed: true, reasons: [] });
    for (const acc of passed.report.accounts) {
      expect(acc.days).toMatchObject({ broken: 0, unproved: 0 });
      expect(acc.days.proved).toBeGreaterThan(4);
    }
    const live = await goLive();
    expect(live.integration).toMatchObject({ stage: 'live' });
    const event = await api.ctx.db
      .selectFrom('outbox_events')
      .select(['payload'])
      .where('integration_id', '=', v.tenancy.integrationId)
      .where('type', '=', 'integration.live')
      .executeTakeFirstOrThrow();
    expect(event.payload).toMatchObject({ validationReportId: passed.id });
  });

  it('lists, reads and renders reports; the HTML page escapes every value', async () => {
    type Page = { data: { id: string }[]; nextCursor: string | null };
    const list = await request(api.app)
      .get(`/v1/integrations/${v.tenancy.integrationId}/validations?limit=1`)
      .set(admin);
    expect(list.status).toBe(200);
    const first = list.body as Page;
    expect(first.data).toHaveLength(1);
    expect(first.data[0]).toMatchObject({ status: 'completed', passed: true, periodFrom: from, periodTo: to });
    const next = await request(api.app)
      .get(`/v1/integrations/${v.tenancy.integrationId}/validations?limit=1&cursor=${first.nextCursor!}`)
      .set(admin);
    expect((next.body as Page).data[0]).toMatchObject({ passed: false });

    const id = first.data[0]!.id;
    const one = await request(api.app).get(`/v1/validations/${id}`).set(admin);
    expect(one.status).toBe(200);
    expect((one.body as { report: unknown }).report).toMatchObject({
      id,
      passed: true,
      integration: { name: HOSTILE },
    });

    const page = await request(api.app).get(`/v1/validations/${id}.html`).set(admin);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.text).toContain(
      `<title>Validation report · Acme &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; \u202eSons\u202c · ${from} to ${to}</title>`,
    );
    expect(page.text).not.toContain('<script>');
    expect(page.text.match(/<svg class="calendar"/g)).toHaveLength(v.accounts.length);

    const docs = (await request(api.app).get('/openapi.json')).body as {
      paths: Record<string, { get?: { responses: Record<string, { content: object }> } }>;
    };
    expect(Object.keys(docs.paths)).toEqual(
      expect.arrayContaining([
        '/v1/integrations/{id}/validations',
        '/v1/validations/{id}',
        '/v1/validations/{id}.html',
      ]),
    );
    expect(docs.paths['/v1/validations/{id}.html']!.get!.responses['200']!.content).toHaveProperty('text/html');
  });

  it('checks roles and organizations', async () => {
    const viewer = bearer(await api.key('viewer'));
    expectProblem(
      await request(api.app).post(`/v1/integrations/${v.tenancy.integrationId}/validations`).set(viewer).send({}),
      403,
      'forbidden',
    );
    const other = await api.ctx.db
      .insertInto('organizations')
      .values({ id: '01900000-0000-7000-8000-0000000000aa', name: 'Other' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const foreign = bearer(await api.key('admin', other.id));
    const list = await request(api.app).get(`/v1/integrations/${v.tenancy.integrationId}/validations`).set(foreign);
    expect(list.status).toBe(404);
    expect(
      (await request(api.app).get(`/v1/validations/${'01900000-0000-7000-8000-0000000000ff'}.html`).set(admin)).status,
    ).toBe(404);
    expect((await request(api.app).get(`/v1/integrations/${v.tenancy.integrationId}/validations`)).status).toBe(401);
  });

  it("defaults the period to the approval date and records a person's suspicion review through the API", async () => {
    const approvedAt = new Date(`${addDays(to, -3)}T15:00:00Z`);
    await api.ctx.db
      .insertInto('integration_transitions')
      .values({
        organization_id: v.tenancy.organizationId,
        integration_id: v.tenancy.integrationId,
        from_stage: 'awaiting_approval',
        to_stage: 'approved',
        actor: 'test',
        note: '',
        created_at: approvedAt,
      })
      .execute();
    const r = await runReport({});
    expect(r).toMatchObject({ passed: true });
    const stored = await api.ctx.db
      .selectFrom('validation_reports')
      .select(['period_from', 'period_to'])
      .where('id', '=', r.id)
      .executeTakeFirstOrThrow();
    expect(stored).toEqual({ period_from: addDays(to, -3), period_to: to });

    const missing = await request(api.app)
      .post('/v1/duplicate-suspicions/01900000-0000-7000-8000-0000000000ff/review')
      .set(admin)
      .send({ status: 'not_duplicate' });
    expectProblem(missing, 404, 'not_found');
  });

  it('the CLI prints the verdict with a progress bar, writes the HTML page and exits 0 on a pass, 1 on a fail', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'validate-cli-'));
    const out = join(dir, 'report.html');
    const run = (args: string[]) =>
      promisify(execFile)(join(process.cwd(), 'node_modules/.bin/node'), ['src/main/cli.ts', 'validate', ...args], {
        env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: api.t.url, LOG_LEVEL: 'warn' },
      }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    try {
      const ok = await run(['--integration', v.tenancy.integrationId, '--from', from, '--to', to, '--html', out]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/verdict: PASSED/);
      expect(ok.stderr).toContain(`[${'█'.repeat(24)}] ${v.accounts.length}/${v.accounts.length} accounts`);
      expect(await readFile(out, 'utf8')).toMatch(/^<!doctype html>/);

      const account = v.accounts[1]!;
      const last = await api.ctx.db
        .selectFrom('balances')
        .select('as_of_date')
        .where('account_id', '=', account.id)
        .where('kind', '=', 'final')
        .where('as_of_date', '<=', to)
        .orderBy('as_of_date', 'desc')
        .executeTakeFirstOrThrow();
      await api.ctx.db
        .deleteFrom('balances')
        .where('account_id', '=', account.id)
        .where('as_of_date', '=', last.as_of_date)
        .where('kind', '=', 'final')
        .execute();
      const bad = await run(['--integration', v.tenancy.integrationId, '--from', from, '--to', to]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/verdict: FAILED/);
      expect(bad.stdout).toMatch(/1 unproved day\(s\): .*no final balance/);

      expect((await run(['--integration', 'nope'])).code).toBe(2);

      // An HTML path that cannot be written is a usage error before any work: no report is stored.
      const count = async () =>
        Number(
          (
            await api.ctx.db
              .selectFrom('validation_reports')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      const reports = await count();
      for (const html of [join(dir, 'no-such-dir', 'x.html'), dir]) {
        const refused = await run([
          '--integration',
          v.tenancy.integrationId,
          '--from',
          from,
          '--to',
          to,
          '--html',
          html,
        ]);
        expect(refused.code, html).toBe(2);
        expect(refused.stderr).toContain('--html');
        expect(refused.stdout).toBe('');
      }
      expect(await count()).toBe(reports);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
