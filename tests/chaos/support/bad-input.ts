import fc from 'fast-check';
import type { Route } from '../../../src/http/routes.ts';
import { paramNames, resourceOf, validBody, validQuery } from './samples.ts';

/**
 * fast-check arbitraries of hostile requests for one route of the registry, built from the route's
 * own schemas: which parts it has (path parameters, query, body), their field names, and a valid
 * sample to mutate. A "bad" request breaks at least one part so that the route's schema (or the JSON
 * parser, the size limit, the content type) must refuse it; an "odd" one stays schema-valid but
 * carries hostile text (injection strings, unicode, extreme values) into the handler.
 */
export const NASTY: readonly string[] = [
  "' OR 1=1 --",
  "'; DROP TABLE organizations; --",
  '" OR ""="',
  '1); SELECT pg_sleep(10); --',
  '$1',
  '%',
  '_',
  '\\',
  '%_%',
  '{"$gt": ""}',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '../../../../etc/passwd',
  '..%2F..%2Fetc%2Fpasswd',
  '%2e%2e%2f',
  '/',
  '//',
  '?',
  '#',
  '&',
  '=',
  ';',
  '|',
  '`id`',
  '$(id)',
  '\u0000',
  'a\u0000b',
  '\u202e',
  '\ud83d\ude00',
  '\ud800',
  '𝕏',
  'ß',
  'İ',
  '\ufeff',
  'e\u0301',
  '\u2028',
  '\r\n',
  '\t',
  '<script>alert(1)</script>',
  '${7*7}',
  '{{7*7}}',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
  '-1',
  '0x10',
  '9'.repeat(400),
  'true',
  '[]',
  '{}',
  ' ',
  'A'.repeat(5_000),
  'jpms_aaaaaaaa_',
  '-----BEGIN PRIVATE KEY-----',
];

const INVALID_DATES = [
  '2025-02-30',
  '2025-13-01',
  '2025-00-10',
  '20250101',
  '2025-1-1',
  '0000-00-00',
  '+275760-09-13',
  '2025-03-12T00:00:00Z',
  'yesterday',
  '9999-99-99',
];
const EDGE_DATES = ['0001-01-01', '1970-01-01', '2000-02-29', '2025-03-12', '9999-12-31'];
const LIMITS = ['0', '-1', '501', '100000000000000000000', 'abc', '1.5', '1e3', ' 10', '', '10'];

export const nastyString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);

/** A JSON value of a wrong kind for most fields. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  nastyString,
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.boolean(),
  fc.constant(null),
  fc.constant([]),
  fc.constant({}),
  fc.array(nastyString, { maxLength: 3 }),
  fc.dictionary(nastyString, nastyString, { maxKeys: 3 }),
  fc.constant(-1),
  fc.constant(2 ** 53 + 1),
);

export interface HostileRequest {
  /** Path parameter values; `raw` ones go into the URL unencoded (malformed percent-encoding). */
  params: Record<string, { value: string; raw?: boolean }>;
  query: Record<string, string | string[]>;
  body?: { kind: 'json'; value: unknown } | { kind: 'raw'; text: string; contentType: string };
  idempotencyKey?: string;
}

export interface IdPool {
  /** Real ids (of both organizations) by resource segment. */
  real: Record<string, string[]>;
  uuid: fc.Arbitrary<string>;
  /** Real cursors of list routes, by route path (to tamper with). */
  cursors: Record<string, string>;
}

function queryValue(route: Route, key: string, pool: IdPool): fc.Arbitrary<string | string[]> {
  const single: fc.Arbitrary<string> = (() => {
    if (/cursor/i.test(key)) {
      const real = pool.cursors[route.path];
      return fc.oneof(
        nastyString,
        fc.base64String({ maxLength: 60 }),
        fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
        ...(real
          ? [
              fc
                .nat({ max: real.length - 1 })
                .map((i) => `${real.slice(0, i)}${real[i] === 'A' ? 'B' : 'A'}${real.slice(i + 1)}`),
              fc.constant(`${real}x`),
            ]
          : []),
      );
    }
    if (/(^|[a-z])(from|to|date|day|since|until|before|after)$/i.test(key)) {
      return fc.oneof(fc.constantFrom(...INVALID_DATES), fc.constantFrom(...EDGE_DATES), nastyString);
    }
    if (/limit/i.test(key)) {
      return fc.oneof(fc.constantFrom(...LIMITS), nastyString);
    }
    if (/Id$/.test(key)) {
      return fc.oneof(pool.uuid, nastyString, ...Object.values(pool.real).map((ids) => fc.constantFrom(...ids)));
    }
    return nastyString;
  })();
  return fc.oneof(
    { weight: 5, arbitrary: single },
    { weight: 1, arbitrary: fc.array(single, { minLength: 2, maxLength: 3 }) },
  );
}

function queryArb(route: Route, pool: IdPool): fc.Arbitrary<Record<string, string | string[]>> {
  const known = Object.keys(route.request.query?.shape ?? {});
  const entries = [
    ...known.map((k) => fc.tuple(fc.constant(k), queryValue(route, k, pool))),
    fc.tuple(
      nastyString.filter((k) => k !== ''),
      queryValue(route, 'x', pool),
    ),
  ];
  return fc
    .array(fc.oneof(...entries), { maxLength: 4 })
    .map((pairs) => ({ ...validQuery(route), ...Object.fromEntries(pairs) }));
}

/** A lone surrogate cannot be put in a URL at all (no UTF-8 for it): such text is only sent in bodies and queries. */
function encodable(s: string): boolean {
  try {
    encodeURIComponent(s);
    return true;
  } catch {
    return false;
  }
}

