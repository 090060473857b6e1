import { execFile } from 'node:child_process';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  credentialFor,
  credentialSource,
  generateCsr,
  getCsrPem,
  installCertificate,
  listCertificates,
  listKeyPairs,
  retireCertificate,
  refreshCertificateExpiryMetric,
  rewrapKeys,
  setEnvironment,
  watchCertificateExpiry,
  type JpmCredential,
} from '../../src/credentials/index.ts';
import { createIntegration, listMilestones } from '../../src/onboarding/index.ts';
import { AppError } from '../../src/shared/errors.ts';
import { initLogger } from '../../src/shared/logger.ts';
import { certificateDaysToExpiry } from '../../src/shared/metrics.ts';
import { createClientCredential, ensureDevPki, signCsr, type DevPki } from '../../src/simulator/index.ts';
import { updateIntegrationLifecycle } from '../../src/storage/integration-lifecycle.repo.ts';
import { createTestCa, issueForForeignKey, issueFromCsr, SERVER_AUTH_ONLY } from '../factories/certificates.ts';
import { createOrganization, CSR_SUBJECT } from '../factories/onboarding.ts';
import { createTestDb, feedSettled, type TestDb } from '../helpers/db.ts';

const DAY = 86_400_000;
const m1 = { id: 'master-1', key: randomBytes(32) };
const m2 = { id: 'master-2', key: randomBytes(32) };
let secrets = { masterKey: m1, previousMasterKeys: [] as (typeof m1)[] };
const ops = 'ops@jpm-sync.example';

/** Every line every logger writes during this file, at trace level. */
const logLines: string[] = [];
/** Every private key this file ever held in memory: none may show up in the database or the logs. */
const keysSeen: string[] = [];

async function credential(db: TestDb['db'], integrationId: string, now?: Date): Promise<JpmCredential> {
  const c = await credentialFor(db, secrets, integrationId, now);
  keysSeen.push(c.keyPem);
  return c;
}

async function refusedWith(p: Promise<unknown>, code: string): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect(err).toMatchObject({ code });
  return err as AppError;
}

