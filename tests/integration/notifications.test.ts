import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCsr, installCertificate } from '../../src/credentials/index.ts';
import {
  addContact,
  createMailer,
  removeContact,
  runNotificationPass,
  type Mailer,
  type Milestone,
} from '../../src/notifications/index.ts';
import {
  createIntegration,
  flagOverdue,
  recordApiAccess,
  recordEligibility,
  recordJpmProject,
  recordSecurityAdmin,
  transition,
} from '../../src/onboarding/index.ts';
import type { OnboardingStage } from '../../src/domain/types.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import type { ValidationReportDocument } from '../../src/validation/index.ts';
import { ensureDevPki, signCsr, type DevPki } from '../../src/simulator/index.ts';
import { addBankAccount, createOrganization, CSR_SUBJECT, ELIGIBLE } from '../factories/onboarding.ts';
import request from 'supertest';
import { deriveReviewKeys, reviewUrl, type ReviewKeys } from '../../src/review/index.ts';
import { getReviewLink } from '../../src/storage/reviews.repo.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';
import type { TestDb } from '../helpers/db.ts';
import { startTestSmtp, type ReceivedMail, type TestSmtp } from '../helpers/smtp-server.ts';

/**
 * Milestone emails end to end: an integration walked from `requested` to `live` against a real
 * SMTP server (in process, STARTTLS with a certificate from the dev CA, which the client trusts
 * explicitly). Each milestone must arrive once, at the right people, over TLS, saying what happens
 * next and whom to contact, and never with a full account number.
 */
const secrets = { masterKey: { id: 'test-master', key: randomBytes(32) }, previousMasterKeys: [] };
const ACCOUNT_NUMBER = '000000987654321';
const FROM = '"Acme onboarding" <onboarding@jpm-sync.example>';

const PEOPLE = {
  finance: { role: 'finance_owner', name: 'Fiona Finance', email: 'fiona@acme.example' },
  security: { role: 'security_admin', name: 'Sid Security', email: 'sid@acme.example' },
  controller: { role: 'controller', name: 'Cora Controller', email: 'cora@acme.example' },
  manager: { role: 'account_manager', name: 'Max Manager', email: 'max@jpm-sync.example' },
} as const;

let api: TestApi;
let t: TestDb;
let keys: ReviewKeys;
const BASE = 'https://sync.example';
let pki: DevPki;
let pkiDir: string;
let smtp: TestSmtp;
let mailer: Mailer;
let organizationId: string;

beforeAll(async () => {
  api = await createTestApi();
  t = api.t;
  keys = deriveReviewKeys(api.ctx.secrets.masterKey.key);
  pkiDir = await mkdtemp(join(tmpdir(), 'jpm-sync-notifications-pki-'));
  pki = await ensureDevPki(pkiDir);
  smtp = await startTestSmtp({ keyPem: pki.serverKeyPem, certPem: pki.serverCertPem });
  mailer = createMailer({ url: smtp.url, from: FROM, caPem: pki.caCertPem, timeoutMs: 10_000 });
  organizationId = await createOrganization(t.db, 'Acme Corp');
});

afterAll(async () => {
  mailer.close();
  await smtp.close();
  await api.close();
  await rm(pkiDir, { recursive: true, force: true });
});

const pass = (overrides: Partial<Parameters<typeof runNotificationPass>[0]> = {}) =>
  runNotificationPass({
    db: t.db,
    mailer,
    retry: { baseMs: 1, maxMs: 1 },
    reviewUrl: async (id) => {
      const link = await getReviewLink(t.db, id);
      return link ? reviewUrl(BASE, keys, link) : undefined;
    },
    ...overrides,
  });

/**
 * Passes until `done()` (at most 30 s). The producer reads an outbox event only once every older
 * transaction of the cluster has ended (the change feed's commit-safe rule), and other databases'
 * tests share the cluster, so one pass right after a commit may legitimately see nothing yet.
 */
