import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageEndpointDeliveries } from '../../src/events/webhook-endpoints.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { createPool, type DB } from '../../src/storage/db.ts';
import { insertEventsWithDeliveries } from '../../src/storage/webhooks.repo.ts';
import { createTenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';

/**
 * The delivery log of an endpoint grows by a delivery per event (a `transactions.changed` per poll with changes) and is
 * never purged. Its pages after the first were planned, without statistics, as every delivery of the endpoint before
 * the cursor (the cursor looks like a third of them) joined to its event and sorted, for a page.
 */
let api: TestApi;
let endpointId: string;
const DELIVERIES = 2_000;
const FAILED = 5;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

beforeAll(async () => {
  api = await createTestApi();
  const { organizationId } = await createTenancy(api.t.db);
  const created = await request(api.app)
    .post('/v1/webhooks')
    .set(bearer(api.adminKey))
    .send({ organizationId, url: 'http://127.0.0.1:9/hook', eventTypes: ['*'] })
    .expect(201);
  endpointId = (created.body as { id: string }).id;
  for (let batch = 0; batch < DELIVERIES / 500; batch++) {
    await insertEventsWithDeliveries(
      api.t.db,
      Array.from({ length: 500 }, () => ({
        id: uuidv7(),
        organizationId,
        type: 'transactions.changed',
        payload: { changes: { added: 1 } },
        endpointIds: [endpointId],
      })),
      uuidv7,
      86_400,
    );
  }
  // As a log looks after a while: every delivery succeeded but FAILED of them, spread over it.
  await sql`update webhook_deliveries set status = 'succeeded', completed_at = now() where endpoint_id = ${endpointId}`.execute(
    api.t.db,
  );
  await sql`update webhook_deliveries set status = 'failed', completed_at = now()
    where id in (select id from webhook_deliveries where endpoint_id = ${endpointId} order by id offset 7 limit ${FAILED})`.execute(
    api.t.db,
  );
});
afterAll(async () => {
  await api?.close();
});

/**
 * One page of the delivery log as the route reads it, and the rows of deliveries and events its statement read
 * (EXPLAIN ANALYZE under the planner settings sent before it).
 */
async function pageReads(query: { limit: number; cursor?: string; status?: 'failed' | 'succeeded' }) {
  const sent: CompiledQuery[] = [];
  const db = new Kysely<DB>({
    dialect: new PostgresDialect({ pool: createPool({ url: api.t.url, poolMax: 2 }) }),
    log(event) {
      if (event.level === 'query') {
        sent.push(event.query);
      }
    },
  });
  try {
    const page = await pageEndpointDeliveries(db, endpointId, query);
    const settings = sent.filter((q) => /^\s*(begin;\s*)?set local /i.test(q.sql));
    const statements = sent.filter((q) => /webhook_deliveries/.test(q.sql));
    expect(statements).toHaveLength(1);
    let read = 0;
    const visit = (node: PlanNode) => {
      if (node['Relation Name'] === 'webhook_deliveries' || node['Relation Name'] === 'webhook_events') {
        read += ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0)) * (node['Actual Loops'] ?? 1);
      }
      for (const child of node.Plans ?? []) {
        visit(child);
      }
    };
    await api.t.db.transaction().execute(async (trx) => {
      for (const s of settings) {
        await trx.executeQuery({ ...s, sql: s.sql.replace(/^\s*begin;\s*/i, '') });
      }
      const plan = await trx.executeQuery<{ 'QUERY PLAN': { Plan: PlanNode }[] }>({
        ...statements[0]!,
        sql: `explain (analyze, format json) ${statements[0]!.sql}`,
      });
      visit(plan.rows[0]!['QUERY PLAN'][0]!.Plan);
    });
    return { read, rows: page.rows.length };
  } finally {
    await db.destroy();
  }
}

describe('delivery log pages on a never-analyzed table', () => {
  it('walks the HTTP pages exactly once each, newest first', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await request(api.app)
        .get(`/v1/webhooks/${endpointId}/deliveries?limit=500${cursor ? `&cursor=${cursor}` : ''}`)
        .set(bearer(api.adminKey))
        .expect(200);
      const page = res.body as { data: { id: string; createdAt: string }[]; nextCursor: string | null };
      seen.push(...page.data.map((d) => d.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toHaveLength(DELIVERIES);
    expect(new Set(seen).size).toBe(DELIVERIES);
  });

  it('a page after the first reads about a page of deliveries, not every one before the cursor', async () => {
    const limit = 20;
    const first = await pageEndpointDeliveries(api.t.db, endpointId, { limit });
    const { read, rows } = await pageReads({ limit, cursor: first.nextCursor! });
    expect(rows).toBe(limit);
    // The page and one, and each one's event.
    expect(read).toBeLessThanOrEqual(2 * (limit + 1));
  });

  it('a page of failed deliveries reads the failed ones, not every delivery of the endpoint', async () => {
    const { read, rows } = await pageReads({ limit: 20, status: 'failed' });
    expect(rows).toBe(FAILED);
    // The failed deliveries and their events (and the index entry that ends the scan).
    expect(read).toBeLessThanOrEqual(2 * FAILED + 2);
  });

  it('a page of succeeded deliveries after an outage reads about a page of deliveries, not the failed ones', async () => {
    // The endpoint was down for a while: its newest 600 deliveries failed. A page of the succeeded ones walked the
    // endpoint's deliveries checking each one's status, every failed one first.
    const outage = await sql<{ id: string }>`
      update webhook_deliveries set status = 'failed' where id in (
        select id from webhook_deliveries where endpoint_id = ${endpointId} and status = 'succeeded'
        order by created_at desc, id desc limit 600)
      returning id`.execute(api.t.db);
    try {
      const limit = 20;
      const first = await pageReads({ limit, status: 'succeeded' });
      expect(first.rows).toBe(limit);
      // The page and one, and each one's event.
      expect(first.read).toBeLessThanOrEqual(2 * (limit + 1));
      const page = await pageEndpointDeliveries(api.t.db, endpointId, { limit, status: 'succeeded' });
      const second = await pageReads({ limit, status: 'succeeded', cursor: page.nextCursor! });
      expect(second.rows).toBe(limit);
      expect(second.read).toBeLessThanOrEqual(2 * (limit + 1));
      const expected = await sql<{ id: string }>`
        select id from webhook_deliveries where endpoint_id = ${endpointId} and status = 'succeeded'
        order by created_at desc, id desc limit ${limit}`.execute(api.t.db);
      expect(page.rows.map((r) => r.id)).toEqual(expected.rows.map((r) => r.id));
    } finally {
      await sql`update webhook_deliveries set status = 'succeeded'
        where id = any(${outage.rows.map((r) => r.id)}::uuid[])`.execute(api.t.db);
    }
  });
});
