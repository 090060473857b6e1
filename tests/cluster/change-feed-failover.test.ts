import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from '../helpers/start-service.ts';
import { migrate, startPostgresPair, type PostgresPair } from './support/postgres-replica.ts';

const run = promisify(execFile);

/**
 * The change feed's database check (README, Operations: after a database restore) across a real promotion: a
 * private primary and a pg_basebackup standby of it, the standby then promoted (a new timeline), `npm start` and
 * `jpm-sync change-feed` as an operator runs them.
 */
let pair: PostgresPair | undefined;

function pg2(): PostgresPair {
  if (!pair) {
    throw new Error('no postgres pair');
  }
  return pair;
}

/** `jpm-sync …` against `url`: exit code and output. */
async function cli(url: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['src/main/cli.ts', ...args], {
      env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: url, LOG_LEVEL: 'silent' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  pair = await startPostgresPair('jpm_sync_failover', migrate);
}, 120_000);

afterAll(async () => {
  await pair?.destroy();
});

describe('change feed: the database it was recorded on, across a promotion', () => {
  it('starts with the read replica, refuses the promoted standby (timeline 2) until `confirm`', async () => {
    // The service with its read replica: the first start records the primary; the standby is not refused.
    const first = await startService(pg2().primaryUrl, {
      ROLES: 'api',
      PORT: '0',
      DATABASE_READ_URL: pg2().standbyUrl,
    });
    expect(first.started, first.output).toBe(true);
    expect(first.output).toContain("change feed's database recorded");
    const onStandby = await cli(pg2().standbyUrl, ['change-feed', 'status']);
    expect(onStandby.code, onStandby.stderr).toBe(0);
    expect(onStandby.stdout).toContain('database: a standby (in recovery): not checked');

    // A failover: the standby is promoted and the service is started on it.
    await pg2().query('standby', 'select pg_promote(true, 30)');
    const refused = await startService(pg2().standbyUrl, { ROLES: 'api', PORT: '0' });
    expect(refused.started, refused.output).toBe(false);
    expect(refused.code, refused.output).toBe(3);
    expect(refused.output).toContain('is on WAL timeline 2, the change feed was recorded on timeline 1');
    const status = await cli(pg2().standbyUrl, ['change-feed', 'status']);
    expect(status.code, status.stdout).toBe(1);
    expect(status.stdout).toContain('NEEDS A DECISION');
    // The old primary, on its own timeline, is still the database the feed was recorded on.
    expect((await cli(pg2().primaryUrl, ['change-feed', 'status'])).code).toBe(0);

    // The operator knows nothing was lost (the primary took no writes since): confirm, and it starts.
    const confirmed = await cli(pg2().standbyUrl, ['change-feed', 'confirm', '--yes']);
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toMatch(/database: system identifier -?\d+, database oid \d+, timeline 2, recorded/);
    const started = await startService(pg2().standbyUrl, { ROLES: 'api', PORT: '0' });
    expect(started.started, started.output).toBe(true);
  });
});
