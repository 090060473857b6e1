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
});
