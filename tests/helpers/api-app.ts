import type { Express } from 'express';
import { expect } from 'vitest';
import type { z } from 'zod';
import { createApiKey } from '../../src/admin-api/api-keys.service.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createContext, type AppContext } from '../../src/main/context.ts';
import type { ApiKeyRole } from '../../src/domain/access.ts';
import { ProblemSchema } from '../../src/http/openapi.ts';
import { buildApiApp, type ApiAppOptions } from '../../src/main/api.ts';
import { createTestDb, testQueuePrefix, type TestDb } from './db.ts';
import { REDIS_URL } from './env.ts';

export interface TestApi {
  t: TestDb;
  ctx: AppContext;
  app: Express;
  /** An unscoped admin key. */
  adminKey: string;
  /** Creates a key directly (as the CLI does) and returns its full secret. */
  key(role: ApiKeyRole, organizationId?: string | null): Promise<string>;
  close(): Promise<void>;
}

/** The real app over its own migrated database and Redis prefix, as main/api.ts builds it. */
export async function createTestApi(options: ApiAppOptions & { env?: Record<string, string> } = {}): Promise<TestApi> {
  const t = await createTestDb();
  const { config, secrets } = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: t.url,
    REDIS_URL,
    QUEUE_PREFIX: testQueuePrefix(),
    ...options.env,
  });
  const ctx = createContext(config, secrets);
  const app = buildApiApp(ctx, options);
  const key = async (role: ApiKeyRole, organizationId: string | null = null) =>
    (await createApiKey(ctx.db, { name: `test ${role}`, role, organizationId, createdByKeyId: null })).token;
  const adminKey = await key('admin');
  return {
    t,
    ctx,
    app,
    adminKey,
    key,
    async close() {
      await ctx.close();
      await t.drop();
    },
  };
}

export function bearer(key: string): { Authorization: string } {
  return { Authorization: `Bearer ${key}` };
}

/** A response body parsed by its documented schema: the test fails if the API breaks its own contract. */
export function bodyOf<S extends z.ZodType>(schema: S, res: { body: unknown }): z.output<S> {
  return schema.parse(res.body);
}

export type ProblemBody = z.output<typeof ProblemSchema>;

/** Asserts an RFC 9457 problem response (status, code, content type, request id) and returns its body. */
export function expectProblem(
  res: { status: number; headers: Record<string, string>; body: unknown },
  status: number,
  code: string,
): ProblemBody {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = ProblemSchema.strict().parse(res.body);
  expect(problem).toMatchObject({ type: `urn:jpm-sync:problem:${code}`, status, code });
  expect(problem.requestId).toBe(res.headers['x-request-id']);
  // Never a stack trace or source position in a response.
  expect(JSON.stringify(problem)).not.toMatch(/\.ts:\d+|\n\s+at /);
  return problem;
}
