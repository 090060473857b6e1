import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateUp, migrationStatus } from '../../src/storage/migrator.ts';
import { checkedInDbTypes, generateDbTypes } from '../../scripts/gen-db-types.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { PG_ADMIN_URL } from '../helpers/env.ts';

describe('migrations', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('are all applied in the template and revert and re-apply cleanly', async () => {
    const status = await migrationStatus(t.db);
    expect(status.length).toBeGreaterThan(0);
    expect(status.every((m) => m.executedAt)).toBe(true);
    const down = await migrateDown(t.db, true);
    expect(down.error).toBeUndefined();
    const tables = await sql<{ n: string }>`select count(*)::text as n from information_schema.tables where table_schema = 'public' and table_name not like 'kysely_%'`.execute(t.db);
    expect(tables.rows[0]?.n).toBe('0');
    const up = await migrateUp(t.db);
    expect(up.error).toBeUndefined();
    expect((await migrationStatus(t.db)).every((m) => m.executedAt)).toBe(true);
  });

  it('match the checked-in db.types.ts (run `npm run db:types` after changing a migration)', async () => {
    expect(await generateDbTypes(PG_ADMIN_URL)).toBe(checkedInDbTypes());
  });
});
