import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  credentialSource,
  generateCsr,
  installCertificate,
  retireCertificate,
  testConnection,
  type ConnectionTesterFactory,
} from '../../src/credentials/index.ts';
import { JpmClient } from '../../src/jpm/client.ts';
import type { ConnectionTestResult } from '../../src/jpm/connection-test.ts';
import type { JpmCallEvent } from '../../src/jpm/transport.ts';
import { createIntegration } from '../../src/onboarding/index.ts';
import { NO_QUIRKS, signCsr, startSimulator, type RunningSimulator } from '../../src/simulator/index.ts';
import { createOrganization, CSR_SUBJECT } from '../factories/onboarding.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

const secrets = { masterKey: { id: 'rotation-master', key: randomBytes(32) }, previousMasterKeys: [] };
const ops = 'ops@jpm-sync.example';
const DAY = 86_400_000;

/**
 * Certificate rotation end to end: our stored credential, the real J.P. Morgan client and the
 * simulator over mutual TLS. Balance calls run all through the rotation and none may fail.
 */
describe('certificate rotation against the simulator', () => {
  let t: TestDb;
  let sim: RunningSimulator;
  let pkiDir: string;
  let organizationId: string;
  const clients: JpmClient[] = [];
  const calls: JpmCallEvent[] = [];
  const factory: ConnectionTesterFactory<ConnectionTestResult> = (o) => {
    const client = new JpmClient({ ...o, refusalProbeMs: 500 });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    t = await createTestDb();
    pkiDir = await mkdtemp(join(tmpdir(), 'jpm-sync-rotation-pki-'));
    sim = await startSimulator({
      pkiDir,
      today: '2025-03-12',
      seed: 'rotation',
      accounts: 2,
      historyDays: 3,
      quirks: NO_QUIRKS,
    });
    organizationId = await createOrganization(t.db);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await sim.stop();
    await t.drop();
    await rm(pkiDir, { recursive: true, force: true });
  });

  const newIntegration = (name: string) =>
    createIntegration(t.db, {
      organizationId,
      name,
      environment: 'simulator',
      baseUrl: sim.url,
      serverCaPem: sim.caCertPem,
      actor: ops,
    });

  async function issue(integrationId: string): Promise<string> {
    const kp = await generateCsr(t.db, secrets, {
      integrationId,
      subject: CSR_SUBJECT,
      algorithm: 'EC-P256',
      actor: ops,
    });
    const cert = await installCertificate(t.db, {
      integrationId,
      certificatePem: await signCsr(sim.pki, kp.csrPem),
      chainPem: sim.caCertPem,
      actor: ops,
    });
    return cert.id;
  }

  it('switches to the new certificate with no failed call in between, and the old one can then be revoked', async () => {
    const { id, baseUrl } = await newIntegration('Rotating Treasury');
    const certA = await issue(id);
    const client = new JpmClient({
      baseUrl,
      credentials: credentialSource(t.db, secrets, id),
      refusalProbeMs: 500,
      onCall: (e) => calls.push(e),
    });
    clients.push(client);
    const balances = async () => (await client.getBalances({ relativeDateType: 'CURRENT_DAY' })).accounts.length;

    expect(await balances()).toBe(2);
    expect(client.activeCredentialId).toBe(certA);

    // Calls keep flowing while the rotation happens; every one must succeed.
    let rotating = true;
    const background = (async () => {
      let n = 0;
      while (rotating) {
        expect(await balances()).toBe(2);
        n++;
      }
      return n;
    })();

    const certB = await issue(id);
    expect(await balances()).toBe(2);
    expect(client.activeCredentialId).toBe(certB);
    await retireCertificate(t.db, { integrationId: id, certificateId: certA, actor: ops });
    expect(await balances()).toBe(2);
    rotating = false;
    expect(await background).toBeGreaterThan(0);
    // J.P. Morgan side: the old certificate stops working (once no call is in flight on it any more);
    // the client no longer presents it.
    const certAPem = (
      await t.db.selectFrom('certificates').select('certificate_pem').where('id', '=', certA).executeTakeFirstOrThrow()
    ).certificate_pem;
    sim.revokeCertificate(certAPem);
    expect(await balances()).toBe(2);

    expect(calls.every((c) => c.outcome === 'ok')).toBe(true);
    const ids = calls.map((c) => c.credentialId);
    const firstB = ids.indexOf(certB);
    expect(firstB).toBeGreaterThan(0);
    // Once the new certificate is in use the old one is never used again.
    expect(ids.slice(firstB).every((x) => x === certB)).toBe(true);
    expect(ids.slice(0, firstB).every((x) => x === certA)).toBe(true);
  });

  it('test connection: reports the handshake and balance call, or why there is no usable credential', async () => {
    const { id } = await newIntegration('Connection Co');
    const none = await testConnection(t.db, secrets, id, factory);
    expect(none).toMatchObject({ credentialId: null, credentialProblem: { code: 'no_certificate' } });
    expect(none.report).toBeUndefined();

    const certId = await issue(id);
    const ok = await testConnection(t.db, secrets, id, factory);
    expect(ok).toMatchObject({
      integrationId: id,
      environment: 'simulator',
      baseUrl: sim.url,
      credentialId: certId,
      report: { ok: true, credentialId: certId, entitledAccounts: 2 },
    });
    expect(ok.report?.steps.map((s) => [s.step, s.ok])).toEqual([
      ['credential', true],
      ['tls', true],
      ['balances', true],
    ]);

    // The bank no longer accepts the certificate: the client's report says so.
    const pem = (
      await t.db.selectFrom('certificates').select('certificate_pem').where('id', '=', certId).executeTakeFirstOrThrow()
    ).certificate_pem;
    sim.revokeCertificate(pem);
    const refused = await testConnection(t.db, secrets, id, factory);
    expect(refused.report).toMatchObject({ ok: false });
    expect(refused.report?.failure).toMatch(/certificate_refused|not_entitled/);

    // A year on, the certificate has expired: a clear reason, and the bank is not called.
    const later = await testConnection(t.db, secrets, id, factory, new Date(Date.now() + 400 * DAY));
    expect(later).toMatchObject({ credentialId: null, credentialProblem: { code: 'certificate_expired' } });
  });

  it('a sync with only an expired certificate fails with certificate_expired, not a TLS error', async () => {
    const { id, baseUrl } = await newIntegration('Expired Co');
    await issue(id);
    const client = new JpmClient({
      baseUrl,
      credentials: credentialSource(t.db, secrets, id, () => new Date(Date.now() + 400 * DAY)),
      refusalProbeMs: 500,
    });
    clients.push(client);
    const err = await client.getBalances({ relativeDateType: 'CURRENT_DAY' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'certificate_expired', retryable: false });
    expect((err as Error).message).toMatch(/certificate of integration .* expired on/);
  });
});
