import { z } from 'zod';
import type { Route } from '../../../src/http/routes.ts';

/**
 * Valid example inputs for a route, derived from its own zod schemas (through their JSON Schema):
 * required fields only, each the simplest value its schema accepts (`example`, first enum value,
 * format-shaped strings, minimums). Routes the derivation cannot satisfy (a regex it cannot invert,
 * a refinement) get a hand-written body in EXAMPLES; `validBody` returns undefined when neither works,
 * and the callers fail naming the route, so a new route with an unusual body is noticed, not skipped.
 */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: Json[];
  const?: Json;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  format?: string;
  pattern?: string;
  minLength?: number;
  minimum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  example?: Json;
  examples?: Json[];
  default?: Json;
}

/** Bodies for routes whose schema a generic sample cannot satisfy. Keyed `METHOD /path`. */
export const EXAMPLES: Record<string, unknown> = {
  'POST /v1/integrations/{id}/certificates': {
    certificatePem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
  },
  'POST /v1/integrations/{id}/accounts': {
    jpmAccountId: 'CHAOS-0001',
    bankId: '02100002',
    currency: 'USD',
    timeZone: 'America/New_York',
  },
};

const SAMPLE_UUID = '01935f3c-8e3a-7c2e-9a51-0d2f6f1f9b11';

function sample(s: JsonSchema, defs: Record<string, JsonSchema>, all: boolean): Json | undefined {
  if (s.$ref) {
    const name = s.$ref.split('/').pop() ?? '';
    const target = defs[name];
    return target ? sample(target, defs, all) : undefined;
  }
  if (s.const !== undefined) {
    return s.const;
  }
  if (s.example !== undefined) {
    return s.example;
  }
  if (s.examples?.[0] !== undefined) {
    return s.examples[0];
  }
  if (s.enum?.[0] !== undefined) {
    return s.enum[0];
  }
  for (const options of [s.anyOf, s.oneOf]) {
    if (options) {
      for (const o of options) {
        const v = sample(o, defs, all);
        if (v !== undefined) {
          return v;
        }
      }
    }
  }
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  switch (type) {
    case 'object': {
      const out: Record<string, Json> = {};
      for (const [k, v] of Object.entries(s.properties ?? {})) {
        if (all || s.required?.includes(k)) {
          const value = sample(v, defs, all);
          if (value !== undefined) {
            out[k] = value;
          }
        }
      }
      return out;
    }
    case 'array': {
      const item = s.items ? sample(s.items, defs, all) : 'x';
      return Array.from({ length: Math.max(1, s.minItems ?? 0) }, () => item ?? 'x');
    }
    case 'integer':
    case 'number':
      return s.minimum ?? (s.exclusiveMinimum === undefined ? 1 : s.exclusiveMinimum + 1);
    case 'boolean':
      return false;
    case 'string':
      switch (s.format) {
        case 'uuid':
          return SAMPLE_UUID;
        case 'date':
          return '2025-03-03';
        case 'date-time':
          return '2025-03-03T12:00:00.000Z';
        case 'email':
        case 'idn-email':
          return 'chaos@example.com';
        case 'uri':
        case 'url':
          return 'https://example.com/chaos';
        default:
          return 'chaos'.padEnd(s.minLength ?? 0, 'x');
      }
    default:
      return undefined;
  }
}

function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

/** The simplest value `schema` accepts, or undefined. */
export function validSample(schema: z.ZodType): unknown {
  const js = jsonSchemaOf(schema);
  for (const all of [false, true]) {
    const value = sample(js, js.$defs ?? {}, all);
    if (value !== undefined && schema.safeParse(value).success) {
      return value;
    }
  }
  return undefined;
}

/** A body the route's schema accepts (hand-written example first), or undefined when none could be built. */
export function validBody(route: Route): unknown {
  if (!route.request.body) {
    return undefined;
  }
  const example = EXAMPLES[`${route.method.toUpperCase()} ${route.path}`];
  if (example !== undefined && route.request.body.safeParse(example).success) {
    return example;
  }
  return validSample(route.request.body);
}

/** Required query parameters filled with valid values (as strings); {} when none are required. */
export function validQuery(route: Route): Record<string, string> {
  const q = route.request.query;
  if (!q) {
    return {};
  }
  const v = validSample(q) as Record<string, Json> | undefined;
  return Object.fromEntries(
    Object.entries(v ?? {}).map(([k, x]) => [k, typeof x === 'string' ? x : JSON.stringify(x)]),
  );
}

/** The names of a route's path parameters, in order. */
export function paramNames(route: Route): string[] {
  return [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
}

/** The URL segment naming the resource a path parameter points at: `/v1/webhooks/{id}/deliveries/{deliveryId}` → deliveries. */
export function resourceOf(route: Route, param: string): string {
  const before = route.path.split(`{${param}}`)[0]!.split('/').filter(Boolean);
  return before[before.length - 1] ?? '';
}

/** The route's path with each parameter replaced by `value(name, resource)`. */
export function fillPath(route: Route, value: (param: string, resource: string) => string): string {
  return route.path.replace(/\{([^}]+)\}/g, (_, name: string) =>
    encodeURIComponent(value(name, resourceOf(route, name))),
  );
}
