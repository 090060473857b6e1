import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonLossless, RepeatedNameError } from '../../src/shared/json.ts';
import { splitRange } from '../../src/shared/time.ts';
import {
  createClientCredential,
  ensureDevPki,
  startSimulator,
  type FaultRule,
  type RunningSimulator,
} from '../../src/simulator/index.ts';

const TODAY = '2026-11-25'; // a Wednesday
const FIXTURES = join(import.meta.dirname, '../fixtures/jpm');

type Json = Record<string, unknown>;
interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

let sim: RunningSimulator;
let agent: Agent;
let pkiDir: string;
let ids: string[];

async function call(
  path: string,
  init: {
    method?: 'GET' | 'POST' | 'DELETE';
    body?: string;
    dispatcher?: Agent;
    headersTimeout?: number;
    base?: string;
  } = {},
): Promise<Reply> {
  const res = await request(`${init.base ?? sim.url}${path}`, {
    method: init.method ?? 'GET',
    dispatcher: init.dispatcher ?? agent,
    ...(init.body !== undefined ? { body: init.body, headers: { 'content-type': 'application/json' } } : {}),
    ...(init.headersTimeout !== undefined ? { headersTimeout: init.headersTimeout } : {}),
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** A raw TLS client that sends one HTTP request: what came back (bytes) and how the connection ended. */
function tlsProbe(credential: {
  cert?: string;
  key?: string;
}): Promise<{ data: string; errorCode: string | undefined }> {
  return new Promise((resolve) => {
    let data = '';
    let errorCode: string | undefined;
    const socket = connect({
      host: '127.0.0.1',
      port: sim.port,
      ca: sim.caCertPem,
      servername: 'localhost',
      ...credential,
    });
    socket.on('secureConnect', () =>
      socket.write('GET /_sim/clock HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
    );
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('error', (err: NodeJS.ErrnoException) => (errorCode = err.code));
    socket.on('close', () => resolve({ data, errorCode }));
  });
}

const json = (r: Reply) => JSON.parse(r.text) as Json;
const balance = (body: unknown) => call('/accessapi/balance', { method: 'POST', body: JSON.stringify(body) });
const txns = (query: Record<string, string>, version = 'v3') =>
  call(`/tsapi/${version}/transactions?${new URLSearchParams(query).toString()}`);

async function sampleJson(file: string): Promise<Json> {
  return JSON.parse(await readFile(join(FIXTURES, file), 'utf8')) as Json;
}

beforeAll(async () => {
  pkiDir = await mkdtemp(join(tmpdir(), 'jpm-sim-it-'));
  sim = await startSimulator({
    pkiDir,
    today: TODAY,
    progress: 0.5,
    seed: 'integration',
    txPerDay: 12,
    historyDays: 21,
  });
  const cred = await createClientCredential(sim.pki, { commonName: 'integration-test' });
  agent = new Agent({ connect: { cert: cred.certPem, key: cred.keyPem, ca: sim.caCertPem } });
  ids = sim.accounts.map((a) => a.accountId);
});

afterAll(async () => {
  await agent.close();
  await sim.stop();
  await rm(pkiDir, { recursive: true, force: true });
});

afterEach(() => {
  sim.clearFaults();
  sim.setClock({ today: TODAY, progress: 0.5 });
});

describe('simulator mTLS', () => {
  it('serves a client holding a dev-CA certificate', async () => {
    expect((await call('/_sim/clock')).status).toBe(200);
  });

  it('refuses a client without a certificate in the TLS handshake', async () => {
    const bare = new Agent({ connect: { ca: sim.caCertPem } });
    await expect(call('/_sim/clock', { dispatcher: bare })).rejects.toThrow();
    await bare.close();
    // TLS 1.3: the server's "certificate required" alert (116) ends the connection before any HTTP byte.
    expect(await tlsProbe({})).toEqual({ data: '', errorCode: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
  });

  it('refuses a certificate from another CA', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'jpm-sim-foreign-'));
    const foreign = await createClientCredential(await ensureDevPki(otherDir), { commonName: 'intruder' });
    const intruder = new Agent({ connect: { cert: foreign.certPem, key: foreign.keyPem, ca: sim.caCertPem } });
    await expect(call('/_sim/clock', { dispatcher: intruder })).rejects.toThrow();
    await intruder.close();
    expect((await tlsProbe({ cert: foreign.certPem, key: foreign.keyPem })).data).toBe('');
    const own = await createClientCredential(sim.pki, { commonName: 'control' });
    expect((await tlsProbe({ cert: own.certPem, key: own.keyPem })).data).toMatch(/^HTTP\/1\.1 200/);
    await rm(otherDir, { recursive: true, force: true });
  });

  it('answers a revoked certificate with 401 GCA-005, other clients unaffected', async () => {
    const cred = await createClientCredential(sim.pki, { commonName: 'soon-revoked' });
    const revokedAgent = new Agent({ connect: { cert: cred.certPem, key: cred.keyPem, ca: sim.caCertPem } });
    expect((await call('/_sim/clock', { dispatcher: revokedAgent })).status).toBe(200);
    sim.revokeCertificate(cred.certPem);
    const refused = await call('/accessapi/balance', { method: 'POST', body: '{}', dispatcher: revokedAgent });
    expect(refused.status).toBe(401);
    expect(json(refused)).toEqual({
      errors: [{ errorCode: 'GCA-005', errorMsg: 'Client certificate has been revoked' }],
    });
    expect((await call('/_sim/clock')).status).toBe(200);
    await revokedAgent.close();
  });
});

describe('simulator endpoints', () => {
  it('POST /accessapi/balance with an empty body returns CURRENT_DAY for every entitled account, shaped like the samples', async () => {
    const sample = await sampleJson('unicorn-finance/AccountBalances.json');
    const sampleList = sample.accountList as Json[];
    const sampleOk = sampleList.find((a) => 'balanceList' in a)!;
    const reply = await call('/accessapi/balance', { method: 'POST', body: '' });
    expect(reply.status).toBe(200);
    const list = json(reply).accountList as Json[];
    expect(list.map((a) => a.accountId)).toEqual(ids);
    for (const entry of list) {
      expect(Object.keys(entry)).toEqual(Object.keys(sampleOk));
      const [bal] = entry.balanceList as Json[];
      expect(Object.keys(bal!)).toEqual(Object.keys((sampleOk.balanceList as Json[])[0]!));
      expect(bal).toMatchObject({ asOfDate: TODAY, currentDay: true });
    }
  });

  it('returns PRIOR_DAY and historical ranges (business days only) that match the ground truth', async () => {
    const prior = json(
      await balance({ relativeDateType: 'PRIOR_DAY', accountList: [{ accountId: ids[0], bankId: '02100002' }] }),
    );
    expect((prior.accountList as Json[])[0]!.balanceList).toMatchObject([
      { asOfDate: '2026-11-24', currentDay: false },
    ]);
    const reply = await call('/accessapi/balance', {
      method: 'POST',
      body: JSON.stringify({ startDate: '2026-11-16', endDate: '2026-11-24', accountList: [{ accountId: ids[2] }] }),
    });
    const rows = (parseJsonLossless(reply.text) as { accountList: { balanceList: Record<string, string>[] }[] })
      .accountList[0]!.balanceList;
    expect(rows.map((r) => r.asOfDate)).toEqual([
      '2026-11-16',
      '2026-11-17',
      '2026-11-18',
      '2026-11-19',
      '2026-11-20',
      '2026-11-23',
      '2026-11-24',
    ]);
    const truth = sim.groundTruth().accounts.find((a) => a.accountId === ids[2])!;
    for (const row of rows) {
      const t = truth.balances.find((b) => b.asOfDate === row.asOfDate)!;
      expect([
        row.openingLedgerAmount,
        row.endingLedgerAmount,
        row.openingAvailableAmount,
        row.endingAvailableAmount,
      ]).toEqual([t.openingLedger, t.endingLedger, t.openingAvailable, t.endingAvailable]);
    }
  });

  it('puts a per-account GCA-024 entry inside a 200 for a day without data, as in AccountBalances.json', async () => {
    const sampleError = ((await sampleJson('unicorn-finance/AccountBalances.json')).accountList as Json[]).find(
      (a) => 'errorCode' in a,
    )!;
    const reply = await balance({
      startDate: '2026-09-01',
      endDate: '2026-09-05',
      accountList: [{ accountId: ids[0] }],
    });
    expect(reply.status).toBe(200);
    const [entry] = json(reply).accountList as Json[];
    expect(Object.keys(entry!)).toEqual(Object.keys(sampleError));
    expect(entry).toMatchObject({ errorCode: 'GCA-024', errorMsg: sampleError.errorMsg });
  });

  it('rejects invalid balance requests with the errors envelope and a 4xx', async () => {
    for (const body of [
      { relativeDateType: 'CURRENT_DAY', startDate: '2026-11-02' },
      { startDate: '2026-10-01', endDate: '2026-11-20' },
      { accountList: [{ accountId: '123456789012345' }] },
    ]) {
      const reply = await balance(body);
      expect(reply.status).toBeGreaterThanOrEqual(400);
      expect(reply.status).toBeLessThan(500);
      expect(json(reply)).toEqual({
        errors: [
          { errorCode: expect.stringMatching(/^GCA-\d{3}$/) as unknown, errorMsg: expect.any(String) as unknown },
        ],
      });
    }
  });

  it('GET /tsapi/v3/transactions pages 1-based with a pagination block and sample-shaped records', async () => {
    const sampleRecord = ((await sampleJson('unicorn-finance/uf-transactions.json')).data as Json[])[0]!;
    const all = json(await txns({ accountIds: ids[0]!, relativeDateType: 'PRIOR_DAY' }, 'v2'));
    expect(Object.keys(all)).toEqual(['data']);
    const expected = (all.data as Json[]).map((r) => r.transactionId);
    const walked: unknown[] = [];
    for (let page = 1, total = 1; page <= total; page++) {
      const body = json(
        await txns({ accountIds: ids[0]!, relativeDateType: 'PRIOR_DAY', pageNumber: String(page), pageSize: '5' }),
      );
      expect(Object.keys(body)).toEqual(['pagination', 'data']);
      expect(body.pagination).toEqual({
        pageSize: 5,
        totalPages: Math.ceil(expected.length / 5),
        pageNumber: page,
        totalRecords: expected.length,
      });
      total = (body.pagination as { totalPages: number }).totalPages;
      for (const record of body.data as Json[]) {
        expect(Object.keys(record)).toEqual(Object.keys(sampleRecord));
        expect(record).toMatchObject({ postCode: 'P', asOfDate: '2026-11-24' });
        walked.push(record.transactionId);
      }
    }
    expect(walked).toEqual(expected);
  });

  it('enforces at most 10 accounts, at most 5 days and entitlement on transaction queries', async () => {
    const many = Array.from({ length: 11 }, (_, i) => String(100000000000000 + i)).join(',');
    expect(json(await txns({ accountIds: many, relativeDateType: 'PRIOR_DAY' }))).toMatchObject({
      errors: [{ errorCode: 'GCA-003' }],
    });
    expect((await txns({ accountIds: ids[0]!, startDate: '2026-11-10', endDate: '2026-11-20' })).status).toBe(400);
    const foreign = await txns({ accountIds: '999999999999999', relativeDateType: 'PRIOR_DAY' });
    expect([foreign.status, json(foreign)]).toEqual([
      403,
      { errors: [{ errorCode: 'GCA-004', errorMsg: expect.any(String) as unknown }] },
    ]);
  });

  it('shifts current-day pages while a client walks them (totalRecords grows mid-walk)', async () => {
    sim.setClock({ progress: 0.3 });
    const first = json(
      await txns({
        accountIds: ids.slice(0, 3).join(','),
        relativeDateType: 'CURRENT_DAY',
        pageSize: '5',
        pageNumber: '1',
      }),
    );
    const second = json(
      await txns({
        accountIds: ids.slice(0, 3).join(','),
        relativeDateType: 'CURRENT_DAY',
        pageSize: '5',
        pageNumber: '2',
      }),
    );
    const total = (b: Json) => (b.pagination as { totalRecords: number }).totalRecords;
    expect(total(second)).toBeGreaterThan(total(first));
    expect(
      (first.data as Json[]).every((r) => r.postCode === 'I' && String(r.transactionId).startsWith('TXN-C-')),
    ).toBe(true);
  });

  it('returns exactly the ground truth when a client walks the history in 5-day windows', async () => {
    const truth = sim.groundTruth();
    for (const account of truth.accounts.slice(0, 3)) {
      const seen: string[] = [];
      for (const w of splitRange(truth.firstDate, truth.lastClosedDate, 5)) {
        const body = parseJsonLossless(
          (await txns({ accountIds: account.accountId, startDate: w.from, endDate: w.to, pageSize: '1000' })).text,
        ) as { data: Record<string, string>[] };
        seen.push(...body.data.map((r) => `${r.transactionId}|${r.asOfDate}|${r.debitCreditCode}`));
      }
      expect(seen).toEqual(account.transactions.map((t) => `${t.transactionId}|${t.asOfDate}|${t.debitCreditCode}`));
    }
  });

  it('reveals a late posting once the clock reaches its reveal date, re-issuing that day ids', async () => {
    const account = sim.groundTruth().accounts.find((a) => a.unrevealed.length > 0)!;
    const late = account.unrevealed[0]!;
    const query = { accountIds: account.accountId, startDate: late.asOfDate, endDate: late.asOfDate };
    const before = json(await txns(query)).data as Json[];
    const clock = json(
      await call('/_sim/clock', { method: 'POST', body: JSON.stringify({ today: late.revealDate, progress: 0.1 }) }),
    );
    expect(clock).toEqual({ today: late.revealDate, progress: 0.1 });
    const after = json(await txns(query)).data as Json[];
    const refs = (rs: Json[]) => rs.map((r) => (r.bankReferenceSearchable as Json).standardValue);
    expect(refs(before)).not.toContain(late.bankReference);
    expect(refs(after)).toContain(late.bankReference);
    expect(after).toHaveLength(before.length + 1);
    expect(after.some((r) => before.some((b) => b.transactionId === r.transactionId))).toBe(false);
  });

  it('exports the ground truth and drives faults through /_sim control endpoints', async () => {
    expect(JSON.parse((await call('/_sim/ground-truth')).text)).toEqual(JSON.parse(JSON.stringify(sim.groundTruth())));
    await call('/_sim/faults', {
      method: 'POST',
      body: JSON.stringify({ rules: [{ kind: 'server-error', count: 1 }] }),
    });
    expect((await balance({})).status).toBe(500);
    expect((await balance({})).status).toBe(200);
  });
});

describe('simulator faults', () => {
  const cases: [FaultRule, (r: Reply) => void][] = [
    [
      { kind: 'rate-limit', retryAfterSeconds: 7 },
      (r) => expect([r.status, r.headers['retry-after'], 'fault' in json(r)]).toEqual([429, '7', true]),
    ],
    [
      { kind: 'server-error' },
      (r) =>
        expect([r.status, json(r)]).toEqual([
          500,
          { errors: [{ errorCode: 'GCA-099', errorMsg: 'System is Unavailable' }] },
        ]),
    ],
    [{ kind: 'unavailable' }, (r) => expect([r.status, r.headers['retry-after'] !== undefined]).toEqual([503, true])],
    [{ kind: 'gateway-fault' }, (r) => expect([r.status, Object.keys(json(r))]).toEqual([502, ['fault']])],
    [
      { kind: 'malformed-json' },
      (r) => {
        expect(r.status).toBe(200);
        expect(() => JSON.parse(r.text) as unknown).toThrow();
      },
    ],
    [
      { kind: 'repeated-name' },
      (r) => {
        expect(r.status).toBe(200);
        expect(() => JSON.parse(r.text) as unknown).not.toThrow();
        expect(() => parseJsonLossless(r.text)).toThrow(new RepeatedNameError('data'));
      },
    ],
    [
      { kind: 'not-entitled' },
      (r) => expect([r.status, (json(r).errors as Json[])[0]!.errorCode]).toEqual([403, 'GCA-004']),
    ],
  ];
  it.each(cases)('injects %o', async (rule, check) => {
    sim.injectFaults({ rules: [{ ...rule, path: '/tsapi/v3/transactions', count: 1 }] });
    check(await txns({ accountIds: ids[0]!, relativeDateType: 'PRIOR_DAY' }));
    expect((await txns({ accountIds: ids[0]!, relativeDateType: 'PRIOR_DAY' })).status).toBe(200);
  });

  it('hangs without answering', async () => {
    sim.injectFaults([{ kind: 'hang', count: 1 }]);
    await expect(call('/accessapi/balance', { method: 'POST', body: '{}', headersTimeout: 300 })).rejects.toMatchObject(
      { code: 'UND_ERR_HEADERS_TIMEOUT' },
    );
  });

  it('resets the connection mid-body', async () => {
    sim.injectFaults([{ kind: 'reset', count: 1 }]);
    await expect(txns({ accountIds: ids[0]!, relativeDateType: 'PRIOR_DAY' })).rejects.toThrow();
    expect((await txns({ accountIds: ids[0]!, relativeDateType: 'PRIOR_DAY' })).status).toBe(200);
  });

  it('puts a GCA-024 entry for one account inside a 200 balance response', async () => {
    sim.injectFaults([{ kind: 'account-error', accountId: ids[1] }]);
    const list = json(await balance({ accountList: [{ accountId: ids[0] }, { accountId: ids[1] }] }))
      .accountList as Json[];
    expect(list[0]).toHaveProperty('balanceList');
    expect(list[1]).toMatchObject({ accountId: ids[1], errorCode: 'GCA-024' });
    expect(list[1]).not.toHaveProperty('balanceList');
    sim.clearFaults();
    sim.injectFaults([{ kind: 'account-error', count: 1 }]);
    const all = json(await call('/accessapi/balance', { method: 'POST', body: '' })).accountList as Json[];
    expect(all.map((a) => 'errorCode' in a)).toEqual(ids.map((_, i) => i === 0));
  });

  it('fires random faults reproducibly from a seed', async () => {
    const pattern = async () => {
      sim.clearFaults();
      sim.injectFaults({ seed: 'chaos-1', rules: [{ kind: 'server-error', probability: 0.5 }] });
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++) {
        statuses.push((await balance({ relativeDateType: 'PRIOR_DAY', accountList: [{ accountId: ids[0] }] })).status);
      }
      return statuses;
    };
    const first = await pattern();
    expect(new Set(first)).toEqual(new Set([200, 500]));
    expect(await pattern()).toEqual(first);
  });
});

describe('J.P. Morgan artefacts against the simulator', () => {
  it('runs the Postman collection balance and transaction requests with only the host swapped', async () => {
    const collection = await sampleJson('unicorn-finance/Unicorn Finance.postman_collection.json');
    const items = (
      collection.item as { name: string; request: { method: string; url: { raw: string }; body?: { raw: string } } }[]
    ).filter((i) => /\/(accessapi\/balance|tsapi\/v\d\/transactions)/.test(i.request.url.raw));
    expect(items.map((i) => i.name)).toEqual(['Balance API', 'Transactions']);
    for (const item of items) {
      const url = item.request.url.raw.replace('https://apigatewaycat.jpmorgan.com', sim.url);
      const res = await request(url, {
        method: item.request.method as 'GET' | 'POST',
        dispatcher: agent,
        ...(item.request.body ? { body: item.request.body.raw } : {}),
      });
      const body = (await res.body.json()) as Json;
      expect(res.statusCode).toBe(200);
      expect(body).not.toHaveProperty('errors');
      expect(Array.isArray(body.accountList ?? body.data)).toBe(true);
    }
  });

  it('replays a sample transactions file byte for byte (v2) and record for record (v3)', async () => {
    const file = join(FIXTURES, 'unicorn-finance/uf-transactions.json');
    const replay = await startSimulator({ pkiDir, today: TODAY, replayFile: file });
    try {
      const raw = await readFile(file, 'utf8');
      expect(
        (await call('/tsapi/v2/transactions?relativeDateType=CURRENT_DAY&accountIds=1', { base: replay.url })).text,
      ).toBe(raw);
      const v3 = parseJsonLossless(
        (await call('/tsapi/v3/transactions?accountIds=1', { base: replay.url })).text,
      ) as Json;
      expect(v3.data).toEqual((parseJsonLossless(raw) as Json).data);
      expect(v3.pagination).toEqual({ pageSize: '49', totalPages: '1', pageNumber: '1', totalRecords: '49' });
    } finally {
      await replay.stop();
    }
  });

  it('serves cached bytes in prerender mode and reports requests and CPU in stats()', async () => {
    const bench = await startSimulator({ pkiDir, today: TODAY, seed: 'bench', txPerDay: 50, prerender: true });
    try {
      const path = `/tsapi/v3/transactions?accountIds=${bench.accounts[0]!.accountId}&relativeDateType=PRIOR_DAY&pageSize=20&pageNumber=2`;
      const first = await call(path, { base: bench.url });
      const second = await call(path, { base: bench.url });
      expect(second.text).toBe(first.text);
      const stats = bench.stats();
      expect(stats).toMatchObject({
        requests: 2,
        cacheHits: 1,
        byStatus: { '200': 2 },
        bytesSent: first.text.length * 2,
      });
      expect(stats.cpuMicros).toBeGreaterThan(0);
    } finally {
      await bench.stop();
    }
  });

  it('replays a sample balances file byte for byte', async () => {
    const file = join(FIXTURES, 'unicorn-finance/AccountBalances.json');
    const replay = await startSimulator({ pkiDir, today: TODAY, replayFile: file });
    try {
      expect((await call('/accessapi/balance', { method: 'POST', body: '{}', base: replay.url })).text).toBe(
        await readFile(file, 'utf8'),
      );
    } finally {
      await replay.stop();
    }
  });
});

describe('simulator bank latency and request log', () => {
  it('answers each bank call latencyMs later and logs it with its client certificate; control calls are not logged', async () => {
    const slow = await startSimulator({ pkiDir, today: TODAY, accounts: 2, latencyMs: 300, recordRequests: true });
    try {
      const started = performance.now();
      const res = await call('/accessapi/balance', { method: 'POST', body: '{}', base: slow.url });
      expect(res.status).toBe(200);
      expect(performance.now() - started).toBeGreaterThanOrEqual(300);
      const q = `?accountIds=${slow.accounts[0]!.accountId}&relativeDateType=CURRENT_DAY`;
      expect((await call(`/tsapi/v3/transactions${q}`, { base: slow.url })).status).toBe(200);
      expect((await call('/_sim/clock', { base: slow.url })).status).toBe(200);
      const log = slow.requestLog();
      expect(
        log.map(({ method, path, query, body, accountIds, status }) => ({
          method,
          path,
          query,
          body,
          accountIds,
          status,
        })),
      ).toEqual([
        { method: 'POST', path: '/accessapi/balance', query: '', body: '{}', accountIds: [], status: 200 },
        {
          method: 'GET',
          path: '/tsapi/v3/transactions',
          query: q,
          body: '',
          accountIds: [slow.accounts[0]!.accountId],
          status: 200,
        },
      ]);
      expect(new Set(log.map((r) => r.client)).size).toBe(1);
      expect(log[0]!.client).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      expect(sim.requestLog()).toEqual([]); // not recording unless asked
    } finally {
      await slow.stop();
    }
  });

  it('names the client certificate of a call whose client went away before the answer (a killed worker)', async () => {
    const slow = await startSimulator({ pkiDir, today: TODAY, accounts: 1, latencyMs: 300, recordRequests: true });
    try {
      const cred = await createClientCredential(slow.pki, { commonName: 'killed-worker' });
      await new Promise<void>((resolve, reject) => {
        const socket = connect({
          host: '127.0.0.1',
          port: slow.port,
          ca: slow.caCertPem,
          servername: 'localhost',
          cert: cred.certPem,
          key: cred.keyPem,
        });
        socket.on('secureConnect', () => {
          socket.write('POST /accessapi/balance HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}');
          // Gone while the bank is still "thinking" (the latency sleep).
          setTimeout(() => socket.destroy(), 50);
        });
        socket.on('error', reject);
        socket.on('close', () => resolve());
      });
      await expect.poll(() => slow.requestLog().length, { timeout: 5_000 }).toBe(1);
      expect(slow.requestLog()[0]!.client).toBe(new X509Certificate(cred.certPem).fingerprint256);
    } finally {
      await slow.stop();
    }
  });
});
