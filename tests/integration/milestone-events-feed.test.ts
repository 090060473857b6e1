import { Kysely, PostgresDialect, type CompiledQuery } from 'kysely';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MilestoneEventSchema } from '../../src/admin-api/events.dto.ts';
import { pageSchema } from '../../src/http/pagination.ts';
import { listMilestones } from '../../src/onboarding/index.ts';
import { createPool, type DB } from '../../src/storage/db.ts';
import { committedOutboxEventsAfter, listOutboxEvents } from '../../src/storage/outbox.repo.ts';
import { createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

const EventPage = pageSchema(MilestoneEventSchema);

/**
 * The milestone event feed (GET /v1/events, GET /v1/integrations/{id}/events) promises that a poller can keep its
 * cursor and read only what is new. Event ids come from a sequence, which is not commit order: a transaction that
 * took a lower id can commit after a poller has read a higher one. These tests hold such a transaction open on a
 * connection of its own while other events commit, exactly as two API or worker processes would.
 */
describe('milestone event feed: commit-safe cursors', () => {
  let api: TestApi;
  let pool: pg.Pool;

  beforeAll(async () => {
    api = await createTestApi();
    pool = new pg.Pool({ connectionString: api.t.url, max: 6 });
    // pool.end() resolves before its clients' sockets have closed: the test database's drop (with force) can still end
    // one of those sessions, which without a listener is an unhandled error of the run.
    pool.on('error', () => undefined);
  });
  afterAll(async () => {
    await pool.end();
    await api.close();
  });

  async function insertEvent(c: pg.Pool | pg.PoolClient, t: Tenancy, type: string): Promise<string> {
    const r = await c.query<{ id: string }>(
      `insert into outbox_events (organization_id, integration_id, type, payload) values ($1, $2, $3, '{}')
       returning id::text`,
      [t.organizationId, t.integrationId, type],
    );
    return r.rows[0]!.id;
  }

  async function page(path: string, key: string, limit: number, cursor: string | null) {
    const res = await request(api.app)
      .get(path)
      .query(cursor === null ? { limit } : { limit, cursor })
      .set(bearer(key));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return bodyOf(EventPage, res);
  }

  /** Follows nextCursor from `from` to the last page; returns the ids read and the last non-null nextCursor. */
  async function followNextCursor(path: string, key: string, from: string | null) {
    const ids: string[] = [];
    let kept = from;
    let cursor = from;
    for (;;) {
      const p = await page(path, key, 1, cursor);
      ids.push(...p.data.map((e) => e.id));
      if (p.nextCursor === null) {
        return { ids, kept };
      }
      kept = cursor = p.nextCursor;
    }
  }

  const routes: { name: string; path: (t: Tenancy) => string; key: (t: Tenancy) => Promise<string> }[] = [
    { name: 'GET /v1/events (all organizations)', path: () => '/v1/events', key: () => Promise.resolve(api.adminKey) },
    {
      name: 'GET /v1/events (organization key)',
      path: () => '/v1/events',
      key: (t) => api.key('viewer', t.organizationId),
    },
    {
      name: 'GET /v1/integrations/{id}/events',
      path: (t) => `/v1/integrations/${t.integrationId}/events`,
      key: (t) => api.key('viewer', t.organizationId),
    },
  ];

  it.each(routes)(
    '$name: an event whose transaction commits late is not skipped by a poller keeping nextCursor',
    async (route) => {
      const t = await createTenancy(api.t.db, { name: `Late commit ${route.name}` });
      const key = await route.key(t);
      const path = route.path(t);
      // Every event of the database is the expected answer for the all-organizations key: start from a clean table.
      if (path === '/v1/events' && key === api.adminKey) {
        await pool.query('delete from outbox_events');
      }
      const before = [
        await insertEvent(pool, t, 'integration.created'),
        await insertEvent(pool, t, 'credentials.csr_generated'),
      ];
      const slow = await pool.connect();
      try {
        await slow.query('begin');
        const late = await insertEvent(slow, t, 'certificate.installed'); // the lower id, committed last
        const after = [
          await insertEvent(pool, t, 'integration.stage_changed'),
          await insertEvent(pool, t, 'integration.live'),
        ];
        expect(BigInt(late)).toBeLessThan(BigInt(after[0]!));

        // The poller reads everything it can now, one event a page, and keeps the last nextCursor it was given.
        const first = await followNextCursor(path, key, null);
        expect(first.ids).not.toContain(late);
        await slow.query('commit');
        // Later polls resume from the kept cursor (an event appears once every older write transaction of the
        // Postgres cluster has ended, so a busy cluster may take a few polls).
        const expected = new Set([...before, late, ...after]);
        const seen = new Set(first.ids);
        let kept = first.kept;
        for (const deadline = Date.now() + 20_000; seen.size < expected.size && Date.now() < deadline;) {
          const next = await followNextCursor(path, key, kept);
          next.ids.forEach((id) => seen.add(id));
          kept = next.kept;
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(seen).toEqual(expected);
      } finally {
        slow.release();
      }
    },
  );

  it('each event carries a cursor: a poller storing the last one reads every event once, in commit order, under concurrent writers', async () => {
    const t = await createTenancy(api.t.db, { name: 'Concurrent writers' });
    const key = await api.key('viewer', t.organizationId);
    const path = `/v1/integrations/${t.integrationId}/events`;
    const writers = 4;
    const perWriter = 12;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const committed: string[] = [];
    let writing = true;

    const writer = async (w: number) => {
      for (let i = 0; i < perWriter; i++) {
        const c = await pool.connect();
        try {
          await c.query('begin');
          const id = await insertEvent(c, t, `integration.stage_changed`);
          await sleep(Math.floor(Math.random() * 25) + (w % 2) * 10);
          const second = await insertEvent(c, t, `integration.overdue`);
          await c.query('commit');
          committed.push(id, second);
        } finally {
          c.release();
        }
      }
    };
    const expected = writers * perWriter * 2;
    const seen: string[] = [];
    let stored: string | null = null;
    const poller = async () => {
      // Until every committed event was read (bounded: a busy cluster's older write transactions delay, never hide, them).
      for (const deadline = Date.now() + 40_000; writing || (seen.length < expected && Date.now() < deadline);) {
        const p = await page(path, key, 5, stored);
        for (const e of p.data) {
          seen.push(e.id);
          stored = e.cursor;
        }
        await sleep(p.nextCursor === null ? 5 : 0);
      }
      // Caught up: the stored cursor gives nothing again.
      expect((await page(path, key, 5, stored)).data).toEqual([]);
    };
    const polling = poller();
    await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
    writing = false;
    await polling;

    expect(seen).toHaveLength(expected);
    expect(new Set(seen)).toEqual(new Set(committed));
    // Commit order: the two events of one transaction are next to each other, whatever other writers did meanwhile.
    for (let i = 0; i < committed.length; i += 2) {
      expect(seen.indexOf(committed[i + 1]!)).toBe(seen.indexOf(committed[i]!) + 1);
    }
  }, 60_000);

  it('a cursor of the former format (a bare sequence number) is a 400 invalid_cursor saying to start again', async () => {
    const t = await createTenancy(api.t.db, { name: 'Old cursor' });
    await insertEvent(pool, t, 'integration.created');
    const key = await api.key('viewer', t.organizationId);
    const id = await insertEvent(pool, t, 'integration.stage_changed');
    const former = Buffer.from(JSON.stringify({ v: 1, k: [id] }), 'utf8').toString('base64url');
    for (const path of ['/v1/events', `/v1/integrations/${t.integrationId}/events`]) {
      const problem = expectProblem(
        await request(api.app).get(path).query({ cursor: former }).set(bearer(key)),
        400,
        'invalid_cursor',
      );
      expect(problem.detail).toMatch(/former format/);
      expect(problem.detail).toMatch(/without a cursor/);
    }
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Filter?: string;
  Plans?: PlanNode[];
}

/** The index conditions of a scan: its own, or those of the bitmap index scans under it. */
function indexConds(node: PlanNode): string[] {
  return [
    ...(node['Index Cond'] !== undefined ? [node['Index Cond']] : []),
    ...(node.Plans ?? []).filter((c) => c['Node Type'].startsWith('Bitmap')).flatMap(indexConds),
  ];
}

/**
 * Scans of outbox_events that read more than they must. Unscoped (every organization): anything but an ordered index
 * walk that stops at the page. Scoped (`scoped` matches the scope's equality): anything but an index condition on
 * the scope and the cursor's (xid, id) together, so only the scope's events after the cursor are read (a sort of
 * those is allowed: the planner without statistics may prefer it for a rare scope).
 */
function badOutboxScans(node: PlanNode, parent: PlanNode | undefined, scoped: RegExp | null, out: string[] = []) {
  if (scoped === null && node['Node Type'] === 'Sort') {
    out.push('a sort (every event read, then the page taken)');
  }
  if (node['Relation Name'] === 'outbox_events') {
    const conds = indexConds(node);
    if (node['Node Type'] === 'Seq Scan') {
      out.push('Seq Scan on outbox_events');
    } else if (scoped !== null && !conds.some((c) => scoped.test(c) && /ROW\(xid, id\) >/.test(c))) {
      out.push(
        `${node['Node Type']} without ${String(scoped)} and the cursor in one index condition: ${conds.join('; ')}`,
      );
    } else if (scoped === null && parent?.['Node Type'] !== 'Limit') {
      out.push(
        `${node['Node Type']} using ${node['Index Name'] ?? '?'} that is not an ordered walk stopping at the page`,
      );
    }
  }
  for (const child of node.Plans ?? []) {
    badOutboxScans(child, node, scoped, out);
  }
  return out;
}

/**
 * The feed's statements are served by an index on a table that was never analyzed (autovacuum is off in production
 * too): the statements the repository really sends are recorded and planned with EXPLAIN.
 */
describe('milestone event feed: query plans without statistics', () => {
  let t: TestDb;
  let rec: Kysely<DB>;
  let sent: CompiledQuery[] = [];
  const tenancies: Tenancy[] = [];

  beforeAll(async () => {
    t = await createTestDb();
    for (let i = 0; i < 40; i++) {
      tenancies.push(await createTenancy(t.db, { name: `Plan ${i}` }));
    }
    // 20,000 events over 40 organizations, written by many transactions (distinct xids), as years of milestones.
    for (let batch = 0; batch < 40; batch++) {
      await t.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('outbox_events')
          .values(
            Array.from({ length: 500 }, (_, i) => {
              const tenancy = tenancies[(batch * 7 + i) % tenancies.length]!;
              return {
                organization_id: tenancy.organizationId,
                integration_id: tenancy.integrationId,
                type: i % 50 === 0 ? 'integration.live' : 'integration.stage_changed',
                payload: JSON.stringify({ i }),
              };
            }),
          )
          .execute();
      });
    }
    rec = new Kysely<DB>({
      dialect: new PostgresDialect({ pool: createPool({ url: t.url, poolMax: 2 }) }),
      log(event) {
        if (event.level === 'query') {
          sent.push(event.query);
        }
      },
    });
  }, 120_000);
  afterAll(async () => {
    await rec.destroy();
    await t.drop();
  });

  async function badScans(call: () => Promise<unknown>, scoped: RegExp | null): Promise<string[]> {
    sent = [];
    await call();
    const statements = sent.filter((q) => /\boutbox_events\b/.test(q.sql));
    expect(statements).toHaveLength(1);
    const out: string[] = [];
    for (const q of statements) {
      const r = await t.db.executeQuery<{ 'QUERY PLAN': { Plan: PlanNode }[] }>({
        ...q,
        sql: `explain (format json) ${q.sql}`,
      });
      out.push(...badOutboxScans(r.rows[0]!['QUERY PLAN'][0]!.Plan, undefined, scoped));
    }
    return out;
  }

  it('every list of the feed reads an index from its cursor on, within its organization, integration or type', async () => {
    const { organizationId, integrationId } = tenancies[3]!;
    const middle = (
      await committedOutboxEventsAfter(t.db, { xid: '0', id: '0' }, 1, { organizationId, integrationId })
    )[0]!;
    for (const after of [{ xid: '0', id: '0' }, middle]) {
      expect(await badScans(() => committedOutboxEventsAfter(rec, after, 51), null)).toEqual([]);
      expect(
        await badScans(() => committedOutboxEventsAfter(rec, after, 51, { type: 'integration.live' }), /type =/),
      ).toEqual([]);
      expect(
        await badScans(() => committedOutboxEventsAfter(rec, after, 51, { organizationId }), /organization_id =/),
      ).toEqual([]);
      // A scope with a type: both in the index condition, whatever the sizes of the scope's and the type's indexes.
      expect(
        await badScans(
          () => committedOutboxEventsAfter(rec, after, 51, { organizationId, type: 'integration.live' }),
          /^(?=.*organization_id =)(?=.*type =)/,
        ),
      ).toEqual([]);
      expect(
        await badScans(
          () => committedOutboxEventsAfter(rec, after, 51, { integrationId, type: 'integration.live' }),
          /^(?=.*integration_id =)(?=.*type =)/,
        ),
      ).toEqual([]);
      expect(
        await badScans(
          () => committedOutboxEventsAfter(rec, after, 51, { organizationId, integrationId, type: 'integration.live' }),
          /^(?=.*(integration_id|organization_id) =)(?=.*type =)/,
        ),
      ).toEqual([]);
      expect(
        await badScans(
          () => committedOutboxEventsAfter(rec, after, 51, { organizationId, integrationId }),
          /integration_id =|organization_id =/,
        ),
      ).toEqual([]);
      expect(
        await badScans(() => listMilestones(rec, integrationId, { after, limit: 51 }), /integration_id =/),
      ).toEqual([]);
    }
  });

  it("onboarding's lookup of an integration's event reads only that integration's events", async () => {
    const { integrationId } = tenancies[5]!;
    sent = [];
    await listOutboxEvents(rec, { integrationId, type: 'integration.live', limit: 1 });
    const [q] = sent;
    const r = await t.db.executeQuery<{ 'QUERY PLAN': { Plan: PlanNode }[] }>({
      ...q!,
      sql: `explain (format json) ${q!.sql}`,
    });
    const conds: string[] = [];
    const nodes: string[] = [];
    const visit = (n: PlanNode) => {
      nodes.push(n['Node Type']);
      if (n['Index Cond'] !== undefined) {
        conds.push(n['Index Cond']);
      }
      (n.Plans ?? []).forEach(visit);
    };
    visit(r.rows[0]!['QUERY PLAN'][0]!.Plan);
    expect(nodes).not.toContain('Seq Scan');
    expect(conds.some((c) => /integration_id =/.test(c))).toBe(true);
  });
});
