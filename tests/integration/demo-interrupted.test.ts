import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, testQueuePrefix, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';

let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

describe('npm run demo -- --once stopped before its summary', () => {
  it('stops gracefully and exits 1: a cancelled or timed-out CI job never reads as a demo that ended live', async () => {
    const child = spawn(process.execPath, ['src/main/demo.ts', '--once'], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        DATABASE_URL: t.url,
        REDIS_URL,
        QUEUE_PREFIX: testQueuePrefix(),
        PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let signalled = false;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // The backfill under way, nothing summarized yet: the operator presses Ctrl-C, or CI cancels the job.
      if (!signalled && output.includes('discovered ')) {
        signalled = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(signalled, output).toBe(true);
    expect(output).not.toContain('Summary');
    // The stop itself is not reported as the demo's failure (its pools closed under a run still being watched).
    expect(output).not.toContain('demo failed');
    expect(output).toContain('--once: stopped before the summary');
    expect(code, output).toBe(1);
  }, 120_000);
});
