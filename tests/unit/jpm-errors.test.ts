import { describe, expect, it } from 'vitest';
import { validateCredential } from '../../src/jpm/credential-agents.ts';
import { JpmRejectedError, JpmUnavailableError, RETRYABLE_HTTP_STATUSES } from '../../src/jpm/errors.ts';
import {
  bankFailureOf,
  classifyResponse,
  classifyTransportError,
  parseRetryAfterMs,
} from '../../src/jpm/http-errors.ts';
import { formatPath } from '../../src/jpm/records.ts';
import { slicesOf } from '../../src/jpm/transactions.ts';
import { AppError } from '../../src/shared/errors.ts';
import { cutText } from '../../src/shared/pg-text.ts';

const ctx = { requestId: 'req-1', endpoint: 'GET /tsapi/v3/transactions' };
const errors = (errorCode: string, errorMsg = 'x') => bankFailureOf({ errors: [{ errorCode, errorMsg }] });
const fault = bankFailureOf({
  fault: { faultstring: 'Gateway Timeout', detail: { errorcode: 'messaging.GatewayTimeout' } },
});

describe('classifyResponse', () => {
  it.each([
    [429, undefined, 'jpm_rate_limited', true],
    [500, errors('GCA-099'), 'jpm_unavailable', true],
    [400, errors('GCA-099'), 'jpm_unavailable', true],
    [200, errors('GCA-099'), 'jpm_unavailable', true],
    [503, fault, 'jpm_unavailable', true],
    [502, undefined, 'jpm_unavailable', true],
    [504, undefined, 'jpm_timeout', true],
    [408, undefined, 'jpm_timeout', true],
    [200, fault, 'jpm_unavailable', true],
    [401, errors('GCA-005'), 'jpm_certificate_refused', false],
    [403, errors('GCA-004'), 'jpm_not_entitled', false],
    [400, errors('GCA-002'), 'jpm_bad_request', false],
    [404, undefined, 'jpm_bad_request', false],
    [200, errors('GCA-001'), 'jpm_bad_request', false],
    [501, undefined, 'jpm_unexpected_status', false],
    [302, undefined, 'jpm_unexpected_status', false],
  ] as const)('HTTP %i with %j → %s (retryable %s)', (status, failure, code, retryable) => {
    const err = classifyResponse(status, failure, undefined, ctx);
    expect(err).toBeInstanceOf(retryable ? JpmUnavailableError : JpmRejectedError);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({
      code,
      retryable,
      requestId: 'req-1',
      upstreamStatus: status,
      bankErrorCode: failure?.errorCode,
    });
  });

  it('uses the one allow-list: every listed status is retryable, every other 4xx/5xx is not', () => {
    for (let status = 400; status < 600; status++) {
      expect(classifyResponse(status, undefined, undefined, ctx).retryable).toBe(RETRYABLE_HTTP_STATUSES.has(status));
    }
  });

  it('carries Retry-After and masks account numbers the bank quotes', () => {
    const err = classifyResponse(403, errors('GCA-004', 'Not entitled to account(s): 000000010975001'), undefined, ctx);
    expect(err.message).toContain('****5001');
    expect(err.message).not.toContain('000000010975001');
    const limited = classifyResponse(429, undefined, 3000, ctx);
    expect(limited).toMatchObject({ retryAfterMs: 3000 });
    expect(limited.details).toMatchObject({ retryAfterMs: 3000, requestId: 'req-1', upstreamStatus: 429 });
  });

  it("clips the bank's explanation between whole characters: an emoji at the cut is left out, not halved", () => {
    const said = `${'x'.repeat(199)}\u{1F4B8} and more`;
    const err = classifyResponse(400, errors('GCA-002', said), undefined, ctx);
    expect(err.message.isWellFormed()).toBe(true);
    expect(err.message.endsWith(`: ${'x'.repeat(199)}`)).toBe(true);
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2025-03-12T10:00:00Z');
  it.each([
    ['7', 7000],
    ['0', 0],
    ['Wed, 12 Mar 2025 10:00:30 GMT', 30_000],
    ['Wed, 12 Mar 2025 09:00:00 GMT', 0],
    ['30.0', 30_000],
    ['120.5', 120_500],
    ['soon', undefined],
    ['', undefined],
  ])('%j → %s ms', (value, ms) => {
    expect(parseRetryAfterMs(value, now)).toBe(ms);
  });
});

describe('classifyTransportError', () => {
  const coded = (code: string, cause?: unknown) => Object.assign(new Error(code, { cause }), { code });
  it.each([
    [coded('UND_ERR_SOCKET', coded('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED')), 'jpm_certificate_refused'],
    [coded('ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE'), 'jpm_certificate_refused'],
    [coded('SELF_SIGNED_CERT_IN_CHAIN'), 'jpm_tls_failed'],
    [coded('ERR_TLS_CERT_ALTNAME_INVALID'), 'jpm_tls_failed'],
    [coded('UND_ERR_HEADERS_TIMEOUT'), 'jpm_timeout'],
    [new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'jpm_timeout'],
    [coded('ECONNREFUSED'), 'jpm_unreachable'],
    [coded('ENOTFOUND'), 'jpm_unreachable'],
    [coded('ECONNRESET'), 'jpm_unavailable'],
    [coded('UND_ERR_SOCKET'), 'jpm_unavailable'],
    [coded('UND_ERR_RES_EXCEEDED_MAX_SIZE'), 'jpm_response_too_large'],
  ])('%s → %s', (err, code) => {
    expect(classifyTransportError(err, ctx, false)).toMatchObject({ code, requestId: 'req-1' });
  });

  it('tells our own timeout from a caller abort, and leaves programming errors alone', () => {
    const abort = new DOMException('aborted', 'AbortError');
    expect(classifyTransportError(abort, ctx, true)?.code).toBe('jpm_timeout');
    expect(classifyTransportError(abort, ctx, false)?.code).toBe('jpm_aborted');
    expect(classifyTransportError(new TypeError('x is not a function'), ctx, false)).toBeUndefined();
  });
});

describe('request planning and credentials', () => {
  it('cuts ≤ 10 accounts × ≤ 5-day windows; 12 days and 23 accounts are 3 × 3 slices', () => {
    const accountIds = Array.from({ length: 23 }, (_, i) => String(1000 + i));
    const slices = slicesOf({
      accountIds: [...accountIds, accountIds[0]!],
      startDate: '2025-03-01',
      endDate: '2025-03-12',
    });
    expect(slices).toHaveLength(9);
    expect(slices.map((s) => s.accountIds.length)).toEqual([10, 10, 10, 10, 10, 10, 3, 3, 3]);
    expect(slices.slice(0, 3).map((s) => ('startDate' in s ? `${s.startDate}..${s.endDate}` : ''))).toEqual([
      '2025-03-01..2025-03-05',
      '2025-03-06..2025-03-10',
      '2025-03-11..2025-03-12',
    ]);
    expect(() => slicesOf({ accountIds: [], relativeDateType: 'PRIOR_DAY' })).toThrow(/at least one account/);
    expect(() => slicesOf({ accountIds: ['1'], startDate: '2025-02-30', endDate: '2025-03-01' })).toThrow(/startDate/);
  });

  it('rejects an empty or unusable credential up front without echoing PEM text', () => {
    expect(() => validateCredential({ id: 'c', certPem: '', keyPem: '' })).toThrow(JpmRejectedError);
    let err: unknown;
    try {
      validateCredential({
        id: 'c',
        certPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----',
        keyPem: 'garbage',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'jpm_credential_invalid', retryable: false, details: { credentialId: 'c' } });
    expect((err as Error).message).not.toContain('BEGIN');
  });

  it('formats reject paths readably', () => {
    expect(formatPath([])).toBe('(record)');
    expect(formatPath(['account', 'currency', 'decimalLocation'])).toBe('account.currency.decimalLocation');
    expect(formatPath(['narrativeText', 'YOUR REF    '])).toBe('narrativeText["YOUR REF    "]');
    expect(formatPath(['accountList', 3, 'balanceList', 0])).toBe('accountList[3].balanceList[0]');
  });
});

describe('cutText', () => {
  it('cuts at max units, one fewer when that would halve a character outside the BMP, and leaves short text alone', () => {
    expect(cutText('abcdef', 4)).toBe('abcd');
    expect(cutText('abc', 4)).toBe('abc');
    expect(cutText('abc\u{1F4B8}', 5)).toBe('abc\u{1F4B8}');
    expect(cutText('abc\u{1F4B8}z', 4)).toBe('abc');
    expect(cutText('ab\u{1F4B8}z', 4)).toBe('ab\u{1F4B8}');
    for (let max = 1; max < 12; max++) {
      const cut = cutText('a\u{1F4B8}b\u{1F4B8}\u{1F4B8}cd', max);
      expect(cut.isWellFormed()).toBe(true);
      expect(cut.length === max || cut.length === max - 1).toBe(true);
    }
  });
});
