import type { Executor } from './db.ts';
import { decodeCursor, pageOf, type Page } from './pagination.ts';

export interface OrganizationRow {
  id: string;
  name: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = ['id', 'name', 'created_at', 'updated_at'] as const;

export async function insertOrganization(db: Executor, org: { id: string; name: string }): Promise<OrganizationRow> {
  return db.insertInto('organizations').values(org).returning(COLUMNS).executeTakeFirstOrThrow();
}

export async function findOrganization(db: Executor, id: string): Promise<OrganizationRow | undefined> {
  return db.selectFrom('organizations').select(COLUMNS).where('id', '=', id).executeTakeFirst();
}

/** Oldest first (ids are uuidv7, so id order is creation order). */
export async function listOrganizations(
  db: Executor,
  f: { onlyId?: string | undefined; cursor?: string | undefined; limit: number },
): Promise<Page<OrganizationRow>> {
  let q = db
    .selectFrom('organizations')
    .select(COLUMNS)
    .orderBy('id', 'asc')
    .limit(f.limit + 1);
  if (f.onlyId !== undefined) {
    q = q.where('id', '=', f.onlyId);
  }
  if (f.cursor !== undefined) {
    const [id] = decodeCursor(f.cursor, ['uuid']);
    q = q.where('id', '>', id);
  }
  return pageOf(await q.execute(), f.limit, (r) => [r.id]);
}
