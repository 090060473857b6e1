import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, testQueuePrefix, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';

let t: TestDb;
let accountId: string;

beforeAll(async () => {
  t = await createTestDb();
  accountId = (await createAccount(t.db, await createTenancy(t.db))).id;
});
afterAll(async () => {
  await t.drop();
});

/** `jpm-sync …` as an operator runs it, against this test's database; resolves with the exit code and output. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['src/main/cli.ts', ...args], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        DATABASE_URL: t.url,
        REDIS_URL,
        QUEUE_PREFIX: testQueuePrefix(),
        LOG_LEVEL: 'silent',
      },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('jpm-sync sync on bad input', () => {
  it('an account or integration that is not a UUID is a usage error naming the option, not a database error', async () => {
    for (const option of ['--account', '--integration']) {
      const out = await cli(['sync', option, 'abc']);
      expect(out.code, out.stderr).toBe(2);
      expect(out.stderr).toContain(`${option} must be`);
      expect(out.stderr).not.toMatch(/invalid input syntax|uuid:/);
    }
  });

  it('a range date that is not a calendar date names the option and what it must be', async () => {
    const out = await cli([
      'sync',
      '--account',
      accountId,
      '--mode',
      'range',
      '--from',
      '2026-02-30',
      '--to',
      '2026-03-02',
    ]);
    expect(out.code, out.stderr).toBe(2);
    expect(out.stderr).toContain('--from must be a calendar date');
    expect(out.stdout).toBe('');
  });
});
