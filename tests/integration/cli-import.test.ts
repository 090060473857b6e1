import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

let t: TestDb;
let dir: string;
let accountId: string;

beforeAll(async () => {
  t = await createTestDb();
  dir = await mkdtemp(join(tmpdir(), 'cli-import-'));
  accountId = (await createAccount(t.db, await createTenancy(t.db))).id;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await t.drop();
});

/** `jpm-sync import …` as an operator runs it, against this test's database; resolves with the exit code and output. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['src/main/cli.ts', 'import', ...args], {
      env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: t.url, LOG_LEVEL: 'silent' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('jpm-sync import on a file that is no statement', () => {
  it('a directory is a usage error saying so, not a read failure of the system', async () => {
    const out = await cli([dir, '--account', accountId]);
    expect(out.code, out.stderr).toBe(2);
    expect(out.stderr).toBe(`jpm-sync import: cannot read ${dir}: it is a directory, not a statement file\n`);
  });

  it('an empty or blank file is refused in words about the file, and no run is stored', async () => {
    for (const [name, text] of [
      ['empty.bai', ''],
      ['blank.bai', '\n  \n'],
    ] as const) {
      const file = join(dir, name);
      await writeFile(file, text);
      const out = await cli([file, '--account', accountId]);
      expect(out.code, out.stderr).toBe(1);
      expect(out.stderr).toContain(`jpm-sync import: ${file} holds no statement: it is empty or blank\n`);
    }
    expect(await t.db.selectFrom('sync_runs').select('id').execute()).toEqual([]);
  });
});

describe('jpm-sync import of a file not in UTF-8', () => {
  it('is refused naming --charset, storing nothing; with --charset it is read as that charset', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: '000000555000333' });
    const file = join(dir, 'latin1.bai');
    await writeFile(
      file,
      Buffer.from(
        [
          '01,021000021,CUSTOMER,261201,0200,LATIN1,80,,2/',
          '02,CUSTOMER,021000021,1,261130,,USD,2/',
          '03,000000555000333,USD,010,1000,,,015,2250,,/',
          '16,195,1250,0,R1,FACTURA-Ñ7,CRÉDITO',
          '49,4500,3/',
          '98,4500,1,5/',
          '99,4500,1,7/',
          '',
        ].join('\r\n'),
        'latin1',
      ),
    );
    const refused = await cli([file, '--account', account.id]);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/not valid UTF-8 .*--charset ISO-8859-1/);
    const runs = () => t.db.selectFrom('sync_runs').select('id').where('account_id', '=', account.id).execute();
    expect(await runs()).toEqual([]);

    const read = await cli([file, '--account', account.id, '--charset', 'ISO-8859-1']);
    expect(read.code, read.stderr).toBe(0);
    const stored = await t.db
      .selectFrom('transactions')
      .select(['customer_reference'])
      .where('account_id', '=', account.id)
      .execute();
    expect(stored).toEqual([{ customer_reference: 'FACTURA-Ñ7' }]);
    expect((await cli([file, '--account', account.id, '--charset', 'x-no-such'])).code).toBe(2);
  });
});
