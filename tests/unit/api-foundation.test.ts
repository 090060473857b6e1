import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ROLE_PERMISSIONS, roleAllows } from '../../src/domain/access.ts';
import { apiKeyMatches, apiKeyPrefix, generateApiKey, hashApiKey } from '../../src/http/api-key-token.ts';
import { toProblem } from '../../src/http/errors.ts';
import { canonicalJson, requestHash } from '../../src/http/idempotency.ts';
import { operationId } from '../../src/http/openapi.ts';
import { expressPath, pathPattern } from '../../src/http/routes.ts';
import { ValidationError } from '../../src/shared/errors.ts';
import { decodeCursor, encodeCursor, pageOf } from '../../src/storage/pagination.ts';

describe('keyset cursors', () => {
  it('round-trip a compound key and stay opaque base64url', () => {
    const cursor = encodeCursor(['2026-11-25 10:00:00.123456+00', '01935f3c-8e3a-7c2e-9a51-0d2f6f1f9b11', 42]);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, ['string', 'uuid', 'number'])).toEqual([
      '2026-11-25 10:00:00.123456+00',
      '01935f3c-8e3a-7c2e-9a51-0d2f6f1f9b11',
      42,
    ]);
  });

  it.each([
    ['empty', ''],
    ['not base64url', 'a b'],
    ['not JSON', Buffer.from('nope').toString('base64url')],
    ['wrong version', Buffer.from(JSON.stringify({ v: 2, k: ['123'] })).toString('base64url')],
    ['wrong arity', encodeCursor(['1', '2'])],
    ['wrong kind', encodeCursor([7])],
    ['not an int', encodeCursor(['1; drop table audit_log'])],
    ['an int past bigint', encodeCursor(['9999999999999999999'])],
    ['an int before bigint', encodeCursor(['-9223372036854775809'])],
    ['too long', 'A'.repeat(2000)],
  ])('reject a cursor that is %s with a 400 invalid_cursor', (_name, cursor) => {
    let caught: unknown;
    try {
      decodeCursor(cursor, ['int']);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect(caught).toMatchObject({ code: 'invalid_cursor', httpStatus: 400 });
  });

  it('takes the ends of bigint', () => {
    expect(decodeCursor(encodeCursor(['9223372036854775807']), ['int'])).toEqual(['9223372036854775807']);
    expect(decodeCursor(encodeCursor(['-9223372036854775808']), ['int'])).toEqual(['-9223372036854775808']);
  });

  it('page: the next cursor points at the last row shown, and is null on the last page', () => {
    const rows = [{ id: '1' }, { id: '2' }, { id: '3' }];
    const first = pageOf(rows, 2, (r) => [r.id]);
    expect(first.rows).toEqual([{ id: '1' }, { id: '2' }]);
    expect(decodeCursor(first.nextCursor ?? '', ['int'])).toEqual(['2']);
    expect(pageOf(rows, 3, (r) => [r.id]).nextCursor).toBeNull();
  });
});

describe('API keys', () => {
  it('have the jpms_<prefix>_<secret> shape, hash with SHA-256 and match only themselves', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.token).toMatch(/^jpms_[a-z0-9]{8}_[A-Za-z0-9]{40}$/);
    expect(apiKeyPrefix(a.token)).toBe(a.prefix);
    expect(a.hash).toBe(hashApiKey(a.token));
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(apiKeyMatches(a.token, a.hash)).toBe(true);
    expect(apiKeyMatches(b.token, a.hash)).toBe(false);
    expect(apiKeyMatches(a.token, 'abcd')).toBe(false);
    expect(apiKeyPrefix(`${a.token}x`)).toBeUndefined();
    expect(a.token).not.toBe(b.token);
  });

  it('roles: admin has everything, viewer nothing that writes, operator no keys or audit', () => {
    expect([...ROLE_PERMISSIONS.viewer].every((p) => p.endsWith(':read'))).toBe(true);
    expect(roleAllows('operator', 'syncs:write')).toBe(true);
    expect(roleAllows('operator', 'api_keys:write')).toBe(false);
    expect(roleAllows('operator', 'audit:read')).toBe(false);
    expect(roleAllows('viewer', 'api_keys:read')).toBe(false);
  });
});

describe('idempotency request hash', () => {
  it('ignores key order and undefined fields but not values, paths or methods', () => {
    expect(canonicalJson({ b: [1, { d: 2, c: 3 }], a: 'x', u: undefined })).toBe('{"a":"x","b":[1,{"c":3,"d":2}]}');
    const h = requestHash('POST', '/v1/organizations', { name: 'A', x: 1 });
    expect(requestHash('POST', '/v1/organizations', { x: 1, name: 'A' })).toBe(h);
    expect(requestHash('POST', '/v1/organizations', { x: 2, name: 'A' })).not.toBe(h);
    expect(requestHash('POST', '/v1/api-keys', { x: 1, name: 'A' })).not.toBe(h);
    expect(requestHash('PUT', '/v1/organizations', { x: 1, name: 'A' })).not.toBe(h);
  });
});

describe('problem mapping', () => {
  it('maps zod errors to field errors, unknown keys one per field', () => {
    const result = z.object({ name: z.string() }).strict().safeParse({ name: 1, colour: 'red', size: 2 });
    expect(result.success).toBe(false);
    const { problem, internal } = toProblem(result.error, 'r1');
    expect(internal).toBe(false);
    expect(problem).toMatchObject({
      status: 400,
      code: 'validation_failed',
      requestId: 'r1',
      type: 'urn:jpm-sync:problem:validation_failed',
    });
    expect(problem.errors).toEqual(
      expect.arrayContaining([
        { path: 'name', message: expect.any(String) as string },
        { path: 'colour', message: 'unknown field' },
        { path: 'size', message: 'unknown field' },
      ]),
    );
  });

  it('never turns a client mistake into a 500, and hides the message of unknown errors', () => {
    expect(
      toProblem(Object.assign(new Error('x'), { status: 413, type: 'entity.too.large', expose: true }), 'r').problem,
    ).toMatchObject({ status: 413, code: 'payload_too_large' });
    expect(
      toProblem(
        Object.assign(new Error('invalid input syntax for type uuid'), { code: '22P02', severity: 'ERROR' }),
        'r',
      ).problem,
    ).toMatchObject({ status: 400, code: 'invalid_value' });
    expect(toProblem(Object.assign(new Error('dup'), { code: '23505', severity: 'ERROR' }), 'r').problem).toMatchObject(
      { status: 409 },
    );
    const unknown = toProblem(new Error('password=hunter2 at db.ts:12'), 'r');
    expect(unknown.internal).toBe(true);
    expect(unknown.problem).toMatchObject({ status: 500, code: 'internal_error' });
    expect(unknown.problem.detail).not.toContain('hunter2');
  });
});

describe('route paths', () => {
  it('convert OpenAPI templates for Express, 405 detection and operation ids', () => {
    expect(expressPath('/v1/accounts/{id}/syncs')).toBe('/v1/accounts/:id/syncs');
    expect(pathPattern('/v1/accounts/{id}/syncs').test('/v1/accounts/abc/syncs')).toBe(true);
    expect(pathPattern('/v1/accounts/{id}/syncs').test('/v1/accounts/abc/def/syncs')).toBe(false);
    expect(pathPattern('/v1/a.b').test('/v1/aXb')).toBe(false);
    expect(operationId({ method: 'post', path: '/v1/api-keys/{id}/revoke' })).toBe('postV1ApiKeysIdRevoke');
  });
});
