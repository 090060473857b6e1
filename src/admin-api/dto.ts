import { z } from 'zod';
import type { Route } from '../http/routes.ts';

/** Shared field schemas of admin API DTOs (camelCase, ISO 8601 UTC instants). */
export const Id = z.uuid().meta({ description: 'UUID', example: '01935f3c-8e3a-7c2e-9a51-0d2f6f1f9b11' });
export const Instant = z.iso.datetime().meta({ description: 'ISO 8601 instant, UTC' });
export const IdParams = z.object({ id: Id });

/**
 * An old path of a renamed route, kept for one release: the same handler and answer, marked
 * deprecated in the OpenAPI document and pointing to the new path (README, "API conventions").
 */
export function deprecatedAlias(
  route: Route,
  oldPath: Route['path'],
  overrides: Partial<Pick<Route, 'response' | 'handler'>> = {},
): Route {
  return {
    ...route,
    ...overrides,
    path: oldPath,
    deprecated: true,
    summary: `${route.summary} (old path)`,
    description: `Deprecated: use \`${route.method.toUpperCase()} ${route.path}\`; this path is removed in the next release.${route.description ? `\n\n${route.description}` : ''}`,
  };
}

export function iso(date: Date): string;
export function iso(date: Date | null): string | null;
export function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}
