import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bai2File } from '../factories/bai2.ts';
import { createAccount, createTenancy, recordApproval } from '../factories/tenancy.ts';
import { commitCutProxy } from '../helpers/commit-cut-proxy.ts';
import { cutProxy, type CutProxy } from '../helpers/cut-proxy.ts';
import { createTestDb, testQueuePrefix, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';

/**
 * `jpm-sync` when Postgres or Redis goes away while a command runs (a restart, a failover, a network cut): exit 3, as
 * when it is down at the start, with one line on stderr saying which and what to do, never a stack trace, instead
 * of exit 1 (failed) or waiting forever. The servers stay up for everyone else: each is cut behind a proxy.
 */
let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

interface Running {
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
  kill(): void;
}

function cli(args: string[], env: Record<string, string>): Running {
  const proc = spawn(process.execPath, ['src/main/cli.ts', ...args], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      DATABASE_URL: t.url,
      REDIS_URL,
      QUEUE_PREFIX: testQueuePrefix(),
      LOG_LEVEL: 'silent',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  proc.stdout.on('data', (c: Buffer) => void (output.stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => void (output.stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { output, exited, kill: () => proc.kill('SIGKILL') };
}

/** The exit code, or 'still running' after `ms`. */
async function exitWithin(run: Running, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    run.exited,
    new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), ms))),
  ]);
  clearTimeout(timer);
  if (outcome === 'still running') {
    run.kill();
  }
  return outcome;
}

function expectOneLine(stderr: string) {
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
}

describe('jpm-sync sync --wait', () => {
  let proxy: CutProxy;
  afterAll(async () => {
    await proxy.close();
  });

  it('Postgres goes away while it waits: exit 3, one line naming Postgres', async () => {
    proxy = await cutProxy(t.url);
    const account = await createAccount(t.db, await createTenancy(t.db));
    // No worker: the run stays queued, and the command polls it.
    const run = cli(['sync', '--account', account.id, '--wait'], { DATABASE_URL: proxy.url });
    await expect.poll(() => run.output.stdout, { timeout: 30_000, interval: 50 }).toContain('queued');
    await proxy.cut();
    expect(await exitWithin(run, 20_000), run.output.stderr).toBe(3);
    expectOneLine(run.output.stderr);
    expect(run.output.stderr).toMatch(/^jpm-sync sync: Postgres is not reachable/);
    expect(run.output.stderr).toContain('DATABASE_URL');
  });

  it('Redis goes away while it waits: exit 3, one line naming Redis and the run, instead of waiting forever', async () => {
    proxy = await cutProxy(REDIS_URL);
    const account = await createAccount(t.db, await createTenancy(t.db));
    const run = cli(['sync', '--account', account.id, '--wait'], { REDIS_URL: proxy.url });
    await expect.poll(() => run.output.stdout, { timeout: 30_000, interval: 50 }).toContain('queued');
    const runId = /run (\S+)/.exec(run.output.stdout)![1]!;
    await proxy.cut();
    expect(await exitWithin(run, 30_000), run.output.stderr).toBe(3);
    expectOneLine(run.output.stderr);
    expect(run.output.stderr).toMatch(/^jpm-sync sync: Redis is not reachable/);
    expect(run.output.stderr).toContain('REDIS_URL');
    expect(run.output.stderr).toContain(runId);
  });
});

describe('jpm-sync validate and import when Postgres goes away in the middle', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-dependency-lost-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('validate: the session lost as the report is completed: exit 3, one line; the report failed, no --html page', async () => {
    const tenancy = await createTenancy(t.db);
    await createAccount(t.db, tenancy);
    await recordApproval(t.db, tenancy, new Date('2026-10-01T12:00:00Z'));
    const proxy = await commitCutProxy(t.url);
    try {
      const cut = proxy.cutAfter(/update "validation_reports"/i, 'before-commit');
      const page = join(dir, 'report.html');
      const run = cli(
        [
          'validate',
          '--integration',
          tenancy.integrationId,
          '--from',
          '2026-11-02',
          '--to',
          '2026-11-03',
          '--html',
          page,
        ],
        { DATABASE_URL: proxy.url },
      );
      expect(await exitWithin(run, 30_000), run.output.stderr).toBe(3);
      await cut;
      // The progress lines come first; the outcome is one line, the last.
      expect(run.output.stderr.trimEnd().split('\n').at(-1)).toMatch(
        /^jpm-sync validate: Postgres is not reachable \(.+\); check DATABASE_URL/,
      );
      expect(run.output.stderr).not.toMatch(/^\s+at /m);
      expect(run.output.stdout).toBe('');
      // Its completion rolled back with the session; the command marked it failed on another one.
      const reports = await t.db
        .selectFrom('validation_reports')
        .select(['status', 'passed'])
        .where('integration_id', '=', tenancy.integrationId)
        .execute();
      expect(reports).toEqual([{ status: 'failed', passed: null }]);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('import: the session lost at a page: exit 3, one line; that page not kept, the run not left running; again: exact', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: '000000007788' });
    const file = join(dir, 'statement.bai');
    await writeFile(
      file,
      bai2File('000000007788', [
        { type: '475', amount: 1_250n, bankRef: 'B1', custRef: 'C1', text: 'CHECK 1' },
        { type: '475', amount: 2_500n, bankRef: 'B2', custRef: 'C2', text: 'CHECK 2' },
        { type: '475', amount: 3_750n, bankRef: 'B3', custRef: 'C3', text: 'CHECK 3' },
      ]),
    );
    const proxy = await commitCutProxy(t.url);
    try {
      const cut = proxy.cutAfter(/insert into transactions/i, 'before-commit');
      const run = cli(['import', file, '--account', account.id], { DATABASE_URL: proxy.url });
      expect(await exitWithin(run, 30_000), run.output.stderr).toBe(3);
      await cut;
      const lines = run.output.stderr.trimEnd().split('\n');
      // `reading <file>` and the progress lines come first; the outcome is one line, the last.
      expect(lines.at(-1)).toMatch(/^jpm-sync import: Postgres is not reachable \(.+\); check DATABASE_URL/);
      expect(run.output.stderr).not.toMatch(/^\s+at /m);
      expect(run.output.stdout).toBe('');
    } finally {
      await proxy.close();
    }
    const stored = () =>
      t.db.selectFrom('transactions').select('amount_minor').where('account_id', '=', account.id).execute();
    expect(await stored()).toEqual([]);
    const runs = await t.db.selectFrom('sync_runs').select('status').where('account_id', '=', account.id).execute();
    expect(runs.map((r) => r.status)).toEqual(['failed']);

    const again = cli(['import', file, '--account', account.id], {});
    expect(await exitWithin(again, 30_000), again.output.stderr).toBe(0);
    expect((await stored()).map((r) => String(r.amount_minor)).sort()).toEqual(['1250', '2500', '3750']);
  });
});
