import { z } from 'zod';

/** Shared field schemas of admin API DTOs (camelCase, ISO 8601 UTC instants). */
export const Id = z.uuid().meta({ description: 'UUID', example: '01935f3c-8e3a-7c2e-9a51-0d2f6f1f9b11' });
export const Instant = z.iso.datetime().meta({ description: 'ISO 8601 instant, UTC' });
export const IdParams = z.object({ id: Id });

export function iso(date: Date): string;
export function iso(date: Date | null): string | null;
export function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}
