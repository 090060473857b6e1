import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startService, type StartRun } from '../helpers/start-service.ts';

let t: TestDb;
let squatter: Server;
let takenPort: number;

beforeAll(async () => {
  t = await createTestDb();
  // Something else already listens where the service is told to.
  squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const address = squatter.address();
  takenPort = typeof address === 'object' && address ? address.port : 0;
});
afterAll(async () => {
  await new Promise((resolve) => squatter.close(resolve));
  await t.drop();
});

/** `npm start` on the test database with `env` (startService). */
function start(env: Record<string, string>): Promise<StartRun> {
  return startService(t.url, env);
}

describe('npm start where it cannot listen', () => {
  it('PORT taken: exits 1 with one line naming PORT and the address, never "api listening"', async () => {
    const run = await start({ ROLES: 'api', HOST: '127.0.0.1', PORT: String(takenPort) });
    expect(run.started, run.output).toBe(false);
    expect(run.output).not.toContain('api listening');
    expect(run.code, run.output).toBe(1);
    expect(run.output).toContain(`PORT/HOST: cannot listen on 127.0.0.1:${takenPort}`);
    expect(run.output).toContain('EADDRINUSE');
    expect(run.output).not.toMatch(/\n\s+at /);
  });

  it('METRICS_LISTEN taken: exits 1 with one line naming METRICS_LISTEN, never "metrics listening"', async () => {
    const run = await start({ ROLES: 'api', PORT: '0', METRICS_LISTEN: `127.0.0.1:${takenPort}` });
    expect(run.started, run.output).toBe(false);
    expect(run.output).not.toContain('metrics listening');
    expect(run.code, run.output).toBe(1);
    expect(run.output).toContain(`METRICS_LISTEN: cannot listen on 127.0.0.1:${takenPort}`);
    expect(run.output).not.toMatch(/\n\s+at /);
  });

  it('SMTP_CA_FILE unreadable: exits 1 with the one line naming it, no stack', async () => {
    const run = await start({
      ROLES: 'worker',
      SMTP_URL: 'smtp://127.0.0.1:2525',
      SMTP_FROM: 'onboarding@example.com',
      SMTP_CA_FILE: '/nonexistent/ca.pem',
    });
    expect(run.started, run.output).toBe(false);
    expect(run.code, run.output).toBe(1);
    expect(run.output).toContain('SMTP_CA_FILE: cannot read /nonexistent/ca.pem');
    expect(run.output).not.toMatch(/\n\s+at /);
  });
});
