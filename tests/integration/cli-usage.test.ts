import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/admin-api/api-keys.service.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

/** `jpm-sync …` as an operator runs it, against this test's database; resolves with the exit code and output. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['src/main/cli.ts', ...args], {
      env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: t.url, LOG_LEVEL: 'silent' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('jpm-sync options it does not know', () => {
  it('are a usage error (exit 2) naming the option, for every command, and nothing runs', async () => {
    for (const [args, option] of [
      [['credentials', 'expiry-watch', '--dry-run'], '--dry-run'],
      [['credentials', 'rewrap', '--batchsize', '10'], '--batchsize'],
      [['onboarding', 'overdue', '--flg'], '--flg'],
      [['migrate', 'down', '--al'], '--al'],
    ] as const) {
      const out = await cli([...args]);
      expect(out.code, `${args.join(' ')}: ${out.stderr}`).toBe(2);
      expect(out.stderr).toContain(`jpm-sync ${args[0]}: Unknown option '${option}'`);
      expect(out.stderr).not.toContain('failed:');
      // expiry-watch marks expired certificates: with an option it does not know (a dry run?) it must not run at all.
      expect(out.stdout).toBe('');
    }
  });
});

describe('jpm-sync <command> --help', () => {
  it("prints that command's usage on stdout and exits 0, running nothing", async () => {
    for (const [args, usage] of [
      [['sync', '--help'], 'sync --account ID'],
      [['migrate', 'down', '-h'], 'migrate [up|down|status]'],
      [['apikey', 'create', '--help'], 'apikey create --name NAME'],
      [['credentials', 'expiry-watch', '--help'], 'credentials expiry-watch'],
    ] as const) {
      const out = await cli([...args]);
      expect(out.code, `${args.join(' ')}: ${out.stderr}`).toBe(0);
      expect(out.stdout).toContain(usage);
      expect(out.stderr).toBe('');
    }
    // migrate down -h reverted nothing.
    const status = await cli(['migrate', 'status']);
    expect(status.stdout).not.toMatch(/^pending/m);
  });
});

describe('jpm-sync apikey list', () => {
  it('prints a key name holding control characters escaped: a name cannot forge lines or drive the terminal', async () => {
    // Names come from the API too, where an organization's admin names its keys.
    const name = 'ci\u001b[2J\u001b[1;1Hjpmsfake1  admin     all organizations  root  (last used never)\r\nx';
    await createApiKey(t.db, { name, role: 'viewer', organizationId: null, createdByKeyId: null });
    const out = await cli(['apikey', 'list']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.replaceAll('\n', '')).not.toMatch(/\p{Cc}/u);
    expect(out.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(out.stdout).toContain('ci\\u001b[2J\\u001b[1;1Hjpmsfake1');
  });
});

describe('jpm-sync validate', () => {
  it("prints an integration's name holding control characters escaped", async () => {
    const tenancy = await createTenancy(t.db);
    const { integrationId } = tenancy;
    await createAccount(t.db, tenancy);
    await t.db
      .updateTable('integrations')
      .set({ name: 'Acme\u001b[2J\r\nverdict: PASSED' })
      .where('id', '=', integrationId)
      .execute();
    const out = await cli(['validate', '--integration', integrationId, '--from', '2026-11-02', '--to', '2026-11-03']);
    expect(out.stdout).toContain('integration Acme\\u001b[2J\\u000d\\u000averdict: PASSED (');
    expect(out.stdout.replaceAll('\n', '')).not.toMatch(/\p{Cc}/u);
  });
});
