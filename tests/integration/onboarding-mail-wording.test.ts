import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addContact, createMailer, runNotificationPass, type Mailer } from '../../src/notifications/index.ts';
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
import { installCertificate, watchCertificateExpiry } from '../../src/credentials/index.ts';
import { ensureDevPki, signCsr, type DevPki } from '../../src/simulator/index.ts';
import { KeyPairSchema } from '../../src/admin-api/integration-credentials.dto.ts';
import { CSR_SUBJECT, createOrganization, ELIGIBLE } from '../factories/onboarding.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { startTestSmtp, type ReceivedMail, type TestSmtp } from '../helpers/smtp-server.ts';

/**
 * What the customer reads in milestone emails after the first pass through a stage: a CSR made again (J.P. Morgan
 * rejected the first, or the certificate is being renewed after go-live), and an overdue notice on the day a step
 * became late. Real admin API, real Postgres, a real SMTP server over STARTTLS.
 */
const FROM = '"Acme onboarding" <onboarding@jpm-sync.example>';
const OPS = 'ops@jpm-sync.example';
const PEOPLE = {
  finance: { role: 'finance_owner', name: 'Fiona Finance', email: 'fiona@acme.example' },
  security: { role: 'security_admin', name: 'Sid Security', email: 'sid@acme.example' },
  manager: { role: 'account_manager', name: 'Max Manager', email: 'max@jpm-sync.example' },
} as const;

let api: TestApi;
let pki: DevPki;
let pkiDir: string;
let smtp: TestSmtp;
let mailer: Mailer;
let organizationId: string;

beforeAll(async () => {
  api = await createTestApi();
  pkiDir = await mkdtemp(join(tmpdir(), 'jpm-sync-mail-wording-pki-'));
  pki = await ensureDevPki(pkiDir);
  smtp = await startTestSmtp({ keyPem: pki.serverKeyPem, certPem: pki.serverCertPem });
  mailer = createMailer({ url: smtp.url, from: FROM, caPem: pki.caCertPem, timeoutMs: 10_000 });
  organizationId = await createOrganization(api.t.db, 'Acme Corp');
});

afterAll(async () => {
  mailer.close();
  await smtp.close();
  await api.close();
  await rm(pkiDir, { recursive: true, force: true });
});