describe('credentials (Postgres, simulator CA)', () => {
  let t: TestDb;
  let pki: DevPki;
  let pkiDir: string;
  let organizationId: string;

  beforeAll(async () => {
    initLogger({ level: 'trace', format: 'json', destination: { write: (line: string) => void logLines.push(line) } });
    t = await createTestDb();
    pkiDir = await mkdtemp(join(tmpdir(), 'jpm-sync-credentials-pki-'));
    pki = await ensureDevPki(pkiDir);
    organizationId = await createOrganization(t.db);
  });
  afterAll(async () => {
    initLogger({ level: 'silent', format: 'json' });
    await t.drop();
    await rm(pkiDir, { recursive: true, force: true });
  });

  const newIntegration = async (name: string) =>
    createIntegration(t.db, {
      organizationId,
      name,
      environment: 'simulator',
      baseUrl: 'https://127.0.0.1:8443',
      serverCaPem: pki.caCertPem,
      actor: ops,
    });

  it('generates a key pair and CSR, keeps only ciphertext, and serves the CSR for download', async () => {
    const { id } = await newIntegration('Acme Treasury');
    const kp = await generateCsr(t.db, secrets, {
      integrationId: id,
      subject: { ...CSR_SUBJECT, commonName: 'acme-jpm' },
      algorithm: 'RSA-3072',
      actor: ops,
    });
    expect(kp).toMatchObject({
      commonName: 'acme-jpm-sim',
      algorithm: 'RSA-3072',
      environment: 'simulator',
      masterKeyId: 'master-1',
    });
    expect(kp.subject).toBe('C=US, ST=New York, L=New York, O=Acme Treasury Inc., OU=Treasury Ops, CN=acme-jpm-sim');
    expect(await getCsrPem(t.db, id, kp.id)).toBe(kp.csrPem);
    const views = await listKeyPairs(t.db, id);
    expect(views).toHaveLength(1);
    expect(Object.keys(views[0]!).some((k) => /cipher|wrapped|iv|tag|private/i.test(k))).toBe(false);
    const stored = await t.db
      .selectFrom('key_pairs')
      .select(['private_key_ciphertext', 'wrapped_data_key', 'master_key_id'])
      .where('id', '=', kp.id)
      .executeTakeFirstOrThrow();
    expect(stored.master_key_id).toBe('master-1');
    expect(() => createPrivateKey({ key: stored.private_key_ciphertext, format: 'der', type: 'pkcs8' })).toThrow();
    await refusedWith(credentialFor(t.db, secrets, id), 'no_certificate');
    // A CN for another environment is refused before any key is made.
    await expect(
      generateCsr(t.db, secrets, {
        integrationId: id,
        subject: { ...CSR_SUBJECT, commonName: 'acme-jpm-prod' },
        actor: ops,
      }),
    ).rejects.toThrow(/is for prod/);
  });

  it('refuses bad certificates with the reason and stores none of them', async () => {
    const { id } = await newIntegration('Refusals Inc');
    const kp = await generateCsr(t.db, secrets, {
      integrationId: id,
      subject: CSR_SUBJECT,
      algorithm: 'EC-P256',
      actor: ops,
    });
    const install = (certificatePem: string, chainPem?: string) =>
      installCertificate(t.db, { integrationId: id, certificatePem, chainPem: chainPem ?? pki.caCertPem, actor: ops });
    const problems = async (certificatePem: string, chainPem?: string) =>
      (await refusedWith(install(certificatePem, chainPem), 'certificate_refused')).message;

    const foreignCa = await createTestCa('CN=Some Other CA');
    expect(await problems(await issueForForeignKey(foreignCa, `CN=${kp.commonName}`), foreignCa.certPem)).toBe(
      'certificate refused: its public key does not match any key pair generated for this integration (issued for another CSR?)',
    );
    expect(
      await problems(await signCsr(pki, kp.csrPem, { notBefore: new Date(Date.now() - 40 * DAY), days: 30 })),
    ).toMatch(/^certificate refused: the certificate expired on \d{4}-/);
    expect(
      await problems(await signCsr(pki, kp.csrPem, { notBefore: new Date(Date.now() + 2 * DAY), days: 30 })),
    ).toMatch(/^certificate refused: the certificate is not yet valid: valid from \d{4}-/);
    expect(
      await problems(await issueFromCsr(foreignCa, kp.csrPem, { eku: SERVER_AUTH_ONLY }), foreignCa.certPem),
    ).toContain('extended key usage does not include clientAuth');
    expect(await problems(await issueFromCsr(foreignCa, kp.csrPem))).toContain(
      'the certificate was not issued by the given chain/CA',
    );
    expect(
      await problems(await issueFromCsr(foreignCa, kp.csrPem, { subject: 'CN=someone-else-sim' }), foreignCa.certPem),
    ).toContain('its Common Name "someone-else-sim" differs from the CSR\'s "refusals-inc-sim"');
    // Someone pastes a private key along with the certificate: refused, and never stored or logged.
    const pasted = await createClientCredential(pki, { commonName: 'paste-sim' });
    keysSeen.push(pasted.keyPem);
    await refusedWith(
      install(`${await signCsr(pki, kp.csrPem)}\n${pasted.keyPem}`),
      'certificate_contains_private_key',
    );
    expect(await listCertificates(t.db, id)).toEqual([]);
  });

  it('rotates: two active certificates per CN at most, the credential id switches to the newest, the old one retires', async () => {
    const { id, organizationId: org } = await newIntegration('Rotation Co');
    const kpA = await generateCsr(t.db, secrets, { integrationId: id, subject: CSR_SUBJECT, actor: ops });
    const certA = await installCertificate(t.db, {
      integrationId: id,
      certificatePem: await signCsr(pki, kpA.csrPem),
      chainPem: pki.caCertPem,
      actor: ops,
    });
    const source = credentialSource(t.db, secrets, id);
    const a = await credential(t.db, id);
    expect(a).toMatchObject({
      id: certA.id,
      baseUrl: 'https://127.0.0.1:8443',
      caPem: pki.caCertPem,
      environment: 'simulator',
    });
    expect(new X509Certificate(a.certPem).checkPrivateKey(createPrivateKey(a.keyPem))).toBe(true);
    // The private key is not enumerable: spreading, logging or serializing a credential drops it.
    expect(Object.keys(a)).not.toContain('keyPem');
    expect(JSON.stringify(a)).not.toContain('PRIVATE KEY');
    expect((await source()).id).toBe(certA.id);

    // Installing the same certificate again is a no-op; a new one (new key, same CN) becomes current.
    expect(
      (await installCertificate(t.db, { integrationId: id, certificatePem: certA.certificatePem, actor: ops })).id,
    ).toBe(certA.id);
    const kpB = await generateCsr(t.db, secrets, { integrationId: id, subject: CSR_SUBJECT, actor: ops });
    const certB = await installCertificate(t.db, {
      integrationId: id,
      certificatePem: await signCsr(pki, kpB.csrPem),
      chainPem: pki.caCertPem,
      actor: ops,
    });
    const b = await credential(t.db, id);
    expect(b.id).toBe(certB.id);
    expect(b.keyPem).not.toBe(a.keyPem);
    const fromSource = await source();
    keysSeen.push(fromSource.keyPem);
    expect(fromSource.id).toBe(certB.id);

    // A third active certificate for the CN is J.P. Morgan's limit: refused until one is retired.
    const kpC = await generateCsr(t.db, secrets, { integrationId: id, subject: CSR_SUBJECT, actor: ops });
    const certCPem = await signCsr(pki, kpC.csrPem);
    const tooMany = await refusedWith(
      installCertificate(t.db, { integrationId: id, certificatePem: certCPem, actor: ops }),
      'too_many_active_certificates',
    );
    expect(tooMany.message).toBe(
      'Common Name rotation-co-sim already has 2 active certificates (J.P. Morgan allows 2); retire the old one first',
    );
    const retired = await retireCertificate(t.db, { integrationId: id, certificateId: certA.id, actor: ops });
    expect(retired).toMatchObject({ status: 'retired', retiredBy: ops });
    expect((await credential(t.db, id)).id).toBe(certB.id);
    await refusedWith(
      retireCertificate(t.db, { integrationId: id, certificateId: certA.id, actor: ops }),
      'certificate_not_active',
    );
    await refusedWith(
      installCertificate(t.db, { integrationId: id, certificatePem: certA.certificatePem, actor: ops }),
      'certificate_already_installed',
    );

    // A syncing integration keeps at least one usable certificate unless forced.
    await updateIntegrationLifecycle(t.db, id, { stage: 'live' });
    await refusedWith(
      retireCertificate(t.db, { integrationId: id, certificateId: certB.id, actor: ops }),
      'last_usable_certificate',
    );
    const certC = await installCertificate(t.db, { integrationId: id, certificatePem: certCPem, actor: ops });
    expect((await source()).id).toBe(certC.id);
    await retireCertificate(t.db, { integrationId: id, certificateId: certB.id, actor: ops });
    await retireCertificate(t.db, { integrationId: id, certificateId: certC.id, actor: ops, force: true });
    await refusedWith(credentialFor(t.db, secrets, id), 'no_certificate');

    expect((await listCertificates(t.db, id)).map((c) => c.status)).toEqual(['retired', 'retired', 'retired']);
    await feedSettled(t.db);
    const types = (await listMilestones(t.db, id)).map((e) => e.type);
    expect(types.filter((x) => x === 'certificate.installed')).toHaveLength(3);
    expect(types.filter((x) => x === 'certificate.retired')).toHaveLength(3);
    expect(org).toBe(organizationId);
  });

  it('watches expiry: warns at 60, 30 and 7 days once each, marks expired, and syncs get certificate_expired', async () => {
    const { id } = await newIntegration('Expiry Co');
    const kp = await generateCsr(t.db, secrets, {
      integrationId: id,
      subject: CSR_SUBJECT,
      algorithm: 'EC-P256',
      actor: ops,
    });
    const start = Date.now();
    const cert = await installCertificate(t.db, {
      integrationId: id,
      certificatePem: await signCsr(pki, kp.csrPem, { notBefore: new Date(start - 60_000), days: 70 }),
      actor: ops,
    });
    const watch = async (days: number) =>
      (await watchCertificateExpiry(t.db, new Date(start + days * DAY))).warned
        .filter((w) => w.certificateId === cert.id)
        .map((w) => w.thresholdDays);

    expect(await watch(0)).toEqual([]);
    expect(await watch(11)).toEqual([60]);
    expect(await watch(12)).toEqual([]);
    // Skipping straight to 25 days left sends the 30-day warning only.
    expect(await watch(45)).toEqual([30]);
    await refreshCertificateExpiryMetric(t.db, new Date(start + 45 * DAY));
    expect((await certificateDaysToExpiry.get()).values.find((v) => v.labels.integration === id)?.value).toBe(24);
    expect(await watch(64)).toEqual([7]);
    expect(await watch(65)).toEqual([]);
    expect((await credential(t.db, id, new Date(start + 65 * DAY))).id).toBe(cert.id);

    const expired = await watchCertificateExpiry(t.db, new Date(start + 71 * DAY));
    expect(expired.expired).toContainEqual({ certificateId: cert.id, integrationId: id });
    expect(expired.integrationsWithoutCertificate).toContain(id);
    const integration = await t.db
      .selectFrom('integrations')
      .select(['sync_status', 'sync_status_reason'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(integration.sync_status).toBe('certificate_expired');
    const err = await refusedWith(credentialFor(t.db, secrets, id, new Date(start + 71 * DAY)), 'certificate_expired');
    expect(err.message).toMatch(
      /^the simulator certificate of integration .* expired on \d{4}-.*; install a renewed certificate$/,
    );
    expect(err.retryable).toBe(false);

    await feedSettled(t.db);
    const events = (await listMilestones(t.db, id)).filter((e) => e.type.startsWith('certificate.exp'));
    expect(events.map((e) => [e.type, (e.payload as { thresholdDays?: number }).thresholdDays])).toEqual([
      ['certificate.expiring', 60],
      ['certificate.expiring', 30],
      ['certificate.expiring', 7],
      ['certificate.expired', undefined],
    ]);

    // A renewed certificate clears the status (installed at the later date, from a fresh CSR).
    const renewal = await generateCsr(t.db, secrets, {
      integrationId: id,
      subject: CSR_SUBJECT,
      algorithm: 'EC-P256',
      actor: ops,
    });
    await installCertificate(t.db, {
      integrationId: id,
      certificatePem: await signCsr(pki, renewal.csrPem, { notBefore: new Date(start + 70 * DAY), days: 90 }),
      actor: ops,
      now: new Date(start + 71 * DAY),
    });
    expect(
      (await t.db.selectFrom('integrations').select('sync_status').where('id', '=', id).executeTakeFirstOrThrow())
        .sync_status,
    ).toBe('ok');
  });

  it("uses only the certificates of the integration's environment, with the environment's base URL", async () => {
    const { id } = await newIntegration('Env Co');
    const kp = await generateCsr(t.db, secrets, {
      integrationId: id,
      subject: CSR_SUBJECT,
      algorithm: 'EC-P256',
      actor: ops,
    });
    await installCertificate(t.db, { integrationId: id, certificatePem: await signCsr(pki, kp.csrPem), actor: ops });
    expect(await setEnvironment(t.db, { integrationId: id, environment: 'cat', actor: ops })).toEqual({
      environment: 'cat',
      baseUrl: 'https://apigatewaycat.jpmorgan.com',
      serverCaPem: null,
    });
    const err = await refusedWith(credentialFor(t.db, secrets, id), 'no_certificate');
    expect(err.message).toContain('has no active cat certificate');
    const catKp = await generateCsr(t.db, secrets, {
      integrationId: id,
      subject: CSR_SUBJECT,
      algorithm: 'EC-P256',
      actor: ops,
    });
    expect(catKp.commonName).toBe('env-co-cat');
    await expect(setEnvironment(t.db, { integrationId: id, environment: 'simulator', actor: ops })).rejects.toThrow(
      /needs a baseUrl/,
    );
    await setEnvironment(t.db, {
      integrationId: id,
      environment: 'simulator',
      baseUrl: 'https://127.0.0.1:8443',
      serverCaPem: pki.caCertPem,
      actor: ops,
    });
    expect((await credential(t.db, id)).environment).toBe('simulator');
  });

  it('re-wraps every key under a new master key; the old key is then no longer needed', async () => {
    const { id } = await newIntegration('Rewrap Co');
    const kp = await generateCsr(t.db, secrets, {
      integrationId: id,
      subject: CSR_SUBJECT,
      algorithm: 'EC-P256',
      actor: ops,
    });
    await installCertificate(t.db, { integrationId: id, certificatePem: await signCsr(pki, kp.csrPem), actor: ops });
    const before = await credential(t.db, id);

    const rotated = { masterKey: m2, previousMasterKeys: [m1] };
    const result = await rewrapKeys(t.db, rotated, { batchSize: 2 });
    const total = (
      await t.db
        .selectFrom('key_pairs')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow()
    ).n;
    expect(result).toEqual({ rewrapped: Number(total), failed: [] });
    expect(await rewrapKeys(t.db, rotated)).toEqual({ rewrapped: 0, failed: [] });
    const ids = await t.db.selectFrom('key_pairs').select('master_key_id').distinct().execute();
    expect(ids).toEqual([{ master_key_id: 'master-2' }]);

    secrets = { masterKey: m2, previousMasterKeys: [] };
    expect((await credential(t.db, id)).keyPem).toBe(before.keyPem);
    await refusedWith(credentialFor(t.db, { masterKey: m1, previousMasterKeys: [] }, id), 'master_key_unavailable');
  });

  it('leaves no private key in the database or the logs of this run, and stores keys as ciphertext', async () => {
    expect(keysSeen.length).toBeGreaterThan(5);
    expect(logLines.length).toBeGreaterThan(10);
    const { stdout: dump } = await promisify(execFile)('pg_dump', ['--no-owner', t.url], {
      maxBuffer: 256 * 1024 * 1024,
    });
    expect(dump).toContain('COPY public.key_pairs');
    expect(dump).toContain('BEGIN CERTIFICATE REQUEST');
    const logs = logLines.join('\n');
    expect(logs).toContain('key pair and CSR generated');
    for (const [name, text] of [
      ['database dump', dump],
      ['logs', logs],
    ] as const) {
      expect(text, name).not.toMatch(/PRIVATE KEY/);
      for (const pem of keysSeen) {
        const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
        const body = pem.split('\n').filter((l) => l.length > 0 && !l.startsWith('-----'));
        for (const line of body) {
          expect(text.includes(line), `${name} contains a line of a private key`).toBe(false);
        }
        // bytea columns are dumped as hex: look for the key's DER there too.
        expect(text.includes(der.subarray(0, 48).toString('hex')), `${name} contains private key DER`).toBe(false);
        expect(text.includes(der.toString('base64').slice(0, 48)), `${name} contains private key base64`).toBe(false);
      }
    }
    // Every stored key is ciphertext: it does not parse as a key and does not contain the plaintext.
    const rows = await t.db.selectFrom('key_pairs').select(['private_key_ciphertext']).execute();
    for (const row of rows) {
      expect(() => createPrivateKey({ key: row.private_key_ciphertext, format: 'der', type: 'pkcs8' })).toThrow();
      for (const pem of keysSeen) {
        const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
        expect(row.private_key_ciphertext.includes(der.subarray(0, 32))).toBe(false);
      }
    }
  });
});
