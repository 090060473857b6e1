import type { Executor } from './db.ts';
import { decodeCursor, pageOf, type Page } from './pagination.ts';

export interface OrganizationRow {
  id: string;
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = ['id', 'name', 'created_at', 'updated_at'] as const;

function toRow(r: { id: string; name: string; created_at: Date; updated_at: Date }): OrganizationRow {
  return { id: r.id, name: r.name, createdAt: r.created_at, updatedAt: r.updated_at };
}

export async function insertOrganization(db: Executor, org: { id: string; name: string }): Promise<OrganizationRow> {
  return toRow(await db.insertInto('organizations').values(org).returning(COLUMNS).executeTakeFirstOrThrow());
}

export async function findOrganization(db: Executor, id: string): Promise<OrganizationRow | undefined> {
  const row = await db.selectFrom('organizations').select(COLUMNS).where('id', '=', id).executeTakeFirst();
  return row ? toRow(row) : undefined;
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
  const page = pageOf(await q.execute(), f.limit, (r) => [r.id]);
  return { rows: page.rows.map(toRow), nextCursor: page.nextCursor };
}
