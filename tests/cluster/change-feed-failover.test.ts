import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from '../helpers/start-service.ts';
import { migrate, startPostgresPair, type PostgresPair } from './support/postgres-replica.ts';
import { cliAgainst } from '../helpers/cli.ts';

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
    const onStandby = await cliAgainst(pg2().standbyUrl, ['change-feed', 'status']);
    expect(onStandby.code, onStandby.stderr).toBe(0);
    expect(onStandby.stdout).toContain('database: a standby (in recovery): not checked');

    // A failover: the standby is promoted and the service is started on it.
    await pg2().query('standby', 'select pg_promote(true, 30)');
    const refused = await startService(pg2().standbyUrl, { ROLES: 'api', PORT: '0' });
    expect(refused.started, refused.output).toBe(false);
    expect(refused.code, refused.output).toBe(3);
    expect(refused.output).toContain('is on WAL timeline 2, the change feed was recorded on timeline 1');
    const status = await cliAgainst(pg2().standbyUrl, ['change-feed', 'status']);
    expect(status.code, status.stdout).toBe(1);
    expect(status.stdout).toContain('NEEDS A DECISION');
    // The old primary, on its own timeline, is still the database the feed was recorded on.
    expect((await cliAgainst(pg2().primaryUrl, ['change-feed', 'status'])).code).toBe(0);

    // The operator knows nothing was lost (the primary took no writes since): confirm, and it starts.
    const confirmed = await cliAgainst(pg2().standbyUrl, ['change-feed', 'confirm', '--yes']);
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toMatch(/database: system identifier -?\d+, database oid \d+, timeline 2, recorded/);
    const started = await startService(pg2().standbyUrl, { ROLES: 'api', PORT: '0' });
    expect(started.started, started.output).toBe(true);
  });
});
