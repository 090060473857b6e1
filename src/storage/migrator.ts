import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, NO_MIGRATIONS, type MigrationResultSet, type Kysely } from 'kysely';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

/** Kysely's file-based migrator over top-level `migrations/` (timestamped names sort in order). */
export function createMigrator<T>(db: Kysely<T>): Migrator {
  return new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
  });
}

export interface MigrationStatus {
  name: string;
  executedAt: Date | undefined;
}

export async function migrateUp<T>(db: Kysely<T>): Promise<MigrationResultSet> {
  return createMigrator(db).migrateToLatest();
}

/** Reverts the newest migration only; `all` goes back to an empty schema. */
export async function migrateDown<T>(db: Kysely<T>, all = false): Promise<MigrationResultSet> {
  const migrator = createMigrator(db);
  return all ? migrator.migrateTo(NO_MIGRATIONS) : migrator.migrateDown();
}

export async function migrationStatus<T>(db: Kysely<T>): Promise<MigrationStatus[]> {
  const list = await createMigrator(db).getMigrations();
  return list.map((m) => ({ name: m.name, executedAt: m.executedAt }));
}
