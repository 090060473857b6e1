import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { testQueuePrefix } from '../helpers/db.ts';
import { PG_ADMIN_URL, REDIS_URL } from '../helpers/env.ts';

/** `npm start` (or the CLI) with DATABASE_URL; resolves with the exit code and what it wrote. */
async function run(script: string, args: string[], databaseUrl: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [script, ...args], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        DATABASE_URL: databaseUrl,
        REDIS_URL,
        QUEUE_PREFIX: testQueuePrefix(),
        PORT: '0',
      },
      timeout: 60_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

describe('start-up when Postgres is up but refuses our login', () => {
  it('exits 3 saying to check the user and DATABASE_PASSWORD, never to start a Postgres that is running', async () => {
    const url = new URL(PG_ADMIN_URL);
    url.username = 'no_such_role_jpm_sync';
    for (const [script, args] of [
      ['src/main/start.ts', []],
      ['src/main/cli.ts', ['migrate', 'status']],
    ] as const) {
      const out = await run(script, [...args], url.toString());
      expect(out.code, out.output).toBe(3);
      expect(out.output).toContain('role "no_such_role_jpm_sync" does not exist');
      expect(out.output).toContain('DATABASE_PASSWORD');
      expect(out.output).not.toContain('start Postgres');
      expect(out.output).not.toMatch(/\n\s+at /);
    }
  });
});
