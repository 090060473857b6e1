import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyCacheListening, apiKeyLookupsTotal } from '../../src/shared/metrics.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { captureLogLines } from '../helpers/log-capture.ts';

/**
 * The API process's key cache as wired in src/main/context.ts, on a database whose key-change trigger is disabled:
 * the cache stays off (metric 0), one warning says why, and it comes back once the trigger is enabled.
 */
const logLines = captureLogLines('debug');

async function gauge(): Promise<number> {
  return (await apiKeyCacheListening.get()).values[0]?.value ?? 0;
}

async function cacheHits(): Promise<number> {
  return (await apiKeyLookupsTotal.get()).values.find((v) => v.labels.source === 'cache')?.value ?? 0;
}

const WARNING = 'api key change triggers missing or disabled';

describe('API key cache without its notifying trigger', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await createTestApi();
  });
  afterAll(async () => {
    await api.close();
  });

  it('stays off with one warning (no key in it) and the listening metric at 0, and turns on once the trigger is enabled', async () => {
    const key = await api.key('viewer');
    await sql`alter table api_keys disable trigger api_keys_notify_update`.execute(api.t.db);
    const hitsBefore = await cacheHits();
    // Spread over more than one heartbeat (5 s): the listener checks again and still refuses, without a second warning.
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      expect((await request(api.app).get('/v1/transactions?limit=1').set(bearer(key))).status).toBe(200);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await cacheHits()).toBe(hitsBefore);
    expect(await gauge()).toBe(0);
    const warnings = logLines.filter((l) => l.includes(WARNING));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, triggers: ['api_keys_notify_update'] });
    expect(logLines.filter((l) => l.includes('api key change listener lost'))).toEqual([]);

    await sql`alter table api_keys enable trigger api_keys_notify_update`.execute(api.t.db);
    const deadline = Date.now() + 8_000;
    let hits = await cacheHits();
    while ((await cacheHits()) === hits) {
      expect(Date.now()).toBeLessThan(deadline);
      hits = await cacheHits();
      expect((await request(api.app).get('/v1/transactions?limit=1').set(bearer(key))).status).toBe(200);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await gauge()).toBe(1);
    expect(logLines.filter((l) => l.includes(key) || l.includes(key.split('_')[2]!))).toEqual([]);
  });
});
