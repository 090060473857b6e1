import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer, runNotificationPass } from '../../src/notifications/index.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { ensureDevPki } from '../../src/simulator/index.ts';
import { createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startTestSmtp } from '../helpers/smtp-server.ts';
import { spawnService } from '../helpers/start-service.ts';

/**
 * The worker role (`npm start` with ROLES=worker) told to stop while its SMTP server takes connections and never
 * greets: the send in flight is cut short instead of holding the stop for the mailer's timeouts, so the process stops
 * within SHUTDOWN_TIMEOUT_MS (exit 0). Nothing is marked sent and no failed attempt is logged; once the claim's hold
 * ends, the next runner sends every message.
 */
const FROM = '"jpm-sync onboarding" <onboarding@jpm-sync.example>';
const MESSAGES = 3;

let t: TestDb;
let tenancy: Tenancy;
let deaf: Server;
const sockets = new Set<Socket>();
let connections = 0;

beforeAll(async () => {
  t = await createTestDb();
  tenancy = await createTenancy(t.db);
  for (let i = 0; i < MESSAGES; i++) {
    await t.db
      .insertInto('notification_deliveries')
      .values({
        id: uuidv7(),
        organization_id: tenancy.organizationId,
        integration_id: tenancy.integrationId,
        source: 'outbox',
        source_id: uuidv7(),
        milestone: 'live',
        recipient_email: `finance${i}@acme.example`,
        recipient_role: 'finance_owner',
        params: JSON.stringify({
          integrationName: 'Acme J.P. Morgan',
          organizationName: 'Acme Treasury',
          recipientName: 'Fran Finance',
          accountManager: null,
        }),
        give_up_at: sql<Date>`now() + interval '2 days'`,
      })
      .execute();
  }
  // Takes the connection and never says a word (no 220 greeting).
  deaf = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => deaf.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const s of sockets) {
    s.destroy();
  }
  await new Promise((resolve) => deaf.close(resolve));
  await t.drop();
});

describe('the worker role stopping while its SMTP server never answers', () => {
  it('cuts the send short and exits 0; the messages stay pending and are sent by the next runner', async () => {
    const svc = spawnService(t.url, {
      TZ: 'UTC',
      ROLES: 'worker',
      SHUTDOWN_TIMEOUT_MS: '25000',
      SMTP_URL: `smtp://127.0.0.1:${(deaf.address() as AddressInfo).port}`,
      SMTP_FROM: FROM,
    });
    const { proc, exited } = svc;
    // A message is being sent: the server has its connection.
    await expect.poll(() => connections, { timeout: 60_000, interval: 50 }).toBeGreaterThan(0);
    proc.kill('SIGTERM');
    const code = await exited;

    expect(svc.output).toContain('shutdown complete');
    expect(svc.output).not.toContain('shutdown timed out');
    expect(code, svc.output).toBe(0);
    const rows = await t.db.selectFrom('notification_deliveries').select(['status', 'last_error']).execute();
    expect(rows).toEqual(Array.from({ length: MESSAGES }, () => ({ status: 'pending', last_error: null })));
    // The server did not refuse anything: no failed attempt is logged for the send the stop cut short.
    expect(await t.db.selectFrom('notification_attempts').select('outcome').execute()).toEqual([]);

    // The claim's hold ends (as it does 120 s after the claim) and a runner with a working server sends them all.
    await t.db.updateTable('notification_deliveries').set({ locked_until: null }).execute();
    const pkiDir = await mkdtemp(join(tmpdir(), 'worker-stop-emails-pki-'));
    const pki = await ensureDevPki(pkiDir);
    const smtp = await startTestSmtp({ keyPem: pki.serverKeyPem, certPem: pki.serverCertPem });
    const mailer = createMailer({ url: smtp.url, from: FROM, caPem: pki.caCertPem, timeoutMs: 10_000 });
    try {
      const r = await runNotificationPass({ db: t.db, mailer });
      expect(r).toMatchObject({ attempted: MESSAGES, sent: MESSAGES });
      expect(smtp.received.flatMap((m) => m.to).sort()).toEqual(
        Array.from({ length: MESSAGES }, (_, i) => `finance${i}@acme.example`),
      );
    } finally {
      mailer.close();
      await smtp.close();
      await rm(pkiDir, { recursive: true, force: true });
    }
  }, 120_000);
});
