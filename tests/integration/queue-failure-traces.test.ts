import { Worker, type Job } from 'bullmq';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HANDLERS, type Handler } from '../../src/scheduler/handlers.ts';
import { jobsOfQueue, type JobName } from '../../src/scheduler/jobs.ts';
import { startWorkers, type RunningWorkers } from '../../src/scheduler/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createRedis, type RedisConnection } from '../../src/shared/redis.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * BullMQ stores a failed job's `err.stack` and bull-board (/admin/queues) serves it: source paths and lines in a
 * response. Our worker stores the error's `name: message` as its trace instead (its class kept: an
 * UnrecoverableError is still not retried), the board answers no stack even for a job failed elsewhere, and the
 * board's own error answers carry none either.
 */
const STACK = /\n\s+at |\.[cm]?[jt]s:\d+/;
const SECRET_KEY = 'jpms_abcdefgh_SecretPartOfAnApiKey0123456789';

let api: TestApi;
let workers: RunningWorkers | undefined;
let foreign: Worker | undefined;
let foreignConnection: RedisConnection | undefined;

/** The job as stored once it has failed for good. */
async function failed(queue: 'maintenance' | 'sync', job: Job): Promise<Job> {
  await expect.poll(async () => job.getState(), { timeout: 20_000, interval: 50 }).toBe('failed');
  return (await api.ctx.queues.queue(queue).getJob(job.id!))!;
}

beforeAll(async () => {
  api = await createTestApi();
  const failing: Handler<JobName> = () =>
    Promise.reject(new Error(`bank refused account 000000010975001 for key ${SECRET_KEY}`));
  workers = startWorkers(
    { queues: api.ctx.queues, sync: { db: api.ctx.db } as never, logger: createLogger('scheduler') },
    {
      redisUrl: REDIS_URL,
      database: { url: api.t.url, poolMax: 2 },
      concurrency: 1,
      queues: ['maintenance'],
      handlers: {
        ...Object.fromEntries(jobsOfQueue('maintenance').map((n) => [n, HANDLERS[n]])),
        'daily-maintenance': failing,
        // undici's AbortError and TimeoutError are DOMExceptions, whose message cannot be set.
        'reconcile-schedules': () => Promise.reject(new DOMException('The operation was aborted', 'AbortError')),
      },
    },
  );
});
afterAll(async () => {
  await workers?.close();
  await foreign?.close();
  await foreignConnection?.quit();
  await obliterate(api.ctx.queues).catch(() => undefined);
  await api?.close();
});

describe('failed jobs: what is stored and what the queue board shows', () => {
  it('a job our worker fails keeps its error class and scrubbed message as its trace, not a stack', async () => {
    const maintenance = api.ctx.queues.queue('maintenance');
    // Retried as its options say: the error is still a plain Error.
    const retried = await failed(
      'maintenance',
      await maintenance.add('daily-maintenance', {}, { attempts: 2, backoff: { type: 'fixed', delay: 10 } }),
    );
    expect(retried.attemptsMade).toBe(2);
    expect(retried.failedReason).toBe('bank refused account ****5001 for key jpms_[REDACTED]');
    expect(retried.stacktrace).toEqual([`Error: ${retried.failedReason}`, `Error: ${retried.failedReason}`]);
    // An UnrecoverableError stays one: not retried, whatever the job's attempts.
    const refused = await failed('maintenance', await maintenance.add('not-a-job', {}, { attempts: 3 }));
    expect(refused.attemptsMade).toBe(1);
    expect(refused.failedReason).toBe('unknown job not-a-job');
    expect(refused.stacktrace).toEqual(['UnrecoverableError: unknown job not-a-job']);
    // An error whose message cannot be set fails the job with its own name and message, not a TypeError of ours.
    const aborted = await failed('maintenance', await maintenance.add('reconcile-schedules', {}, { attempts: 1 }));
    expect(aborted.failedReason).toBe('The operation was aborted');
    expect(aborted.stacktrace).toEqual(['AbortError: The operation was aborted']);

    const board = await request(api.app)
      .get('/admin/queues/api/queues')
      .query({ activeQueue: 'maintenance', status: 'failed', page: '1', jobsPerPage: '10' })
      .set(bearer(api.adminKey));
    expect(board.status).toBe(200);
    const text = JSON.stringify(board.body);
    expect(text).toContain('unknown job not-a-job');
    expect(text).not.toMatch(STACK);
    expect(text).not.toContain('000000010975001');
    expect(text).not.toContain(SECRET_KEY);
  });

  it('the board shows a job that another process failed with a full stack by its first line only', async () => {
    foreignConnection = createRedis(REDIS_URL, 'worker');
    foreign = new Worker(
      'sync',
      () => {
        throw new TypeError('not what the processor expected');
      },
      { connection: foreignConnection, prefix: api.ctx.queues.prefix },
    );
    const elsewhere = await failed('sync', await api.ctx.queues.queue('sync').add('elsewhere', {}));
    // BullMQ stored the whole stack: what the board must not hand out.
    expect((elsewhere.stacktrace ?? []).join('\n')).toMatch(STACK);
    const auth = bearer(api.adminKey);
    const list = await request(api.app)
      .get('/admin/queues/api/queues')
      .query({ activeQueue: 'sync', status: 'failed', page: '1', jobsPerPage: '10' })
      .set(auth);
    const one = await request(api.app).get(`/admin/queues/api/queues/sync/${elsewhere.id}`).set(auth);
    for (const res of [list, one]) {
      expect(res.status).toBe(200);
      const text = JSON.stringify(res.body);
      expect(text).not.toMatch(STACK);
      // What failed is still there for the operator.
      expect(text).toContain('"stacktrace":["TypeError: not what the processor expected"]');
      expect(text).toContain('"failedReason":"not what the processor expected"');
    }
  });

  it("the board's own error answers carry no stack, in development too", async () => {
    const before = process.env.NODE_ENV;
    // bull-board adds the stack to its error answers when NODE_ENV is development, read when the error happens.
    process.env.NODE_ENV = 'development';
    try {
      const res = await request(api.app)
        .post('/admin/queues/api/queues/maintenance/add')
        .set(bearer(api.adminKey))
        .set('content-type', 'application/json')
        .send('{"name": "daily-maintenance", ');
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).not.toMatch(STACK);
      expect(res.text).not.toContain('details');
    } finally {
      process.env.NODE_ENV = before;
    }
  });
});