/** Passes until `done()` (the producer sees an event once every older transaction of the cluster has ended). */
async function passUntil(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await runNotificationPass({ db: api.t.db, mailer, retry: { baseMs: 1, maxMs: 1 } });
    expect(r.failed).toBe(0);
    if (done() || Date.now() > deadline) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const mailsOf = (name: string, subject: string): ReceivedMail[] =>
  smtp.received.filter((m) => m.subject === `${name}: ${subject}`);

async function newIntegration(name: string, expectations?: unknown): Promise<string> {
  const { id } = await createIntegration(api.t.db, {
    organizationId,
    name,
    environment: 'simulator',
    baseUrl: 'https://127.0.0.1:8443',
    serverCaPem: pki.caCertPem,
    actor: OPS,
    ...(expectations ? { expectations } : {}),
  });
  for (const p of Object.values(PEOPLE)) {
    await addContact(api.t.db, { integrationId: id, ...p, actor: OPS });
  }
  return id;
}

const postKeyPair = (id: string) =>
  request(api.app).post(`/v1/integrations/${id}/key-pairs`).set(bearer(api.adminKey)).send({ subject: CSR_SUBJECT });

async function moveTo(id: string, to: OnboardingStage): Promise<void> {
  await transition(api.t.db, { integrationId: id, to, actor: OPS });
}

/** Walks a fresh integration to awaiting_approval through the admin API's CSR route; returns the first CSR. */
async function toAwaitingApproval(id: string): Promise<string> {
  await recordEligibility(api.t.db, { integrationId: id, checklist: ELIGIBLE, actor: OPS });
  await moveTo(id, 'kickoff');
  await recordJpmProject(api.t.db, { integrationId: id, projectId: 'jpm-1', actor: OPS });
  await moveTo(id, 'technical_setup');
  const first = bodyOf(KeyPairSchema, await postKeyPair(id).expect(201));
  await recordApiAccess(api.t.db, { integrationId: id, status: 'requested', actor: OPS });
  await moveTo(id, 'security_admins');
  for (const side of ['customer', 'ours'] as const) {
    await recordSecurityAdmin(api.t.db, {
      integrationId: id,
      side,
      name: `${side} admin`,
      email: `${side}@acme.example`,
      role: 'Access admin',
      actor: OPS,
    });
  }
  await moveTo(id, 'awaiting_approval');
  return first.csrPem;
}

const CSR_SUBJECT_LINE = 'certificate request prepared for J.P. Morgan';
const ONBOARDING_NEXT = 'we will ask you to name your security administrators';

describe('milestone emails after a stage was passed', () => {
  it('a CSR made again (rejected by J.P. Morgan, or a renewal when live) does not repeat the onboarding steps', async () => {
    const name = 'Renewal Treasury';
    const id = await newIntegration(name);
    const firstCsr = await toAwaitingApproval(id);
    await passUntil(() => mailsOf(name, CSR_SUBJECT_LINE).length >= 2);
    const first = mailsOf(name, CSR_SUBJECT_LINE);
    expect(first).toHaveLength(2);
    expect(first[0]!.text).toContain(ONBOARDING_NEXT);

    // J.P. Morgan rejected the CSR while the integration awaits approval: a new one replaces it.
    await postKeyPair(id).expect(201);
    await passUntil(() => mailsOf(name, CSR_SUBJECT_LINE).length >= 4);
    const replacement = mailsOf(name, CSR_SUBJECT_LINE).slice(2);
    expect(replacement).toHaveLength(2);
    for (const m of replacement) {
      expect(m.text).not.toContain(ONBOARDING_NEXT);
      expect(m.text).not.toContain('Next we ask J.P. Morgan for access');
      expect(m.text).toContain('replaces the earlier one');
    }

    // Months after approval the certificate is renewed: the customer must not be told onboarding starts over.
    await installCertificate(api.t.db, {
      integrationId: id,
      certificatePem: await signCsr(pki, firstCsr),
      chainPem: pki.caCertPem,
      actor: OPS,
    });
    await recordApiAccess(api.t.db, { integrationId: id, status: 'confirmed', actor: OPS });
    await moveTo(id, 'approved');
    await postKeyPair(id).expect(201);
    await passUntil(() => mailsOf(name, CSR_SUBJECT_LINE).length >= 6);
    const renewal = mailsOf(name, CSR_SUBJECT_LINE).slice(4);
    expect(renewal).toHaveLength(2);
    for (const m of renewal) {
      expect(m.text).not.toContain(ONBOARDING_NEXT);
      expect(m.text).not.toContain('Next we ask J.P. Morgan for access');
      expect(m.text).toContain('renew');
      expect(m.text).toContain('the current certificate keeps working');
    }
  });

  it('a cancelled integration gets no new key pair or certificate, and its customer no mail about one', async () => {
    const name = 'Cancelled Treasury';
    const id = await newIntegration(name);
    const csrPem = await toAwaitingApproval(id);
    await moveTo(id, 'cancelled');
    await passUntil(() => mailsOf(name, CSR_SUBJECT_LINE).length >= 2);
    const mailsBefore = smtp.received.length;

    expectProblem(await postKeyPair(id), 409, 'integration_cancelled');
    expectProblem(
      await request(api.app)
        .post(`/v1/integrations/${id}/certificates`)
        .set(bearer(api.adminKey))
        .send({ certificatePem: await signCsr(pki, csrPem), chainPem: pki.caCertPem }),
      409,
      'integration_cancelled',
    );
    const keyPairs = await api.t.db.selectFrom('key_pairs').select('id').where('integration_id', '=', id).execute();
    expect(keyPairs).toHaveLength(1);
    const certificates = await api.t.db
      .selectFrom('certificates')
      .select('id')
      .where('integration_id', '=', id)
      .execute();
    expect(certificates).toHaveLength(0);
    // Nothing for the producer to mail: no CSR or certificate event was written for the refused requests.
    const events = await api.t.db
      .selectFrom('outbox_events')
      .select('type')
      .where('integration_id', '=', id)
      .where('type', 'in', ['credentials.csr_generated', 'certificate.installed'])
      .execute();
    expect(events.map((e) => e.type)).toEqual(['credentials.csr_generated']);
    await runNotificationPass({ db: api.t.db, mailer });
    // Earlier milestones of the walk may still be arriving (the producer waits for older transactions): only a mail
    // about a key pair or certificate would be about the refused requests.
    expect(
      smtp.received
        .slice(mailsBefore)
        .filter((m) => m.subject.startsWith(`${name}:`) && /certificate|approved/.test(m.subject)),
    ).toEqual([]);
  });

  it("a cancelled integration's certificate raises no expiry warning for our team", async () => {
    const name = 'Gone Treasury';
    const id = await newIntegration(name);
    const csrPem = await toAwaitingApproval(id);
    const live = await installCertificate(api.t.db, {
      integrationId: id,
      certificatePem: await signCsr(pki, csrPem, { days: 20 }),
      chainPem: pki.caCertPem,
      actor: OPS,
    });
    await moveTo(id, 'cancelled');
    const watched = await watchCertificateExpiry(api.t.db);
    expect(watched.warned.filter((w) => w.certificateId === live.id)).toEqual([]);
    await runNotificationPass({ db: api.t.db, mailer });
    const expiring = await api.t.db
      .selectFrom('notification_deliveries')
      .select('id')
      .where('integration_id', '=', id)
      .where('milestone', '=', 'certificate_expiring')
      .execute();
    expect(expiring).toEqual([]);
  });

  it('an overdue notice on the day a step became late names the date it was due, not "0 day(s)"', async () => {
    const name = 'Late Treasury';
    const id = await newIntegration(name, { stageDays: { kickoff: 2 } });
    await recordEligibility(api.t.db, { integrationId: id, checklist: ELIGIBLE, actor: OPS });
    await moveTo(id, 'kickoff');
    const row = await api.t.db
      .selectFrom('integrations')
      .select('stage_due_at')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    const due = row.stage_due_at!;
    // The daily job runs three hours after the step's due moment.
    await flagOverdue(api.t.db, new Date(due.getTime() + 3 * 3_600_000));
    const subject = 'a step is taking longer than expected';
    await passUntil(() => mailsOf(name, subject).length >= 2);
    const mails = mailsOf(name, subject);
    expect(
      mails
        .map((m) => m.to)
        .flat()
        .sort(),
    ).toEqual([PEOPLE.manager.email, PEOPLE.finance.email].sort());
    const day = new Intl.DateTimeFormat('en-GB', {
      weekday: 'long',
      day: 'numeric',
      month: 'long',
      year: 'numeric',
      timeZone: 'UTC',
    }).format(due);
    for (const m of mails) {
      expect(m.text).not.toContain('0 day(s)');
      expect(m.text).toContain(`The step "the kickoff with J.P. Morgan" was due by ${day}`);
    }
  });

  it('a right-to-left override in a name ends with the name in the subject, the plain text and the HTML, not at the end of the sentence', async () => {
    const RLO = '\u202e';
    const RLE = '\u202b';
    const PDF = '\u202c';
    const name = `Bidi ${RLO}Treasury`;
    const id = await newIntegration(name);
    // A contact named over the API, with an embedding left open.
    await request(api.app)
      .post(`/v1/integrations/${id}/contacts`)
      .set(bearer(api.adminKey))
      .send({ role: 'controller', name: `Dana ${RLE}Ops`, email: 'dana@acme.example' })
      .expect(201);
    const received = () => smtp.received.filter((m) => m.subject.includes('Treasury') && m.subject.includes('Bidi'));
    await passUntil(() => received().some((m) => m.to.includes('dana@acme.example')));
    const mails = received();
    expect(mails.length).toBeGreaterThanOrEqual(3);
    for (const m of mails) {
      // Without its closer, the override runs on over "to J.P. Morgan" (a mail client shows it reversed).
      expect(m.subject).toBe(`We have your request to connect Bidi ${RLO}Treasury${PDF} to J.P. Morgan`);
      expect(m.text).toContain(`into Bidi ${RLO}Treasury${PDF}.`);
      expect(m.html).toContain(`into Bidi ${RLO}Treasury${PDF}.</p>`);
      expect(m.html).toContain(
        `<title>We have your request to connect Bidi ${RLO}Treasury${PDF} to J.P. Morgan</title>`,
      );
    }
    const dana = mails.find((m) => m.to.includes('dana@acme.example'))!;
    expect(dana.text).toContain(`Hello Dana ${RLE}Ops${PDF},`);
    expect(dana.html).toContain(`Hello Dana ${RLE}Ops${PDF},</p>`);
  });
});
