import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createTestDb, testQueuePrefix } from '../helpers/db.ts';
import { PG_ADMIN_URL, REDIS_URL } from '../helpers/env.ts';

/** `npm start` (or the CLI) with DATABASE_URL; resolves with the exit code and what it wrote. */
async function run(
  script: string,
  args: string[],
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [script, ...args], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        DATABASE_URL: databaseUrl,
        REDIS_URL,
        QUEUE_PREFIX: testQueuePrefix(),
        PORT: '0',
        LOG_LEVEL: 'info',
        ...env,
      },
      timeout: 60_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

/**
 * `npm start` on a migrated test database of its own with `env`; resolves when it exits, or once it says it started
 * (then it is stopped and `code` is null).
 */
async function runWith(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const t = await createTestDb();
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['src/main/start.ts'], {
        env: {
          PATH: process.env.PATH,
          NODE_ENV: 'test',
          DATABASE_URL: t.url,
          REDIS_URL,
          QUEUE_PREFIX: testQueuePrefix(),
          PORT: '0',
          LOG_LEVEL: 'info',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('jpm-sync started')) {
          child.kill('SIGKILL');
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, output }));
    });
  } finally {
    await t.drop();
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

describe('start-up when Redis refuses the database REDIS_URL names', () => {
  it('exits 3 naming REDIS_URL and what Redis said, before any role starts', async () => {
    const url = new URL(REDIS_URL);
    url.pathname = '/2147483647';
    const out = await runWith({ REDIS_URL: url.toString() });
    expect(out.code, out.output).toBe(3);
    expect(out.output).toContain('REDIS_URL:');
    expect(out.output).toContain('DB index is out of range');
    // Redis runs: the fix is in REDIS_URL, not starting it.
    expect(out.output).toContain('fix the database number, user or password in REDIS_URL');
    expect(out.output).not.toContain('jpm-sync started');
    expect(out.output).not.toMatch(/\n\s+at /);
  });
});
