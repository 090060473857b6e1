import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ChangePageSchema, TransactionDetailSchema, type TransactionDto } from '../../src/read-api/dto.ts';
import { resolvePending } from '../../src/sync/supersede.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { bearer, bodyOf, createTestApi, type TestApi } from '../helpers/api-app.ts';

/**
 * A downstream ledger built on the read API: it copies transactions by polling GET /v1/changes over HTTP and
 * applying each event's `transaction` as an upsert by id. After every step it must hold exactly what
 * GET /v1/transactions/{id} answers for every row it has.
 */
type ChangeEventDto = z.output<typeof ChangePageSchema>['data'][number];

class Ledger {
  readonly rows = new Map<string, TransactionDto>();
  readonly events: ChangeEventDto[] = [];
  private readonly api: TestApi;
  private readonly key: string;
  cursor: string;
  constructor(api: TestApi, key: string, cursor: string) {
    this.api = api;
    this.key = key;
    this.cursor = cursor;
  }

  /** Polls until `until` holds for the events read so far (events appear once older write transactions ended). */
  async pollUntil(until: (events: readonly ChangeEventDto[]) => boolean): Promise<void> {
    for (let i = 0; i < 400; i++) {
      const page = bodyOf(
        ChangePageSchema,
        await request(this.api.app).get(`/v1/changes?cursor=${this.cursor}&limit=3`).set(bearer(this.key)),
      );
      for (const e of page.data) {
        this.events.push(e);
        if (e.transaction) {
          this.rows.set(e.entityId, e.transaction);
        }
      }
      this.cursor = page.nextCursor;
      if (!page.hasMore && until(this.events)) {
        return;
      }
      if (page.data.length === 0) {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    throw new Error('the feed did not deliver the expected events');
  }

  /** What the API says now about every row the ledger holds. */
  async truth(): Promise<Map<string, TransactionDto>> {
    const out = new Map<string, TransactionDto>();
    for (const id of this.rows.keys()) {
      const res = await request(this.api.app).get(`/v1/transactions/${id}`).set(bearer(this.key));
      const { history: _h, decisions: _d, ...row } = bodyOf(TransactionDetailSchema, res);
      out.set(id, row);
    }
    return out;
  }
}

describe('change feed as a ledger reads it', () => {
  let api: TestApi;
  let key: string;
  let tenancy: Awaited<ReturnType<typeof createTenancy>>;

  beforeAll(async () => {
    api = await createTestApi();
    tenancy = await createTenancy(api.t.db, { name: 'Ledger Co' });
    key = await api.key('viewer', tenancy.organizationId);
  });
  afterAll(async () => {
    await api.close();
  });

  async function startLedger(): Promise<Ledger> {
    const res = await request(api.app).get('/v1/changes/cursor').set(bearer(key));
    return new Ledger(api, key, (res.body as { cursor: string }).cursor);
  }

  it('pending → posted: the posted row that replaced a pending one is announced with its link (supersedes)', async () => {
    const account = await createAccount(api.t.db, tenancy);
    const ledger = await startLedger();
    const date = '2026-11-10';
    await ingestWire(api.t.db, account, [
      wireTransaction({
        transactionId: 'PEND-1',
        jpmAccountId: account.jpmAccountId,
        asOfDate: date,
        postCode: 'I',
        amount: '250.00',
        bankReference: 'REF-LINK-1',
      }),
    ]);
    // The posted record arrives, and the ledger reads it before the day is resolved.
    await ingestWire(api.t.db, account, [
      wireTransaction({
        transactionId: 'POST-1',
        jpmAccountId: account.jpmAccountId,
        asOfDate: date,
        postCode: 'P',
        amount: '250.00',
        bankReference: 'REF-LINK-1',
      }),
    ]);
    await ledger.pollUntil((events) => events.filter((e) => e.kind === 'added').length === 2);
    const counts = await resolvePending(api.t.db, account, [date], null);
    expect(counts).toEqual({ superseded: 1, removed: 0 });
    await ledger.pollUntil((events) => events.some((e) => e.kind === 'removed'));

    const byJpmId = (id: string) => [...ledger.rows.values()].find((r) => r.jpmTransactionId === id)!;
    const pending = byJpmId('PEND-1');
    const posted = byJpmId('POST-1');
    expect(pending.status).toBe('superseded');
    expect(pending.supersededBy).toBe(posted.id);
    // The ledger's copy of the posted row knows which pending item it replaced, as the API does.
    expect(posted.supersedes).toBe(pending.id);
    expect(await ledger.truth()).toEqual(ledger.rows);
  });
});
