import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCsr } from '../../src/credentials/index.ts';
import { createIntegration } from '../../src/onboarding/index.ts';
import { NO_QUIRKS, signCsr, startSimulator, type RunningSimulator } from '../../src/simulator/index.ts';
import { CSR_SUBJECT, createOrganization } from '../factories/onboarding.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { consoleSignIn } from '../helpers/console-session.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * A live integration's only usable certificate (compromised, say) is retired only on purpose: the API refuses it
 * unless forced, and the console, which had no way to force it, offered a Retire button that could only be refused
 * with a message about a force it did not have. It now asks for that confirmation on the form.
 */
const OPS = 'ops@jpm-sync.example';
let api: TestApi;
let sim: RunningSimulator;
let pkiDir: string;

beforeAll(async () => {
  api = await createTestApi();
  pkiDir = await mkdtemp(join(tmpdir(), 'console-retire-'));
  sim = await startSimulator({
    pkiDir,
    today: '2025-03-12',
    seed: 'console-retire',
    historyDays: 1,
    quirks: NO_QUIRKS,
  });
});

afterAll(async () => {
  if (api) {
    await obliterate(api.ctx.queues);
    await api.close();
  }
  await sim?.stop();
  await rm(pkiDir, { recursive: true, force: true });
});

describe('operator console: retiring the only usable certificate', () => {
  it('offers the confirmation the API needs, refuses without it, and retires with it', async () => {
    const organizationId = await createOrganization(api.t.db);
    const integration = await createIntegration(api.t.db, {
      organizationId,
      name: 'Acme Compromised',
      environment: 'simulator',
      baseUrl: sim.url,
      serverCaPem: sim.caCertPem,
      actor: OPS,
    });
    const kp = await generateCsr(api.t.db, api.ctx.secrets, {
      integrationId: integration.id,
      subject: CSR_SUBJECT,
      actor: OPS,
    });
    const installed = await request(api.app)
      .post(`/v1/integrations/${integration.id}/certificates`)
      .set(bearer(api.adminKey))
      .send({ certificatePem: await signCsr(sim.pki, kp.csrPem), chainPem: sim.caCertPem });
    expect(installed.status).toBe(201);
    const certificateId = (installed.body as { id: string }).id;
    await api.t.db.updateTable('integrations').set({ stage: 'live' }).where('id', '=', integration.id).execute();

    const { cookie, csrf } = await consoleSignIn(api.app, api.adminKey);
    const path = `/console/integrations/${integration.id}`;
    const page = await request(api.app).get(path).set('Cookie', cookie);
    const row = page.text.slice(page.text.indexOf(`<tr data-certificate-id="${certificateId}">`));
    expect(row.slice(0, row.indexOf('</tr>'))).toMatch(/<input[^>]*type="checkbox"[^>]*name="force" value="yes"/);

    const retire = async (form: Record<string, string>) => {
      const res = await request(api.app)
        .post(`${path}/actions/retire-certificate`)
        .set('Cookie', cookie)
        .type('form')
        .send({ _csrf: csrf, _back: path, certificateId, ...form });
      expect(res.status).toBe(303);
      const after = await request(api.app).get(path).set('Cookie', cookie);
      return /<div class="flash [^"]*"[^>]*>\s*<p>([^<]*)/.exec(after.text)?.[1];
    };
    expect(await retire({})).toContain('is the only usable certificate of an integration that is live');
    expect(await retire({ force: 'yes' })).toBe('Certificate retired.');
    const cert = await api.t.db
      .selectFrom('certificates')
      .select('status')
      .where('id', '=', certificateId)
      .executeTakeFirstOrThrow();
    expect(cert.status).toBe('retired');
  });
});