async function passUntil(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await pass();
    expect(r.failed).toBe(0);
    if (done() || Date.now() > deadline) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Mail received since index `from`. */
function since(from: number): ReceivedMail[] {
  return smtp.received.slice(from);
}

function recipients(mails: readonly ReceivedMail[]): string[] {
  return mails.flatMap((m) => m.to).sort();
}

/** A passed report as the validation module stores it (its making is tested in validation-report.test.ts). */
async function insertPassedReport(integrationId: string, accountId: string): Promise<string> {
  const id = uuidv7();
  const calendar = ['2026-11-02', '2026-11-03'].map((day) => ({
    day,
    state: 'proved' as const,
    differenceMinor: null,
    reason: null,
  }));
  const totals = { creditsMinor: '0', debitsMinor: '0', creditCount: 0, debitCount: 0 };
  const doc: ValidationReportDocument = {
    id,
    integration: { id: integrationId, name: 'Acme Treasury', organizationId, stage: 'validating' },
    period: { from: '2026-11-02', to: '2026-11-03', basis: 'since_approval' },
    generatedAt: new Date().toISOString(),
    passed: true,
    reasons: [],
    summary: { accounts: 1, openSuspicions: 0, proved: 2, broken: 0, unproved: 0 },
    totalsByCurrency: [{ currency: 'USD', decimalLocation: 2, ...totals }],
    accounts: [
      {
        accountId,
        accountMasked: `****${ACCOUNT_NUMBER.slice(-4)}`,
        accountName: 'OPERATING',
        currency: 'USD',
        decimalLocation: 2,
        timeZone: 'America/New_York',
        from: '2026-11-02',
        to: '2026-11-03',
        days: { proved: 2, broken: 0, unproved: 0 },
        totals,
        calendar,
        openSuspicions: 0,
      },
    ],
    suspicions: [],
    coverage: { staleHours: 26, daysNotFetched: [], failedWindows: [], staleAccounts: [] },
  };
  await t.db
    .insertInto('validation_reports')
    .values({
      id,
      organization_id: organizationId,
      integration_id: integrationId,
      period_from: '2026-11-02',
      period_to: '2026-11-03',
      requested_by: 'test',
      status: 'completed',
      passed: true,
      reasons: JSON.stringify([]),
      completed_at: new Date(),
      report: JSON.stringify(doc),
    })
    .execute();
  return id;
}

describe('milestone emails over SMTP with STARTTLS', () => {
  it('walks requested → live and mails each milestone once to the right people', async () => {
    const ops = 'ops@jpm-sync.example';
    const { id } = await createIntegration(t.db, {
      organizationId,
      name: 'Acme Treasury',
      environment: 'simulator',
      baseUrl: 'https://127.0.0.1:8443',
      serverCaPem: pki.caCertPem,
      actor: ops,
    });
    for (const p of Object.values(PEOPLE)) {
      await addContact(t.db, { integrationId: id, ...p, actor: ops });
    }
    const move = (to: OnboardingStage) =>
      transition(
        t.db,
        { integrationId: id, to, actor: ops },
        { validationReportPassed: () => Promise.resolve({ passed: true, reportId: 'r' }) },
      );
    const sent: { milestone: Milestone; mails: ReceivedMail[] }[] = [];
    const customer = [PEOPLE.finance.email, PEOPLE.security.email, PEOPLE.controller.email].sort();
    const expected: Record<string, string[]> = {
      request_received: customer,
      kickoff_scheduled: customer,
      csr_submitted: [PEOPLE.finance.email, PEOPLE.security.email].sort(),
      security_admins_needed: [PEOPLE.finance.email, PEOPLE.security.email].sort(),
      waiting_for_jpm: customer,
      approved: customer,
      data_flowing: customer,
      validation_report_ready: [PEOPLE.controller.email, PEOPLE.finance.email].sort(),
      live: customer,
    };
    const step = async (milestone: Milestone, act: () => Promise<unknown>) => {
      const before = smtp.received.length;
      await act();
      await passUntil(() => since(before).length >= (expected[milestone]?.length ?? 0));
      sent.push({ milestone, mails: since(before) });
    };

    await step('request_received', () => Promise.resolve());
    await step('kickoff_scheduled', async () => {
      await recordEligibility(t.db, { integrationId: id, checklist: ELIGIBLE, actor: ops });
      await move('kickoff');
    });
    await recordJpmProject(t.db, { integrationId: id, projectId: 'jpm-4711', actor: ops });
    await move('technical_setup');
    let keyPair: Awaited<ReturnType<typeof generateCsr>> | undefined;
    await step('csr_submitted', async () => {
      keyPair = await generateCsr(t.db, secrets, { integrationId: id, subject: CSR_SUBJECT, actor: ops });
    });
    await step('security_admins_needed', async () => {
      await recordApiAccess(t.db, { integrationId: id, status: 'requested', actor: ops });
      await move('security_admins');
    });
    await step('waiting_for_jpm', async () => {
      await recordSecurityAdmin(t.db, {
        integrationId: id,
        side: 'customer',
        name: 'Sid Security',
        email: 'sid@acme.example',
        role: 'Access admin',
        actor: ops,
      });
      await recordSecurityAdmin(t.db, {
        integrationId: id,
        side: 'ours',
        name: 'Omar Ours',
        email: 'omar@jpm-sync.example',
        role: 'Platform',
        actor: ops,
      });
      await move('awaiting_approval');
    });
    await step('approved', async () => {
      await installCertificate(t.db, {
        integrationId: id,
        certificatePem: await signCsr(pki, keyPair!.csrPem),
        chainPem: pki.caCertPem,
        actor: ops,
      });
      await recordApiAccess(t.db, { integrationId: id, status: 'confirmed', actor: ops });
      await move('approved');
    });
    let accountId = '';
    await step('data_flowing', async () => {
      accountId = await addBankAccount(t.db, { id, organizationId }, ACCOUNT_NUMBER);
      await move('validating');
    });
    // Going live waits for the customer's sign-off on this integration.
    await request(api.app)
      .put(`/v1/integrations/${id}/customer-review-settings`)
      .set(bearer(api.adminKey))
      .send({ requireSignoffForLive: true })
      .expect(200);
    let reportId = '';
    await step('validation_report_ready', async () => {
      reportId = await insertPassedReport(id, accountId);
    });
    await expect(move('live')).rejects.toThrow(/guard customer_signed_off failed/);
    // The controller follows the link from their email and confirms the data.
    const link = /Review your data: (\S+)/.exec(
      sent.at(-1)!.mails.find((m) => m.to.includes(PEOPLE.controller.email))!.text,
    )?.[1];
    expect(link).toMatch(/^https:\/\/sync\.example\/review\//);
    const path = new URL(link!).pathname;
    const page = await request(api.app).get(path).expect(200);
    expect(page.text).toContain('Review your data: Acme Treasury');
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1];
    await request(api.app).post(`${path}/accurate`).type('form').send({ csrf }).expect(303);
    const reviews = await t.db
      .selectFrom('customer_reviews')
      .select(['verdict', 'report_id', 'reviewer_email'])
      .where('integration_id', '=', id)
      .execute();
    expect(reviews).toEqual([{ verdict: 'accurate', report_id: reportId, reviewer_email: PEOPLE.controller.email }]);
    await step('live', () => move('live'));

    for (const s of sent) {
      expect({ milestone: s.milestone, to: recipients(s.mails) }).toEqual({
        milestone: s.milestone,
        to: expected[s.milestone],
      });
    }
    const all = sent.flatMap((s) => s.mails);
    for (const m of all) {
      expect(m.secure).toBe(true);
      expect(m.headers.get('from')).toContain('onboarding@jpm-sync.example');
      expect(m.text).toContain('What happens next:');
      expect(m.html).toContain('What happens next:');
      // Every customer message names our account manager as the person to contact.
      expect(m.text).toContain('Max Manager (max@jpm-sync.example)');
      expect(m.raw).not.toContain(ACCOUNT_NUMBER);
      expect(m.raw).not.toContain(ACCOUNT_NUMBER.slice(0, -4));
      expect(m.raw).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
    }
    const byMilestone = (m: Milestone) => sent.find((s) => s.milestone === m)!.mails;
    expect(byMilestone('request_received')[0]?.subject).toBe(
      'We have your request to connect Acme Treasury to J.P. Morgan',
    );
    const admins = byMilestone('security_admins_needed').find((m) => m.to.includes(PEOPLE.security.email))!;
    expect(admins.text).toContain('What we need from you:');
    expect(admins.text).toContain('Security Administrator in your J.P. Morgan Access profile');
    const waiting = byMilestone('waiting_for_jpm')[0]!;
    expect(waiting.text).toMatch(/we expect their approval by \w+day, \d{1,2} \w+ 20\d\d\./);
    // The controller's "report ready" carries the review link; the finance owner's does not.
    const ready = byMilestone('validation_report_ready');
    expect(ready.find((m) => m.to.includes(PEOPLE.controller.email))!.text).toMatch(
      /Review your data: https:\/\/sync\.example\/review\/[0-9a-f-]{36}\.\d+\.[\w-]{43}\r?\n/,
    );
    expect(ready.find((m) => m.to.includes(PEOPLE.finance.email))!.text).not.toContain('/review/');
    // Each message has its own stable Message-ID.
    expect(new Set(all.map((m) => m.headers.get('message-id'))).size).toBe(all.length);

    // Nothing twice: more passes send nothing, and the log shows every delivery sent once.
    const before = smtp.received.length;
    await pass();
    await pass();
    expect(smtp.received.length).toBe(before);
    const log = await t.db
      .selectFrom('notification_deliveries')
      .select(['milestone', 'status', 'attempts'])
      .where('integration_id', '=', id)
      .execute();
    expect(log).toHaveLength(all.length);
    expect(log.every((l) => l.status === 'sent' && l.attempts === 1)).toBe(true);
  });

  it('retries a temporary SMTP refusal, logging each attempt, and sends once', async () => {
    const { id } = await createIntegration(t.db, {
      organizationId,
      name: 'Retry Co',
      environment: 'cat',
      actor: 'ops',
    });
    smtp.failNext(1);
    await addContact(t.db, { integrationId: id, ...PEOPLE.finance, actor: 'ops' });
    const before = smtp.received.length;
    // A retry delay long enough that the pass which failed does not reach the message again (with 1 ms,
    // a pass still claiming other work could retry it at once), short enough to wait for.
    const retry = { retry: { baseMs: 300, maxMs: 300 } };
    const first = await pass(retry);
    expect(first).toMatchObject({ attempted: 1, sent: 0, retrying: 1 });
    await new Promise((r) => setTimeout(r, 350));
    const second = await pass(retry);
    expect(second).toMatchObject({ attempted: 1, sent: 1 });
    expect(recipients(since(before))).toEqual([PEOPLE.finance.email]);
    const attempts = await t.db
      .selectFrom('notification_attempts as a')
      .innerJoin('notification_deliveries as d', 'd.id', 'a.delivery_id')
      .select(['a.attempt', 'a.outcome', 'a.error'])
      .where('d.integration_id', '=', id)
      .orderBy('a.attempt')
      .execute();
    expect(attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'failed'],
      [2, 'sent'],
    ]);
    expect(attempts[0]?.error).toContain('SMTP 451');
  });

  it('mails a contact whose domain is internationalized, to its punycode form (no SMTPUTF8 needed)', async () => {
    const { id } = await createIntegration(t.db, {
      organizationId,
      name: 'Bücher AG',
      environment: 'cat',
      actor: 'ops',
    });
    const contact = await addContact(t.db, {
      integrationId: id,
      role: 'finance_owner',
      name: 'Anna Bücher',
      email: 'Anna@Bücher.example',
      actor: 'ops',
    });
    expect(contact.email).toBe('Anna@xn--bcher-kva.example');
    const before = smtp.received.length;
    expect(await pass()).toMatchObject({ attempted: 1, sent: 1 });
    const [mail] = since(before);
    // On the wire the address is ASCII (the test server decodes the envelope's domain back to Unicode).
    expect(mail?.headers.get('to')).toContain('Anna@xn--bcher-kva.example');
    expect(mail?.to).toEqual(['Anna@bücher.example']);
    const log = await t.db
      .selectFrom('notification_deliveries')
      .select(['recipient_email', 'status'])
      .where('integration_id', '=', id)
      .execute();
    expect(log).toEqual([{ recipient_email: 'Anna@xn--bcher-kva.example', status: 'sent' }]);
  });

  it('is at least once: a send whose answer is lost is sent again, with the same Message-ID, from the one delivery row', async () => {
    const { id } = await createIntegration(t.db, {
      organizationId,
      name: 'Lost Answer Co',
      environment: 'cat',
      actor: 'ops',
    });
    await addContact(t.db, { integrationId: id, ...PEOPLE.finance, actor: 'ops' });
    // The server takes the message, then the answer never reaches us (a timeout, or a crash before the record).
    const losing: Mailer = {
      from: mailer.from,
      async send(m) {
        await mailer.send(m);
        throw Object.assign(new Error('Timeout'), { code: 'ETIMEDOUT' });
      },
      close: () => undefined,
    };
    const before = smtp.received.length;
    const retry = { retry: { baseMs: 300, maxMs: 300 } };
    expect(await pass({ ...retry, mailer: losing })).toMatchObject({ attempted: 1, sent: 0, retrying: 1 });
    await new Promise((r) => setTimeout(r, 350));
    expect(await pass(retry)).toMatchObject({ attempted: 1, sent: 1 });
    const mails = since(before);
    expect(recipients(mails)).toEqual([PEOPLE.finance.email, PEOPLE.finance.email]);
    const [first, second] = mails.map((m) => m.headers.get('message-id'));
    expect(first).toBeTruthy();
    expect(second).toBe(first);
    const rows = await t.db
      .selectFrom('notification_deliveries')
      .select(['id', 'status', 'attempts'])
      .where('integration_id', '=', id)
      .execute();
    expect(rows).toEqual([{ id: expect.any(String) as string, status: 'sent', attempts: 2 }]);
    expect(first).toContain(rows[0]?.id);
  });

  it('does not retry an address the server refuses for good (5xx)', async () => {
    const { id } = await createIntegration(t.db, {
      organizationId,
      name: 'Bounce Co',
      environment: 'cat',
      actor: 'ops',
    });
    smtp.failNext(1, 550);
    await addContact(t.db, { integrationId: id, ...PEOPLE.controller, actor: 'ops' });
    expect(await pass()).toMatchObject({ attempted: 1, sent: 0, retrying: 0, failed: 1 });
    await new Promise((r) => setTimeout(r, 20));
    expect(await pass()).toMatchObject({ attempted: 0 });
    const log = await t.db
      .selectFrom('notification_deliveries')
      .select(['status', 'attempts', 'last_error'])
      .where('integration_id', '=', id)
      .execute();
    expect(log).toEqual([
      { status: 'failed', attempts: 1, last_error: expect.stringContaining('SMTP 550') as unknown },
    ]);
  });

  it('does not send a message that missed its window (email off, server away): it ends failed', async () => {
    const { id } = await createIntegration(t.db, {
      organizationId,
      name: 'Late Mail Co',
      environment: 'cat',
      actor: 'ops',
    });
    await addContact(t.db, { integrationId: id, ...PEOPLE.finance, actor: 'ops' });
    await t.db
      .updateTable('notification_deliveries')
      .set({ give_up_at: new Date(Date.now() - 1000) })
      .where('integration_id', '=', id)
      .execute();
    const before = smtp.received.length;
    expect(await pass()).toMatchObject({ expired: 1 });
    expect(since(before).filter((m) => m.subject.includes('Late Mail Co'))).toEqual([]);
    const log = await t.db
      .selectFrom('notification_deliveries')
      .select(['status', 'attempts', 'last_error'])
      .where('integration_id', '=', id)
      .execute();
    expect(log).toEqual([{ status: 'failed', attempts: 0, last_error: 'not sent in time: too late to be news' }]);
  });

  it('does not mail a contact removed before the message went out', async () => {
    const { id } = await createIntegration(t.db, { organizationId, name: 'Gone Co', environment: 'cat', actor: 'ops' });
    const contact = await addContact(t.db, { integrationId: id, ...PEOPLE.finance, actor: 'ops' });
    await removeContact(t.db, { integrationId: id, contactId: contact.id, actor: 'ops' });
    const before = smtp.received.length;
    await pass();
    expect(since(before)).toEqual([]);
    const log = await t.db
      .selectFrom('notification_deliveries')
      .select(['status', 'last_error'])
      .where('integration_id', '=', id)
      .execute();
    expect(log).toEqual([{ status: 'failed', last_error: 'the contact was removed before the message was sent' }]);
  });

  it('mails overdue to the finance owner and our account manager, and certificate expiry only to our team', async () => {
    const { id } = await createIntegration(t.db, { organizationId, name: 'Late Co', environment: 'cat', actor: 'ops' });
    await addContact(t.db, { integrationId: id, ...PEOPLE.controller, actor: 'ops' });
    await addContact(t.db, { integrationId: id, ...PEOPLE.manager, actor: 'ops' });
    await addContact(t.db, { integrationId: id, ...PEOPLE.finance, actor: 'ops' });
    await pass();
    const before = smtp.received.length;
    await flagOverdue(t.db, new Date(Date.now() + 60 * 86_400_000));
    await t.db
      .insertInto('outbox_events')
      .values({
        organization_id: organizationId,
        integration_id: id,
        type: 'certificate.expiring',
        payload: JSON.stringify({
          integrationId: id,
          commonName: 'late-co',
          environment: 'cat',
          thresholdDays: 30,
          daysLeft: 29,
          notAfter: '2027-01-05T00:00:00.000Z',
        }),
      })
      .execute();
    // flagOverdue flags every integration of the database, so other tests' integrations may mail
    // too: wait for this one's three, by subject, not for any three.
    const overdueOf = (mails: readonly ReceivedMail[]) =>
      mails.filter((m) => m.subject === 'Late Co: a step is taking longer than expected');
    const expiringOf = (mails: readonly ReceivedMail[]) =>
      mails.filter((m) => m.subject.startsWith('Late Co: ') && m.subject.includes('certificate expires'));
    await passUntil(() => overdueOf(since(before)).length >= 2 && expiringOf(since(before)).length >= 1);
    await pass();
    const mails = since(before);
    // The whole process is past its 42 days (the requested stage has no due date of its own).
    const overdue = overdueOf(mails);
    expect(recipients(overdue)).toEqual([PEOPLE.manager.email, PEOPLE.finance.email].sort());
    expect(overdue[0]?.text).toMatch(/Getting connected is taking longer than we planned: \d+ day\(s\) past/);
    const expiring = expiringOf(mails);
    expect(recipients(expiring)).toEqual([PEOPLE.manager.email]);
    expect(expiring[0]?.text).toContain('Tuesday, 5 January 2027');
  });

  it('refuses a server without STARTTLS and one whose certificate it does not trust', async () => {
    const plain = await startTestSmtp(
      { keyPem: pki.serverKeyPem, certPem: pki.serverCertPem },
      { disabledCommands: ['STARTTLS', 'AUTH'] },
    );
    const other = await ensureDevPki(join(pkiDir, 'other-ca'));
    try {
      const noTls = createMailer({ url: plain.url, from: FROM, caPem: pki.caCertPem, timeoutMs: 5_000 });
      await expect(
        noTls.send({ to: 'x@acme.example', subject: 's', text: 't', html: '<p>t</p>', messageId: '<a@b>' }),
      ).rejects.toThrow();
      noTls.close();
      const wrongCa = createMailer({ url: smtp.url, from: FROM, caPem: other.caCertPem, timeoutMs: 5_000 });
      await expect(
        wrongCa.send({ to: 'x@acme.example', subject: 's', text: 't', html: '<p>t</p>', messageId: '<c@d>' }),
      ).rejects.toThrow(/certificate/i);
      wrongCa.close();
      expect(plain.received).toHaveLength(0);
    } finally {
      await plain.close();
    }
  });
});
