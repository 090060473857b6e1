import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, initLogger, maskAccount, scrubSecrets } from '../../src/shared/logger.ts';

function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('logger', () => {
  it('a logger made before initLogger (at import time) writes once the root exists', () => {
    const early = createLogger('jpm', { component: 'early' });
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    early.info({ accountId: 'a1' }, 'bank call done');
    expect(out.lines()).toEqual([
      expect.objectContaining({ subsystem: 'jpm', component: 'early', accountId: 'a1', msg: 'bank call done' }),
    ]);
  });

  it('redacts authorization headers, keys, PEM blocks and full account numbers', () => {
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    const log = createLogger('http');
    log.info(
      {
        req: { headers: { authorization: 'Bearer jpms_abcdefgh_secretsecret' } },
        privateKey: 'x',
        note: 'cert -----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY----- done',
        account: 'account 000000010975001 moved',
        apiKeyText: 'jpms_abcdefgh_secretsecret',
      },
      'request',
    );
    const text = JSON.stringify(out.lines());
    expect(text).not.toContain('secretsecret');
    expect(text).not.toContain('MIIEvQ');
    expect(text).not.toContain('000000010975001');
    expect(text).toContain('****5001');
    expect(scrubSecrets('id 12345678')).toBe('id ****5678');
    expect(maskAccount('000000010975001')).toBe('****5001');
  });

  it('keeps a UUID whole, though one in 40 starts with 8 decimal digits (a request or run id must find its lines)', () => {
    for (const id of [
      '73272230-107f-4af5-9eea-6f5241ddf8f5',
      '12345678-1234-4234-8234-123456789012',
      'ABCDEF12-3456-7890-ABCD-EF1234567890',
    ]) {
      expect(scrubSecrets(`request ${id} done`)).toBe(`request ${id} done`);
      expect(scrubSecrets(`/v1/accounts/${id}/balances`)).toBe(`/v1/accounts/${id}/balances`);
    }
    // An account number next to one is still masked; a run of digits that only looks like part of a UUID too.
    expect(scrubSecrets('73272230-107f-4af5-9eea-6f5241ddf8f5 000000010975001')).toBe(
      '73272230-107f-4af5-9eea-6f5241ddf8f5 ****5001',
    );
    expect(scrubSecrets('73272230-107f')).toBe('****2230-107f');
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    createLogger('http').info({ req: { id: '73272230-107f-4af5-9eea-6f5241ddf8f5' } }, 'request completed');
    expect(JSON.stringify(out.lines())).toContain('"id":"73272230-107f-4af5-9eea-6f5241ddf8f5"');
  });

  it('blanks the REDACT_PATHS values as pino does: named keys at the top and one level down, the named headers, child bindings', () => {
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    const log = createLogger('http').child({ apiKey: 'abcd1234', nested: { token: 't0', ok: 1 } });
    log.info(
      {
        authorization: 'a',
        password: 'p',
        count: 3,
        absent: undefined,
        headers: { authorization: 'h', accept: 'x' },
        req: {
          headers: { authorization: 'b', cookie: 'c', 'idempotency-key': 'i', accept: 'j' },
          token: 't1',
          id: 'r1',
        },
        res: { headers: { 'set-cookie': 's', etag: 'e' }, statusCode: 200 },
        job: { key: 'k', deep: { key: 'kept two levels down' } },
        list: [{ token: 'kept in an array' }],
      },
      'request',
    );
    const [line] = out.lines();
    const R = '[REDACTED]';
    expect(line).toMatchObject({
      apiKey: R,
      nested: { token: R, ok: 1 },
      authorization: R,
      password: R,
      count: 3,
      headers: { authorization: R, accept: 'x' },
      req: { headers: { authorization: R, cookie: R, 'idempotency-key': R, accept: 'j' }, token: R, id: 'r1' },
      res: { headers: { 'set-cookie': R, etag: 'e' }, statusCode: 200 },
      job: { key: R, deep: { key: 'kept two levels down' } },
      list: [{ token: 'kept in an array' }],
      msg: 'request',
    });
    expect(line).not.toHaveProperty('absent');
  });

  it('blanks every REDACT_PATHS key at the top and one level down (each path named once)', () => {
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    const named = [
      'authorization',
      'apiKey',
      'key',
      'secret',
      'privateKey',
      'privateKeyPem',
      'password',
      'masterKey',
      'cert',
      'certificatePem',
      'token',
    ];
    const fields = Object.fromEntries(named.map((k) => [k, `top-${k}-value`]));
    createLogger('http').info(
      { ...fields, inner: { ...Object.fromEntries(named.map((k) => [k, `inner-${k}-value`])) } },
      'paths',
    );
    const text = JSON.stringify(out.lines());
    for (const k of named) {
      expect(text, k).not.toContain(`top-${k}-value`);
      expect(text, k).not.toContain(`inner-${k}-value`);
    }
  });

  it('prepares values interpolated into a message: plain objects and array elements blanked, errors without stacks, other objects as their text', () => {
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    const log = createLogger('http');
    const err = Object.assign(new Error('boom'), {
      token: 'err-token-value',
      headers: { authorization: 'err-auth-value' },
    });
    log.info('items %j', [{ token: 'array-token-value', password: 'array-password', ok: 1 }]);
    log.info('item %j', { apiKey: 'object-key-value', ok: 2 });
    log.info('failed %j', err);
    log.info('at %s and %j', new Date(0), new Date(0));
    log.info(
      'url %s',
      new URL(
        'https://user:pw@example.test/review/0193a0b2-0000-7000-8000-000000000000.1700000000.abcdefghijklmnopqrstuvwx',
      ),
    );
    const lines = out.lines().map((l) => String(l.msg));
    const text = lines.join('\n');
    for (const secret of [
      'array-token-value',
      'array-password',
      'object-key-value',
      'err-token-value',
      'err-auth-value',
      'abcdefghijklmnopqrstuvwx',
      'at Error',
    ]) {
      expect(text, secret).not.toContain(secret);
    }
    expect(lines[0]).toContain('"ok":1');
    expect(lines[1]).toContain('"ok":2');
    expect(lines[2]).toContain('boom');
    expect(lines[3]?.match(/1970-01-01T00:00:00\.000Z/g)).toHaveLength(2);
    expect(lines[4]).toContain('example.test');
  });

  it("a child's bound err is written by the err serializer (type and message, no stack)", () => {
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    createLogger('http')
      .child({ err: new Error('bound failure') })
      .info('with a bound error');
    const [line] = out.lines();
    expect(line).toMatchObject({ err: { type: 'Error', message: 'bound failure' } });
    expect(JSON.stringify(line)).not.toContain('logger.test');
  });

  it("masks a review page URL's whole token, however it is spelled, and keeps the rest of the URL", () => {
    const link = '0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b';
    expect(scrubSecrets(`GET /review/${link}.1767225600.%41bcdefghijklmnopqrstuvwxyz0123?q=x`)).toBe(
      'GET /review/[REDACTED]?q=x',
    );
    expect(scrubSecrets(`"https://sync.example/review/${link}%2E1767225600%2Eabc/accurate" next`)).toBe(
      '"https://sync.example/review/[REDACTED]/accurate" next',
    );
    expect(scrubSecrets("/review/x#y /review/'z'")).toBe("/review/[REDACTED]#y /review/'z'");
    // A bare token outside a review URL keeps its link id and loses its HMAC, as before.
    expect(scrubSecrets(`token ${link}.1767225600.abcdefghijklmnopqrstuvwxyz`)).toBe(`token ${link}.[REDACTED]`);
    expect(scrubSecrets('/v1/integrations/1/review-links')).toBe('/v1/integrations/1/review-links');
  });

  it('never writes an object nested deeper than it prepares as it is: its secrets would skip the scrub and the blanking', () => {
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQdeep\n-----END PRIVATE KEY-----';
    const apiKey = 'jpms_abcdefgh_deepsecretdeepsecret';
    const nest = (leaf: unknown, levels: number): unknown =>
      Array.from({ length: levels }).reduce<unknown>((inner) => ({ next: inner }), leaf);
    createLogger('http').info(
      {
        object: nest({ note: pem, privateKey: 'raw key', token: 't0' }, 8),
        array: nest([[[[[[[apiKey]]]]]]], 2),
        shallow: nest({ note: pem }, 3),
      },
      'deep fields',
    );
    const [line] = out.lines();
    const text = JSON.stringify(line);
    expect(text).not.toContain('MIIEvQdeep');
    expect(text).not.toContain('deepsecretdeepsecret');
    expect(text).not.toContain('raw key');
    // Up to the bound the value is kept, scrubbed.
    expect(line?.shallow).toEqual(nest({ note: '[REDACTED PEM]' }, 3));
    expect(text).toContain('[Object]');
  });

  it("writes an Error logged alone with its message scrubbed (pino makes the message the line's msg)", () => {
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    createLogger('http').error(
      new Error('refused -----BEGIN PRIVATE KEY-----\nMIIEvQalone\n-----END PRIVATE KEY-----'),
    );
    createLogger('http').warn(new Error('key jpms_abcdefgh_alonesecretalonesecret'), 'with a message');
    const lines = out.lines();
    expect(JSON.stringify(lines)).not.toContain('MIIEvQalone');
    expect(JSON.stringify(lines)).not.toContain('alonesecretalonesecret');
    expect(lines[0]).toMatchObject({
      msg: 'refused [REDACTED PEM]',
      err: { type: 'Error', message: 'refused [REDACTED PEM]' },
    });
    expect(lines[1]).toMatchObject({ msg: 'with a message', err: { message: 'key jpms_[REDACTED]' } });
  });

  it('writes binary values as their size, and values with toJSON (dates, URLs) as their scrubbed JSON', () => {
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQbytes\n-----END PRIVATE KEY-----';
    createLogger('http').info(
      {
        der: Buffer.from(pem),
        bytes: new Uint8Array([1, 2, 3]),
        wrapped: { toJSON: () => `wrapped ${pem}` },
        at: new Date('2026-12-01T10:00:00.000Z'),
        link: new URL(
          'https://sync.example/review/0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b.1767225600.abcdefghijklmnopqrstuvwxyz',
        ),
      },
      'values',
    );
    const [line] = out.lines();
    expect(JSON.stringify(line)).not.toContain('MIIEvQbytes');
    // The bytes of the PEM, one field per byte ("45" is '-'), were written before.
    expect(JSON.stringify(line)).not.toContain('"0":45');
    expect(line).toMatchObject({
      der: `[binary ${Buffer.byteLength(pem)} bytes]`,
      bytes: '[binary 3 bytes]',
      wrapped: 'wrapped [REDACTED PEM]',
      at: '2026-12-01T10:00:00.000Z',
      link: 'https://sync.example/review/[REDACTED]',
    });
  });

  it("scrubs a child's bound values as a line's fields: its strings, nested values and depth", () => {
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    const token = '0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b.1767225600.abcdefghijklmnopqrstuvwxyz';
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQbound\n-----END PRIVATE KEY-----';
    createLogger('http')
      .child({ url: `/review/${token}`, nested: { note: pem, deeper: { privateKey: 'rawbound' } }, runId: 'r1' })
      .child({ job: { data: { key: 'k', text: 'jpms_abcdefgh_boundsecretboundsecret' } } })
      .info('bound');
    const [line] = out.lines();
    const text = JSON.stringify(line);
    for (const secret of ['abcdefghijklmnopqrstuvwxyz', 'MIIEvQbound', 'boundsecretboundsecret']) {
      expect(text).not.toContain(secret);
    }
    expect(line).toMatchObject({
      url: '/review/[REDACTED]',
      nested: { note: '[REDACTED PEM]' },
      runId: 'r1',
      job: { data: { key: 'k', text: 'jpms_[REDACTED]' } },
    });
  });
});
