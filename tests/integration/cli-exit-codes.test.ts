import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/shared/ids.ts';
import { createAccount, createTenancy, recordApproval } from '../factories/tenancy.ts';
import { createTestDb, testQueuePrefix, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';

/**
 * What a script can tell from `jpm-sync`'s exit code: 0 done, 1 failed or refused, 2 the command line to fix (an
 * unknown option or id), 3 Postgres or Redis not reachable, 75 not yet (try again later). Each expected condition is
 * one line on stderr, never a stack trace, and stdout carries only the command's output (logs go to stderr).
 */
let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['src/main/cli.ts', ...args], {
      env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: t.url, LOG_LEVEL: 'silent', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function expectOneLine(stderr: string) {
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
}

/** A time zone where it is not near midnight now, so the approval and the report fall on one local day. */
function zoneAwayFromMidnight(): string {
  const hour = new Date().getUTCHours();
  return hour >= 2 && hour <= 21 ? 'UTC' : 'Asia/Tokyo';
}

describe('jpm-sync help', () => {
  it('lists the exit codes a script can tell apart', async () => {
    const out = await cli(['help']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain(
      'Exit codes: 0 done; 1 failed or refused; 2 the command line or configuration to fix; ' +
        '3 Postgres or Redis not reachable; 75 not yet, try again later.',
    );
  });
});

describe('jpm-sync validate', () => {
  it('nothing to report yet (approved today): exit 75, one line naming the first day a report can be made', async () => {
    const tenancy = await createTenancy(t.db);
    await createAccount(t.db, tenancy, { timeZone: zoneAwayFromMidnight(), jpmAccountId: '000000001234' });
    await recordApproval(t.db, tenancy, new Date());
    const out = await cli(['validate', '--integration', tenancy.integrationId]);
    expect(out.code, out.stderr).toBe(75);
    expectOneLine(out.stderr);
    expect(out.stderr).toMatch(
      /^jpm-sync validate: not yet: nothing to report yet: .*account \*\*\*\*1234: first business day \d{4}-\d\d-\d\d, reportable from \d{4}-\d\d-\d\d at the earliest\n$/,
    );
    expect(out.stdout).toBe('');
  });

  it('a report not made (not yet, refused) leaves the --html page of an earlier run as it was, and creates none', async () => {
    const tenancy = await createTenancy(t.db);
    await createAccount(t.db, tenancy, { timeZone: zoneAwayFromMidnight() });
    await recordApproval(t.db, tenancy, new Date());
    const dir = await mkdtemp(join(tmpdir(), 'validate-html-'));
    const earlier = join(dir, 'report.html');
    await writeFile(earlier, '<!doctype html><p>yesterday’s report</p>');
    const kept = await cli(['validate', '--integration', tenancy.integrationId, '--html', earlier]);
    expect(kept.code, kept.stderr).toBe(75);
    expect(await readFile(earlier, 'utf8')).toBe('<!doctype html><p>yesterday’s report</p>');
    const fresh = join(dir, 'new.html');
    const none = await cli(['validate', '--integration', tenancy.integrationId, '--html', fresh]);
    expect(none.code, none.stderr).toBe(75);
    expect(await readdir(dir)).toEqual(['report.html']);
  });

  it('an integration with no accounts: exit 1, one line saying to add its accounts first', async () => {
    const tenancy = await createTenancy(t.db);
    await recordApproval(t.db, tenancy, new Date());
    const out = await cli(['validate', '--integration', tenancy.integrationId]);
    expect(out.code, out.stderr).toBe(1);
    expectOneLine(out.stderr);
    expect(out.stderr).toContain('add its accounts first');
  });

  it('--json prints only the report on stdout, whatever LOG_LEVEL (logs and warnings go to stderr)', async () => {
    const tenancy = await createTenancy(t.db);
    await createAccount(t.db, tenancy);
    const out = await cli(
      ['validate', '--integration', tenancy.integrationId, '--from', '2026-11-02', '--to', '2026-11-03', '--json'],
      { LOG_LEVEL: 'info', NODE_ENV: 'development' },
    );
    // The report does not pass (no data): exit 1, and the document is the whole of stdout.
    expect(out.code, out.stderr).toBe(1);
    const doc = JSON.parse(out.stdout) as { integration: { id: string }; passed: boolean };
    expect(doc.integration.id).toBe(tenancy.integrationId);
    expect(doc.passed).toBe(false);
    expect(out.stderr).toContain('validation report completed');
  });
});

describe('jpm-sync with an id that names nothing', () => {
  it('is the command line to fix (exit 2), one line, for every command that takes an id', async () => {
    const nobody = uuidv7();
    for (const args of [
      ['validate', '--integration', nobody],
      ['import', 'package.json', '--account', nobody],
      ['apikey', 'revoke', nobody],
      ['apikey', 'create', '--name', 'ci', '--role', 'viewer', '--org', nobody],
    ]) {
      const out = await cli(args);
      expect(out.code, `${args.join(' ')}: ${out.stderr}`).toBe(2);
      expect(out.stderr, args.join(' ')).toContain(nobody);
      expect(out.stderr).not.toMatch(/^\s+at /m);
      expect(out.stdout).toBe('');
    }
  });
});

describe('jpm-sync sync refused by the state of things', () => {
  it('a paused account is refused (exit 1, one line), not a usage error', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    await t.db.updateTable('bank_accounts').set({ status: 'paused' }).where('id', '=', account.id).execute();
    const out = await cli(['sync', '--account', account.id], { REDIS_URL, QUEUE_PREFIX: testQueuePrefix() });
    expect(out.code, out.stderr).toBe(1);
    expectOneLine(out.stderr);
    expect(out.stderr).toContain(`jpm-sync sync: account ${account.id} is paused`);
  });
});

describe('jpm-sync on a database that is down', () => {
  it('exits 3 with what to do, never a stack trace', async () => {
    const out = await cli(['credentials', 'expiry-watch'], {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/jpm_sync_down',
    });
    expect(out.code, out.stderr).toBe(3);
    expect(out.stderr).toContain('DATABASE_URL: cannot connect to Postgres at 127.0.0.1:1/jpm_sync_down');
    expect(out.stderr).not.toMatch(/^\s+at /m);
  });
});
