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
  return { stream, lines: () => chunks.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', () => {
  it('a logger made before initLogger (at import time) writes once the root exists', () => {
    const early = createLogger('jpm', { component: 'early' });
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    early.info({ accountId: 'a1' }, 'bank call done');
    expect(out.lines()).toEqual([expect.objectContaining({ subsystem: 'jpm', component: 'early', accountId: 'a1', msg: 'bank call done' })]);
  });

  it('redacts authorization headers, keys, PEM blocks and full account numbers', () => {
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    const log = createLogger('http');
    log.info({
      req: { headers: { authorization: 'Bearer jpms_abcdefgh_secretsecret' } },
      privateKey: 'x',
      note: 'cert -----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY----- done',
      account: 'account 000000010975001 moved',
      apiKeyText: 'jpms_abcdefgh_secretsecret',
    }, 'request');
    const text = JSON.stringify(out.lines());
    expect(text).not.toContain('secretsecret');
    expect(text).not.toContain('MIIEvQ');
    expect(text).not.toContain('000000010975001');
    expect(text).toContain('****5001');
    expect(scrubSecrets('id 12345678')).toBe('id ****5678');
    expect(maskAccount('000000010975001')).toBe('****5001');
  });

  it('blanks the REDACT_PATHS values as pino does: named keys at the top and one level down, the named headers, child bindings', () => {
    const out = capture();
    initLogger({ level: 'info', format: 'json', destination: out.stream });
    const log = createLogger('http').child({ apiKey: 'abcd1234', nested: { token: 't0', ok: 1 } });
    log.info({
      authorization: 'a', password: 'p', count: 3, absent: undefined,
      headers: { authorization: 'h', accept: 'x' },
      req: { headers: { authorization: 'b', cookie: 'c', 'idempotency-key': 'i', accept: 'j' }, token: 't1', id: 'r1' },
      res: { headers: { 'set-cookie': 's', etag: 'e' }, statusCode: 200 },
      job: { key: 'k', deep: { key: 'kept two levels down' } },
      list: [{ token: 'kept in an array' }],
    }, 'request');
    const [line] = out.lines();
    const R = '[REDACTED]';
    expect(line).toMatchObject({
      apiKey: R, nested: { token: R, ok: 1 }, authorization: R, password: R, count: 3,
      headers: { authorization: R, accept: 'x' },
      req: { headers: { authorization: R, cookie: R, 'idempotency-key': R, accept: 'j' }, token: R, id: 'r1' },
      res: { headers: { 'set-cookie': R, etag: 'e' }, statusCode: 200 },
      job: { key: R, deep: { key: 'kept two levels down' } },
      list: [{ token: 'kept in an array' }],
      msg: 'request',
    });
    expect(line).not.toHaveProperty('absent');
  });

  it("masks a review page URL's whole token, however it is spelled, and keeps the rest of the URL", () => {
    const link = '0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b';
    expect(scrubSecrets(`GET /review/${link}.1767225600.%41bcdefghijklmnopqrstuvwxyz0123?q=x`)).toBe('GET /review/[REDACTED]?q=x');
    expect(scrubSecrets(`"https://sync.example/review/${link}%2E1767225600%2Eabc/accurate" next`)).toBe('"https://sync.example/review/[REDACTED]/accurate" next');
    expect(scrubSecrets('/review/x#y /review/\'z\'')).toBe("/review/[REDACTED]#y /review/'z'");
    // A bare token outside a review URL keeps its link id and loses its HMAC, as before.
    expect(scrubSecrets(`token ${link}.1767225600.abcdefghijklmnopqrstuvwxyz`)).toBe(`token ${link}.[REDACTED]`);
    expect(scrubSecrets('/v1/integrations/1/review-links')).toBe('/v1/integrations/1/review-links');
  });
});

