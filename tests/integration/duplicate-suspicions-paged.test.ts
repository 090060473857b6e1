import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/shared/ids.ts';
import { addDays } from '../../src/shared/time.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { bearer, expectProblem, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * `GET /v1/integrations/{id}/duplicate-suspicions` is a list like every other: `limit` (default 50, at most 500) and
 * `cursor` in, `{ data, nextCursor }` out, oldest day first then by id, so an integration with many suspicions over a
 * long period answers a bounded page and every suspicion is reachable once. Real app and Postgres.
 */
const FIRST_DAY = '2026-09-01';
const PER_DAY = 3;
const DAYS = 40; // 120 suspicions on the first account

interface Suspicion {
  id: string;
  accountId: string;
  bookingDate: string;
}
interface Page {
  data: Suspicion[];
  nextCursor?: string | null;
}

let api: TestApi;
let tenancy: Tenancy;
let accountA: string;
let accountB: string;
const expected: { id: string; accountId: string; bookingDate: string }[] = [];

async function insertSuspicions(accountId: string, days: number) {
  const rows = [];
  for (let d = 0; d < days; d++) {
    for (let k = 0; k < PER_DAY; k++) {
      const id = uuidv7();
      const bookingDate = addDays(FIRST_DAY, d);
      rows.push({
        id,
        organization_id: tenancy.organizationId,
        account_id: accountId,
        booking_date: bookingDate,
        fingerprint: `fp-${d}-${k}`,
        direction: 'debit',
        amount_minor: '2500',
        currency: 'USD',
        decimal_location: 2,
        transaction_ids: [uuidv7(), uuidv7()],
        live_count: 2,
        bank_count: 1,
        evidence: JSON.stringify({ rule: 'test' }),
        first_detected_at: new Date(),
        last_detected_at: new Date(),
      });
      expected.push({ id, accountId, bookingDate });
    }
  }
  await api.t.db.insertInto('duplicate_suspicions').values(rows).execute();
}

beforeAll(async () => {
  api = await createTestApi();
  tenancy = await createTenancy(api.t.db, { name: 'Suspicious Org' });
  accountA = (await createAccount(api.t.db, tenancy)).id;
  accountB = (await createAccount(api.t.db, tenancy)).id;
  await insertSuspicions(accountA, DAYS);
  await insertSuspicions(accountB, 2);
  expected.sort((a, b) => a.bookingDate.localeCompare(b.bookingDate) || a.id.localeCompare(b.id));
});

afterAll(async () => {
  if (api) {
    await obliterate(api.ctx.queues);
    await api.close();
  }
});

const path = (query: string) =>
  `/v1/integrations/${tenancy.integrationId}/duplicate-suspicions?from=${FIRST_DAY}&to=2026-12-31${query}`;

async function get(query: string): Promise<Page> {
  const res = await request(api.app).get(path(query)).set(bearer(api.adminKey));
  expect(res.status, query).toBe(200);
  return res.body as Page;
}

async function walk(query: string): Promise<{ pages: Page[]; seen: Suspicion[] }> {
  const pages: Page[] = [];
  let cursor: string | null | undefined;
  do {
    const page = await get(`${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor && pages.length < 100);
  return { pages, seen: pages.flatMap((p) => p.data) };
}

describe('duplicate suspicions of an integration, paged', () => {
  it('answers a bounded first page (50 by default) with a nextCursor, in the order oldest day first', async () => {
    const first = await get('');
    expect(first.data).toHaveLength(50);
    expect(first.data.map((s) => s.id)).toEqual(expected.slice(0, 50).map((s) => s.id));
    expect(typeof first.nextCursor).toBe('string');
  });

  it('reaches every suspicion once, in order, a page of `limit` at a time; the last page says so', async () => {
    const { pages, seen } = await walk('&limit=7');
    expect(seen.map((s) => s.id)).toEqual(expected.map((s) => s.id));
    expect(pages.slice(0, -1).every((p) => p.data.length === 7)).toBe(true);
    expect(pages.at(-1)!.nextCursor).toBeNull();
  });

  it("pages one account's suspicions with accountId", async () => {
    const { seen } = await walk(`&limit=500&accountId=${accountB}`);
    expect(seen.map((s) => s.id)).toEqual(expected.filter((s) => s.accountId === accountB).map((s) => s.id));
  });

  it('refuses a limit over 500 and a cursor it did not give (a forged day included) with a 400 naming the field', async () => {
    const over = expectProblem(
      await request(api.app).get(path('&limit=501')).set(bearer(api.adminKey)),
      400,
      'validation_failed',
    );
    expect(over.errors?.map((e) => e.path)).toEqual(['query.limit']);
    expectProblem(
      await request(api.app).get(path('&cursor=not-a-cursor')).set(bearer(api.adminKey)),
      400,
      'invalid_cursor',
    );
    const forged = Buffer.from(JSON.stringify({ v: 1, k: ['2026-02-31', uuidv7()] })).toString('base64url');
    expectProblem(
      await request(api.app)
        .get(path(`&cursor=${forged}`))
        .set(bearer(api.adminKey)),
      400,
      'invalid_cursor',
    );
  });
});
