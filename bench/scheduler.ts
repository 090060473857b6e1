/**
 * Benchmark 6: registering the job schedulers of 10,000 accounts (`reconcileSchedules`, which the
 * scheduler role runs at startup and the daily maintenance repeats) and the Redis memory they take.
 */
import { sql } from 'kysely';
import { createQueues, reconcileSchedules } from '../src/scheduler/index.ts';
import { createLogger } from '../src/shared/logger.ts';
import { uuidv7 } from '../src/shared/ids.ts';
import { startResult, type RunContext } from './lib/context.ts';
import {
  benchPrefix,
  createBenchDb,
  deletePrefix,
  newRedis,
  REDIS_URL,
  round,
  type BenchResult,
  target,
} from './lib/env.ts';

const ACCOUNTS = 10_000;

function usedMemory(info: string): number {
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0);
}

/** Bytes Redis reports for every key under the prefix (MEMORY USAGE, exact per key, unaffected by other clients). */
async function prefixMemory(
  redis: ReturnType<typeof newRedis>,
  prefix: string,
): Promise<{ keys: number; bytes: number }> {
  let cursor = '0';
  let keys = 0;
  let bytes = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys += batch.length;
    const pipe = redis.pipeline();
    for (const k of batch) {
      pipe.memory('USAGE', k, 'SAMPLES', '0');
    }
    for (const [, v] of (await pipe.exec()) ?? []) {
      bytes += Number(v ?? 0);
    }
  } while (cursor !== '0');
  return { keys, bytes };
}

export async function runScheduler(ctx: RunContext): Promise<BenchResult> {
  const finish = startResult(ctx, 'scheduler', 'Job schedulers for 10,000 accounts');
  const bdb = await createBenchDb('scheduler', 4);
  const prefix = benchPrefix('scheduler');
  const redis = newRedis();
  const queues = createQueues({ redisUrl: REDIS_URL, prefix });
  try {
    const organizationId = uuidv7();
    const integrationId = uuidv7();
    await bdb.db.insertInto('organizations').values({ id: organizationId, name: 'Bench Treasury' }).execute();
    await bdb.db
      .insertInto('integrations')
      .values({
        id: integrationId,
        organization_id: organizationId,
        name: 'Bench J.P. Morgan',
        environment: 'simulator',
        base_url: 'https://127.0.0.1:1',
        stage: 'live',
      })
      .execute();
    // Accounts across six time zones (cron `tz` per account), ids uuidv7 as the service makes them.
    const zones = [
      'America/New_York',
      'America/Chicago',
      'Europe/London',
      'Europe/Berlin',
      'Asia/Tokyo',
      'Asia/Kuwait',
    ];
    const rows = Array.from({ length: ACCOUNTS }, (_, i) => ({
      id: uuidv7(),
      organization_id: organizationId,
      integration_id: integrationId,
      jpm_account_id: String(100_000_000_000_000 + i),
      bank_id: '02100002',
      currency: 'USD',
      decimal_location: 2,
      time_zone: zones[i % zones.length]!,
    }));
    for (let i = 0; i < rows.length; i += 2_000) {
      await bdb.db
        .insertInto('bank_accounts')
        .values(rows.slice(i, i + 2_000))
        .execute();
    }
    await sql`analyze`.execute(bdb.db);
    await queues.queue('sync').waitUntilReady();
    const before = usedMemory(await redis.info('memory'));
    const deps = { db: bdb.db, queues, logger: createLogger('scheduler') };
    const t0 = performance.now();
    const first = await reconcileSchedules(deps);
    const seconds = (performance.now() - t0) / 1000;
    const after = usedMemory(await redis.info('memory'));
    const own = await prefixMemory(redis, prefix);
    const t1 = performance.now();
    const second = await reconcileSchedules(deps);
    const unchangedSeconds = (performance.now() - t1) / 1000;
    return finish({
      parameters: { accounts: ACCOUNTS, intradayRunsPerDay: 4, schedulersPerAccount: 2 },
      figures: {
        seconds: round(seconds, 2),
        schedulersPerSecond: round(first.upserted / seconds),
        first,
        redisKeys: own.keys,
        redisBytesByKeys: own.bytes,
        redisBytesPerAccount: round(own.bytes / ACCOUNTS),
        redisUsedMemoryDelta: after - before,
        reconcileUnchangedSeconds: round(unchangedSeconds, 2),
        second,
      },
      targets: [
        target('register 10,000 accounts', round(seconds, 2), '<=', 10, 's'),
        target('schedulers upserted', first.upserted, '==', 2 * ACCOUNTS + 1),
      ],
      notes: [
        'redisBytesByKeys: MEMORY USAGE of every key under the fresh prefix (exact for our keys); redisUsedMemoryDelta: INFO memory used_memory after minus before, which other clients of the shared Redis also move.',
        'reconcileUnchangedSeconds: the same reconcile again (startup of a second scheduler): every scheduler is compared, none rewritten.',
      ],
    });
  } finally {
    await queues.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await bdb.drop();
  }
}
