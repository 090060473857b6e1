import { spawn } from 'node:child_process';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';

/**
 * A Redis database of this file's own (index 9), so the default queue prefix the demo is run with here is shared
 * with no other test or process on the machine: the only other consumer of it is the one this file starts.
 */
const redisUrl = (() => {
  const u = new URL(REDIS_URL);
  u.pathname = '/9';
  return u.toString();
})();

let t: TestDb;
let other: Worker;
let redis: Redis;
const stolen: string[] = [];

/** Deletes this file's keys in its Redis database (both prefixes), never anything else. */
async function clearKeys(): Promise<void> {
  for (const pattern of ['{jpm-sync}:*', `{jpm-sync-demo-${t.name}}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) {
        await redis.del(...keys);
      }
    } while (cursor !== '0');
  }
}

beforeAll(async () => {
  t = await createTestDb();
  redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  await clearKeys();
  // Another deployment's worker on the same Redis under the default prefix (a `npm start`, or a demo on another
  // database): it takes every job on its queue; a job whose run is in another database is lost to its owner.
  other = new Worker(
    'sync',
    (job) => {
      stolen.push(job.id ?? job.name);
      return Promise.resolve();
    },
    { connection: redis.duplicate({ maxRetriesPerRequest: null }), prefix: '{jpm-sync}' },
  );
  await other.waitUntilReady();
});
afterAll(async () => {
  await other.close();
  await clearKeys();
  redis.disconnect();
  await t.drop();
});

describe('npm run demo -- --once on a database of its own', () => {
  it('keeps its queue jobs apart from another deployment on the same Redis, and ends live', async () => {
    const child = spawn(process.execPath, ['src/main/demo.ts', '--once'], {
      env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: t.url, REDIS_URL: redisUrl, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    // Ends when the demo exits, or as soon as the other deployment took one of its jobs (then the demo would wait
    // for that run for ever).
    const code = await new Promise<number | null>((resolve) => {
      const watch = setInterval(() => {
        if (stolen.length > 0) {
          clearInterval(watch);
          child.kill('SIGKILL');
        }
      }, 100);
      child.once('exit', (c) => {
        clearInterval(watch);
        resolve(c);
      });
    });
    expect(stolen, output).toEqual([]);
    expect(code, output).toBe(0);
    expect(output).toContain('--once: ended live');
  }, 300_000);
});