function paramArb(
  route: Route,
  name: string,
  pool: IdPool,
  bad: boolean,
): fc.Arbitrary<{ value: string; raw?: boolean }> {
  const real = pool.real[resourceOf(route, name)] ?? [];
  const good = fc.oneof(pool.uuid, ...(real.length > 0 ? [fc.constantFrom(...real)] : [])).map((value) => ({ value }));
  if (!bad) {
    return good;
  }
  return fc.oneof(
    // Not '', '.' or '..': those would change the path itself (another route), not the parameter.
    { weight: 6, arbitrary: nastyString.filter((s) => !/^\.*$/.test(s) && encodable(s)).map((value) => ({ value })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('%', '%zz', '%E0%A4%A', '%00', '%C0%AF').map((value) => ({ value, raw: true })),
    },
    { weight: 1, arbitrary: pool.uuid.map((u) => ({ value: `${u}x` })) },
    { weight: 1, arbitrary: pool.uuid.map((u) => ({ value: u.replace(/-/g, '') })) },
  );
}

function bodyArb(route: Route): fc.Arbitrary<NonNullable<HostileRequest['body']>> {
  const base = (validBody(route) ?? {}) as Record<string, unknown>;
  const fields = Object.keys((route.request.body as { shape?: Record<string, unknown> } | undefined)?.shape ?? base);
  const mutated = fc
    .record({
      wrong: fc.subarray(fields),
      missing: fc.subarray(fields),
      extra: fc.dictionary(nastyString, wrongValue, { maxKeys: 2 }),
      values: fc.array(wrongValue, { minLength: fields.length, maxLength: fields.length }),
    })
    .map(({ wrong, missing, extra, values }) => {
      const out: Record<string, unknown> = { ...base };
      wrong.forEach((f) => {
        out[f] = values[fields.indexOf(f)];
      });
      missing.forEach((f) => delete out[f]);
      return { ...out, ...extra };
    });
  let deep: unknown = 'x';
  for (let i = 0; i < 300; i++) {
    deep = { a: deep };
  }
  return fc.oneof(
    { weight: 6, arbitrary: mutated.map((value) => ({ kind: 'json' as const, value })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom<unknown>(null, [], 'x', 0, true, [base], deep)
        .map((value) => ({ kind: 'json' as const, value })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('{"name": "Ac', '{', '[', 'nul', '{"a":1,}', '\u0000', "{'a':1}", '{"a":1}{"b":2}')
        .map((text) => ({ kind: 'raw' as const, text, contentType: 'application/json' })),
    },
    // (Not a BOM before valid JSON: RFC 8259 lets parsers ignore it, so that body is valid.)
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/xml',
          'multipart/form-data; boundary=x',
        )
        .map((contentType) => ({ kind: 'raw' as const, text: 'name=Acme', contentType })),
    },
    // Over the JSON body limit (256 kB).
    { weight: 1, arbitrary: fc.constant({ kind: 'json' as const, value: { ...base, pad: 'x'.repeat(300_000) } }) },
  );
}

function isInvalid(route: Route, r: HostileRequest): boolean {
  const { params, query, body } = route.request;
  const p = Object.fromEntries(Object.entries(r.params).map(([k, v]) => [k, v.value]));
  if (
    paramNames(route).length > 0 &&
    (Object.values(r.params).some((v) => v.raw) || (params && !params.safeParse(p).success))
  ) {
    return true;
  }
  if (query && !query.safeParse(r.query).success) {
    return true;
  }
  if (body && r.body && (r.body.kind === 'raw' || !body.safeParse(r.body.value).success)) {
    return true;
  }
  return false;
}

/** Requests the route must refuse with a 4xx: at least one part broken, checked against the route's own schemas. */
export function badRequests(route: Route, pool: IdPool): fc.Arbitrary<HostileRequest> | undefined {
  const parts = [
    ...(paramNames(route).length > 0 ? ['params'] : []),
    ...(route.request.query ? ['query'] : []),
    ...(route.request.body ? ['body'] : []),
  ];
  if (parts.length === 0) {
    return undefined;
  }
  return fc
    .constantFrom(...parts)
    .chain((broken) =>
      fc.record({
        params: fc.record(
          Object.fromEntries(paramNames(route).map((n) => [n, paramArb(route, n, pool, broken === 'params')])),
        ),
        query: broken === 'query' ? queryArb(route, pool) : fc.constant(validQuery(route)),
        body: route.request.body
          ? broken === 'body'
            ? bodyArb(route)
            : fc.constant({ kind: 'json' as const, value: validBody(route) ?? {} })
          : fc.constant(undefined),
        idempotencyKey: fc.option(
          nastyString.filter((s) => s.length > 0 && !/[^\x20-\x7e]/.test(s)),
          { nil: undefined },
        ),
      }),
    )
    .filter((r) => isInvalid(route, r));
}

/** Schema-valid requests that carry hostile text or extreme values into the handler (real ids too). */
export function oddRequests(route: Route, pool: IdPool): fc.Arbitrary<HostileRequest> {
  const base = validBody(route) as Record<string, unknown> | undefined;
  const stringFields = Object.entries(base ?? {})
    .filter(([, v]) => typeof v === 'string')
    .map(([k]) => k);
  const body = route.request.body
    ? fc
        .dictionary(fc.constantFrom(...(stringFields.length > 0 ? stringFields : ['__none'])), nastyString, {
          maxKeys: 2,
        })
        .map((over) => ({ kind: 'json' as const, value: { ...base, ...(stringFields.length > 0 ? over : {}) } }))
    : fc.constant(undefined);
  return fc.record({
    params: fc.record(Object.fromEntries(paramNames(route).map((n) => [n, paramArb(route, n, pool, false)]))),
    query: route.request.query ? queryArb(route, pool) : fc.constant({}),
    body,
  });
}
