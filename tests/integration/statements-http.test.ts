import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SyncRunSchema } from '../../src/admin-api/syncs.routes.ts';
import { buildAccounts } from '../../src/simulator/accounts.ts';
import { Ledger } from '../../src/simulator/ledger.ts';
import { DEFAULT_QUIRKS } from '../../src/simulator/quirks.ts';
import { renderBai2, renderCamt053 } from '../../src/simulator/statements.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

const ImportSchema = z.object({
  run: SyncRunSchema,
  format: z.enum(['bai2', 'camt053', 'camt052']),
  fileId: z.string(),
  days: z.array(z.string()),
  otherAccounts: z.number(),
  copiesSkipped: z.array(z.string()),
});

describe('POST /v1/accounts/{id}/statements', () => {
  let api: TestApi;
  let accountId: string;
  let otherOrgKey: string;
  let bai2: string;
  let camt: string;
  const seed = 'statements-http';
  const ledger = new Ledger({
    seed,
    accounts: buildAccounts(seed, 2),
    firstDate: '2026-10-01',
    txPerDay: 15,
    quirks: DEFAULT_QUIRKS,
  });

  beforeAll(async () => {
    api = await createTestApi();
    const tenancy = await createTenancy(api.t.db);
    const sim = ledger.accounts[0]!;
    accountId = (
      await createAccount(api.t.db, tenancy, {
        jpmAccountId: sim.accountId,
        currency: sim.currency.code,
        decimalLocation: sim.currency.decimalLocation,
      })
    ).id;
    const other = await createTenancy(api.t.db, { name: 'Other Org' });
    otherOrgKey = await api.key('admin', other.organizationId);
    const window = {
      accountIds: [sim.accountId, ledger.accounts[1]!.accountId],
      from: '2026-10-05',
      to: '2026-10-16',
      clock: { today: '2026-10-30', progress: 0.5 },
    };
    bai2 = renderBai2(ledger, window);
    camt = renderCamt053(ledger, window);
  });
  afterAll(async () => {
    await api.close();
  });

  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer(api.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** A body sent in the pieces `pieces` yields, chunked (no Content-Length), over a real socket. */
  const postStream = (id: string, key: string, type: string, pieces: () => Generator<string | Uint8Array>) => {
    const it = pieces();
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = it.next();
        if (next.done) {
          controller.close();
        } else {
          controller.enqueue(typeof next.value === 'string' ? Buffer.from(next.value, 'utf8') : next.value);
        }
      },
    });
    return fetch(`${base}/v1/accounts/${id}/statements`, {
      method: 'POST',
      headers: { ...bearer(key), 'Content-Type': type },
      body,
      duplex: 'half',
    });
  };

  /** An account of the ledger's first account number in an organization of its own, and that organization's key. */
  const freshAccount = async (name: string) => {
    const tenancy = await createTenancy(api.t.db, { name });
    const sim = ledger.accounts[0]!;
    const acct = await createAccount(api.t.db, tenancy, {
      jpmAccountId: sim.accountId,
      currency: sim.currency.code,
      decimalLocation: sim.currency.decimalLocation,
    });
    return { id: acct.id, key: await api.key('admin', tenancy.organizationId) };
  };

  const writtenFor = async (id: string) => {
    const count = async (table: 'sync_runs' | 'transactions' | 'balances') =>
      Number(
        (
          await api.t.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('account_id', '=', id)
            .executeTakeFirstOrThrow()
        ).n,
      );
    return {
      runs: await count('sync_runs'),
      transactions: await count('transactions'),
      balances: await count('balances'),
    };
  };

  const post = (body: string, type: string, key = api.adminKey) =>
    request(api.app).post(`/v1/accounts/${accountId}/statements`).set(bearer(key)).set('Content-Type', type).send(body);

  it('imports a BAI2 file as a sync run (201), then the camt.053 of the same days changes nothing', async () => {
    const first = bodyOf(ImportSchema, await post(bai2, 'text/plain').expect(201));
    expect(first.format).toBe('bai2');
    expect(first.run).toMatchObject({
      accountId,
      status: 'succeeded',
      mode: 'range',
      source: 'bai2',
      window: { from: '2026-10-05', to: '2026-10-16' },
    });
    expect(first.run.counts.inserted).toBeGreaterThan(50);
    expect(first.days).toHaveLength(10);
    expect(first.otherAccounts).toBe(1);
    const second = bodyOf(ImportSchema, await post(camt, 'application/xml').expect(201));
    expect(second.format).toBe('camt053');
    expect(second.run.source).toBe('camt053');
    expect(second.run.counts).toMatchObject({
      inserted: 0,
      updated: 0,
      unchanged: first.run.counts.inserted,
      rejected: 0,
      balances: 0,
    });
    const stored = await api.t.db
      .selectFrom('transactions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('account_id', '=', accountId)
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(first.run.counts.inserted);
    // The run is listed like any other.
    const run = await request(api.app).get(`/v1/sync-runs/${first.run.id}`).set(bearer(api.adminKey)).expect(200);
    expect(run.body).toMatchObject({ id: first.run.id, status: 'succeeded' });
  });

  it('refuses a correction group (group status 3) of days already stored (409), naming them, and stores nothing', async () => {
    await post(bai2, 'text/plain').expect(201);
    const before = await writtenFor(accountId);
    const correction = bai2
      .split('\r\n')
      .map((l) => l.replace(/^02,([^,]*),([^,]*),1,/, '02,$1,$2,3,'))
      .join('\r\n');
    expect(correction).not.toBe(bai2);
    const refused = expectProblem(await post(correction, 'text/plain'), 409, 'statement_correction_conflict');
    expect(refused.detail).toContain('2026-10-05');
    expect(await writtenFor(accountId)).toEqual(before);
  });

  it('a camt duplicate (CpyDplctInd DUPL) of stored days writes nothing and names them; one differing from its original in the file is a 400', async () => {
    const fresh = await freshAccount('Copies Org');
    const postTo = (body: string) =>
      request(api.app)
        .post(`/v1/accounts/${fresh.id}/statements`)
        .set(bearer(fresh.key))
        .set('Content-Type', 'application/xml')
        .send(body);
    bodyOf(ImportSchema, await postTo(camt).expect(201));
    const before = await writtenFor(fresh.id);
    // Every statement of the file sent again as a duplicate, with another closing balance.
    const dup = camt
      .replace(/(<Stmt><Id>[^<]*<\/Id><CreDtTm>[^<]*<\/CreDtTm>)/g, '$1<CpyDplctInd>DUPL</CpyDplctInd>')
      .replace(/(<Cd>CLBD<\/Cd><\/CdOrPrtry><\/Tp><Amt Ccy="[A-Z]{3}">)/g, '$1999');
    expect(dup).not.toBe(camt);
    const skipped = bodyOf(ImportSchema, await postTo(dup).expect(201));
    expect(skipped.days).toEqual([]);
    expect(skipped.copiesSkipped).toHaveLength(10);
    expect(skipped.run.counts).toMatchObject({ inserted: 0, updated: 0, balances: 0 });
    expect({ ...(await writtenFor(fresh.id)), runs: before.runs }).toEqual(before);
    // The original and its differing duplicate in one file.
    const first = /<Stmt>[^]*?<\/Stmt>/.exec(camt)![0];
    const both = camt.replace(
      first,
      `${first}${first.replace('<Acct>', '<CpyDplctInd>DUPL</CpyDplctInd><Acct>').replace(/<Ntry>[^]*?<\/Ntry>/, '')}`,
    );
    const refused = expectProblem(await postTo(both), 400, 'statement_duplicate_differs');
    expect(refused.detail).toMatch(/^line \d+: the statement is marked DUPL/);
  });

  it('refuses a tampered file with the line (400), another media type (415), an empty body, another organization', async () => {
    const lines = bai2.split('\r\n');
    const at = lines.findIndex((l) => l.startsWith('98,'));
    lines[at] = lines[at]!.replace(/^98,(-?\d+),/, (_m, n: string) => `98,${BigInt(n) - 1n},`);
    const refused = expectProblem(await post(lines.join('\r\n'), 'text/plain'), 400, 'statement_control_total');
    expect(refused.detail).toContain(`line ${at + 1}`);
    expectProblem(await post(JSON.stringify({ file: bai2 }), 'application/json'), 415, 'unsupported_media_type');
    expect(
      expectProblem(await post(bai2, 'text/plain; charset=x-no-such-charset'), 415, 'unsupported_media_type').detail,
    ).toContain('x-no-such-charset');
    expectProblem(await post('   ', 'text/plain'), 400, 'statement_empty');
    expectProblem(
      await request(api.app).post(`/v1/accounts/${accountId}/statements`).set(bearer(api.adminKey)),
      400,
      'statement_empty',
    );
    // Without a body, another organization's account is not found before anything is said about the body.
    expectProblem(
      await request(api.app).post(`/v1/accounts/${accountId}/statements`).set(bearer(otherOrgKey)),
      404,
      'not_found',
    );
    expectProblem(await post(bai2, 'text/plain', otherOrgKey), 404, 'not_found');
  });

  it('a file with a record that cannot be stored: the run ends partial, the record is a reject with its line, its day unproved', async () => {
    const tenancy = await createTenancy(api.t.db, { name: 'Ugly Org' });
    const acct = await createAccount(api.t.db, tenancy, {
      jpmAccountId: '000000123456789',
      currency: 'USD',
      decimalLocation: 2,
    });
    const res = await request(api.app)
      .post(`/v1/accounts/${acct.id}/statements`)
      .set(bearer(api.adminKey))
      .set('Content-Type', 'application/octet-stream')
      .send(readFileSync('tests/fixtures/statements/ugly.bai2'));
    expect(res.status).toBe(201);
    const body = bodyOf(ImportSchema, res);
    expect(body.run).toMatchObject({
      status: 'partial',
      error: { code: 'records_rejected' },
      counts: { inserted: 6, rejected: 1, balances: 1 },
    });
    expect(body.otherAccounts).toBe(1);
    const rejects = await request(api.app).get(`/v1/accounts/${acct.id}/rejects`).set(bearer(api.adminKey)).expect(200);
    expect((rejects.body as { data: unknown[] }).data).toEqual([
      expect.objectContaining({ recordIndex: 14, fields: ['typeCode'], bookingDate: '2026-11-30' }),
    ]);
    const day = await api.t.db
      .selectFrom('account_days')
      .select(['state', 'reason'])
      .where('account_id', '=', acct.id)
      .execute();
    expect(day).toEqual([{ state: 'unproved', reason: 'rejected_record' }]);
  });

  it('refuses a body over the limit (413) whether its length is declared or not, and stores nothing of it', async () => {
    const { id, key } = await freshAccount('Over Cap Org');
    const declared = await request(api.app)
      .post(`/v1/accounts/${id}/statements`)
      .set(bearer(key))
      .set('Content-Type', 'text/plain')
      .send(`${bai2}${' '.repeat(33 * 1024 * 1024)}`);
    expect(expectProblem(declared, 413, 'payload_too_large').detail).toContain('32MB');
    // Chunked, no Content-Length: counted as it arrives; the file's records are all there before the cap is passed.
    const chunked = await postStream(id, key, 'text/plain', function* () {
      yield bai2;
      for (let i = 0; i < 34; i++) {
        yield '\r\n'.repeat(512 * 1024);
      }
    });
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as { code: string }).code).toBe('payload_too_large');
    expect(await writtenFor(id)).toEqual({ runs: 0, transactions: 0, balances: 0 });
  });

  it('streams a large file in small, oddly cut pieces (chunked, no Content-Length): the same rows as the file sent whole', async () => {
    const big = new Ledger({
      seed: 'statements-http-big',
      accounts: buildAccounts('statements-http-big', 1),
      firstDate: '2026-09-01',
      txPerDay: 300,
      quirks: DEFAULT_QUIRKS,
    });
    const sim = big.accounts[0]!;
    const file = renderBai2(big, {
      accountIds: [sim.accountId],
      from: '2026-09-01',
      to: '2026-09-30',
      clock: { today: '2026-10-30', progress: 0.5 },
    });
    expect(file.length).toBeGreaterThan(1_000_000);
    const tenancy = await createTenancy(api.t.db, { name: 'Big File Org' });
    const acct = await createAccount(api.t.db, tenancy, {
      jpmAccountId: sim.accountId,
      currency: sim.currency.code,
      decimalLocation: sim.currency.decimalLocation,
    });
    const bytes = Buffer.from(file, 'utf8');
    // Pieces of 1..4096 bytes: line ends, CRLF pairs and multi-byte characters fall across pieces.
    let pieces = 0;
    const res = await postStream(acct.id, api.adminKey, 'text/plain; charset=utf-8', function* () {
      let at = 0;
      for (let n = 1; at < bytes.length; n = ((n * 7919 + 13) % 4096) + 1) {
        yield bytes.subarray(at, at + n);
        at += n;
        pieces++;
      }
    });
    expect(res.status).toBe(201);
    expect(pieces).toBeGreaterThan(100);
    const streamed = ImportSchema.parse(await res.json());
    expect(streamed.run).toMatchObject({ status: 'succeeded', source: 'bai2' });
    expect(streamed.days).toHaveLength(22);
    const records = file.split('\r\n').filter((l) => l.startsWith('16,')).length;
    expect(streamed.run.counts).toMatchObject({ inserted: records, rejected: 0 });
    // The same file sent whole (Content-Length) is the same file: nothing new.
    const again = bodyOf(
      ImportSchema,
      await request(api.app)
        .post(`/v1/accounts/${acct.id}/statements`)
        .set(bearer(api.adminKey))
        .set('Content-Type', 'text/plain')
        .send(file)
        .expect(201),
    );
    expect(again.run.counts).toMatchObject({ inserted: 0, updated: 0, unchanged: records, balances: 0 });
  });

  it('a tampered file streamed in pieces is refused at its trailer with the line, and nothing of it is written', async () => {
    const { id, key } = await freshAccount('Tampered Stream Org');
    const lines = bai2.split('\r\n');
    const at = lines.findIndex((l) => l.startsWith('99,'));
    lines[at] = lines[at]!.replace(/^99,(-?\d+),/, (_m, n: string) => `99,${BigInt(n) + 100n},`);
    const res = await postStream(id, key, 'text/plain', function* () {
      for (const l of lines) {
        yield `${l}\r\n`;
      }
    });
    expect(res.status).toBe(400);
    const problem = (await res.json()) as { code: string; detail: string };
    expect(problem).toMatchObject({ code: 'statement_control_total' });
    expect(problem.detail).toContain(`line ${at + 1}`);
    // An early bad record is refused as soon as it is read; the rest of the body is read off, the answer is whole.
    const early = await postStream(id, key, 'text/plain', function* () {
      yield '01,JPMORGAN,CUST,261016,0200,1,80,,2/\r\n02,CUST,JPMORGAN,1,261015,,USD,2/\r\nXX,broken\r\n';
      yield '16,195,100,Z,REF,,x/\r\n'.repeat(100_000);
    });
    expect(early.status).toBe(400);
    const earlyProblem = (await early.json()) as { code: string; detail: string };
    expect(earlyProblem.code).toBe('statement_invalid');
    expect(earlyProblem.detail).toContain('line 3');
    expect(await writtenFor(id)).toEqual({ runs: 0, transactions: 0, balances: 0 });
  });

  it('reads a camt file in the encoding its XML declaration names; refuses bytes that are not the charset it is read in, storing nothing', async () => {
    const tenancy = await createTenancy(api.t.db, { name: 'Latin-1 Org' });
    const acct = await createAccount(api.t.db, tenancy, { jpmAccountId: '000000555000111' });
    const camtLatin1 = Buffer.from(
      [
        '<?xml version="1.0" encoding="ISO-8859-1"?>',
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>',
        '<GrpHdr><MsgId>LATIN1</MsgId></GrpHdr><Stmt><Id>1</Id>',
        '<Acct><Id><Othr><Id>000000555000111</Id></Othr></Id><Ccy>USD</Ccy></Acct>',
        '<Ntry><Amt Ccy="USD">12.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-30</Dt></BookgDt>',
        '<AcctSvcrRef>R1</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>FACTURA-Ñ7</EndToEndId></Refs>',
        '<RmtInf><Ustrd>B/O CUSTOMER: MÜLLER GMBH</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>',
        '</Stmt></BkToCstmrStmt></Document>',
      ].join('\n'),
      'latin1',
    );
    // Sent as application/xml without a charset, in pieces of 3 bytes: the declaration decides.
    const res = await postStream(acct.id, api.adminKey, 'application/xml', function* () {
      for (let at = 0; at < camtLatin1.length; at += 3) {
        yield camtLatin1.subarray(at, at + 3);
      }
    });
    expect(res.status).toBe(201);
    const stored = await api.t.db
      .selectFrom('transactions')
      .select(['customer_reference', 'narrative'])
      .where('account_id', '=', acct.id)
      .execute();
    expect(stored).toEqual([{ customer_reference: 'FACTURA-Ñ7', narrative: { 'B/O CUSTOMER': 'MÜLLER GMBH' } }]);

    // A BAI2 file with a Latin-1 byte, sent with no charset (read as UTF-8) or as UTF-8: refused, naming the charset.
    const other = await createAccount(api.t.db, tenancy, { jpmAccountId: '000000555000222' });
    const bai2Latin1 = Buffer.from(
      [
        '01,021000021,CUSTOMER,261201,0200,LATIN1,80,,2/',
        '02,CUSTOMER,021000021,1,261130,,USD,2/',
        '03,000000555000222,USD,010,1000,,,015,2250,,/',
        '16,195,1250,0,R1,FACTURA-Ñ7,CRÉDITO',
        '49,4500,3/',
        '98,4500,1,5/',
        '99,4500,1,7/',
      ].join('\r\n'),
      'latin1',
    );
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/octet-stream']) {
      const refused = await request(api.app)
        .post(`/v1/accounts/${other.id}/statements`)
        .set(bearer(api.adminKey))
        .set('Content-Type', type)
        .send(bai2Latin1);
      expect(expectProblem(refused, 400, 'body_encoding_invalid').detail, type).toMatch(/not valid UTF-8.*charset=/);
    }
    expect(await writtenFor(other.id)).toEqual({ runs: 0, transactions: 0, balances: 0 });
    // Named, it is read.
    await request(api.app)
      .post(`/v1/accounts/${other.id}/statements`)
      .set(bearer(api.adminKey))
      .set('Content-Type', 'text/plain; charset=ISO-8859-1')
      .send(bai2Latin1)
      .expect(201);
    const named = await api.t.db
      .selectFrom('transactions')
      .select(['customer_reference'])
      .where('account_id', '=', other.id)
      .execute();
    expect(named).toEqual([{ customer_reference: 'FACTURA-Ñ7' }]);
  });

  it('takes the file as the one file part of a multipart/form-data body; refuses two files or none', async () => {
    const { id, key } = await freshAccount('Multipart Org');
    const form = (
      parts: { name: string; filename?: string; content: string }[],
      boundary = '----jpm-sync-test-boundary',
    ) => {
      const body =
        parts
          .map(
            (p) =>
              `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}\r\n` +
              `Content-Type: ${p.filename ? 'text/plain' : 'text/plain; charset=utf-8'}\r\n\r\n${p.content}\r\n`,
          )
          .join('') + `--${boundary}--\r\n`;
      return { body, type: `multipart/form-data; boundary=${boundary}` };
    };
    const send = (f: { body: string; type: string }) =>
      request(api.app).post(`/v1/accounts/${id}/statements`).set(bearer(key)).set('Content-Type', f.type).send(f.body);
    const two = form([
      { name: 'file', filename: 'a.bai2', content: bai2 },
      { name: 'file2', filename: 'b.bai2', content: bai2 },
    ]);
    expectProblem(await send(two), 400, 'statement_multipart_invalid');
    expectProblem(await send(form([{ name: 'note', content: 'no file here' }])), 400, 'statement_multipart_invalid');
    expect(await writtenFor(id)).toEqual({ runs: 0, transactions: 0, balances: 0 });
    const one = form([
      { name: 'note', content: 'October, from Access' },
      { name: 'file', filename: 'statement.xml', content: camt },
    ]);
    const res = bodyOf(ImportSchema, await send(one).expect(201));
    expect(res).toMatchObject({ format: 'camt053', days: expect.any(Array) as unknown, otherAccounts: 1 });
    expect(res.run.counts.inserted).toBeGreaterThan(50);
    expect((await writtenFor(id)).transactions).toBe(res.run.counts.inserted);
  });

  it('is in the OpenAPI document with its media types', async () => {
    const doc = (await request(api.app).get('/openapi.json').expect(200)).body as {
      paths: Record<
        string,
        { post: { requestBody: { content: Record<string, unknown> }; responses: Record<string, unknown> } }
      >;
    };
    const op = doc.paths['/v1/accounts/{id}/statements']!.post;
    expect(Object.keys(op.requestBody.content)).toEqual([
      'text/plain',
      'application/octet-stream',
      'application/xml',
      'text/xml',
      'multipart/form-data',
    ]);
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['201', '400', '404', '413', '415']));
  });
});
