import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  FileMigrationProvider,
  Migrator,
  NO_MIGRATIONS,
  sql,
  type Kysely,
  type Migration,
  type MigrationProvider,
  type MigrationResult,
  type MigrationResultSet,
  type NoMigrations,
} from 'kysely';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

/**
 * A migration module. `export const transactional = false` runs it outside any transaction: its statements commit
 * one by one (what `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY` need, and what keeps `VALIDATE CONSTRAINT`'s
 * scan from holding other locks). Such a migration must be safe to run again after stopping anywhere (IF NOT EXISTS,
 * IF EXISTS, `dropInvalidIndex` before a concurrent build): it is recorded as applied only after its last statement.
 */
export interface MigrationModule extends Migration {
  transactional?: boolean;
}

function isTransactional(m: MigrationModule | undefined): boolean {
  return m?.transactional !== false;
}

/**
 * The migrations of `migrations/`. With `ownTransactions`, each transactional one runs in a transaction of its own
 * (for the migrator that runs without Kysely's transaction): never a migration's statements without one by mistake.
 */
class ModuleProvider implements MigrationProvider {
  readonly #files = new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR });
  readonly #ownTransactions: boolean;
  constructor(ownTransactions: boolean) {
    this.#ownTransactions = ownTransactions;
  }

  async getMigrations(): Promise<Record<string, Migration>> {
    const modules = (await this.#files.getMigrations()) as Record<string, MigrationModule>;
    if (!this.#ownTransactions) {
      return modules;
    }
    const out: Record<string, Migration> = {};
    for (const [name, m] of Object.entries(modules)) {
      if (!isTransactional(m)) {
        out[name] = m;
        continue;
      }
      out[name] = {
        up: (db) => db.transaction().execute((trx) => m.up(trx)),
        ...(m.down ? { down: (db: Kysely<unknown>) => db.transaction().execute((trx) => m.down!(trx)) } : {}),
      };
    }
    return out;
  }
}

type Step = 'up' | 'down' | undefined;

/**
 * Runs the migrations one at a time: each transactional migration in a transaction of its own, committed with its
 * row in `kysely_migration` (Kysely's Migrator alone runs a whole batch in ONE transaction, so the locks of its first
 * migration were held until its last one committed), and each `transactional = false` one without a transaction.
 * Every step takes Kysely's migration lock (an advisory lock), so two runners never interleave. A step that fails
 * stops the run: the migrations before it stay applied, the failed one is reported and stays pending.
 */
export class MigrationRunner {
  readonly #inTransaction: Migrator;
  readonly #outside: Migrator;
  readonly #modules = new ModuleProvider(false);

  constructor(db: Kysely<unknown>) {
    this.#inTransaction = new Migrator({ db, provider: new ModuleProvider(false) });
    this.#outside = new Migrator({ db, provider: new ModuleProvider(true), disableTransactions: true });
  }

  getMigrations(): ReturnType<Migrator['getMigrations']> {
    return this.#inTransaction.getMigrations();
  }

  migrateToLatest(): Promise<MigrationResultSet> {
    return this.#run((names, applied) => (applied < names.length ? 'up' : undefined));
  }

  /** Up or down to `target` (applied included), or to no migrations at all. */
  migrateTo(target: string | NoMigrations): Promise<MigrationResultSet> {
    return this.#run((names, applied) => {
      const want = typeof target === 'string' ? names.indexOf(target) + 1 : 0;
      if (typeof target === 'string' && want === 0) {
        throw new Error(`migration "${target}" doesn't exist`);
      }
      return applied < want ? 'up' : applied > want ? 'down' : undefined;
    });
  }

  /** One migration up. */
  migrateUp(): Promise<MigrationResultSet> {
    let steps = 0;
    return this.#run((names, applied) => (steps++ === 0 && applied < names.length ? 'up' : undefined));
  }

  /** The newest applied migration down. */
  migrateDown(): Promise<MigrationResultSet> {
    let steps = 0;
    return this.#run((_names, applied) => (steps++ === 0 && applied > 0 ? 'down' : undefined));
  }

  async #run(next: (names: string[], applied: number) => Step): Promise<MigrationResultSet> {
    const results: MigrationResult[] = [];
    try {
      const modules = (await this.#modules.getMigrations()) as Record<string, MigrationModule>;
      for (;;) {
        const list = await this.#inTransaction.getMigrations();
        const names = list.map((m) => m.name);
        const applied = list.filter((m) => m.executedAt).length;
        const direction = next(names, applied);
        if (!direction) {
          return { results };
        }
        // Applied migrations are always the first ones (Kysely refuses any other state).
        const name = direction === 'up' ? names[applied]! : names[applied - 1]!;
        const migrator = isTransactional(modules[name]) ? this.#inTransaction : this.#outside;
        const step = direction === 'up' ? await migrator.migrateUp() : await migrator.migrateDown();
        results.push(...(step.results ?? []));
        if (step.error !== undefined) {
          return { error: step.error, results };
        }
        if (!(step.results ?? []).some((r) => r.status === 'Success')) {
          return { results }; // nothing moved (a migration without down, or another runner got there first)
        }
      }
    } catch (error) {
      return { error, results };
    }
  }
}

/** The migrator over top-level `migrations/` (timestamped names sort in order). */
export function createMigrator<T>(db: Kysely<T>): MigrationRunner {
  return new MigrationRunner(db as Kysely<unknown>);
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

/**
 * For `transactional = false` migrations: drops `index` if an interrupted `CREATE INDEX CONCURRENTLY` (or
 * `DROP INDEX CONCURRENTLY`) left it INVALID, so the `CREATE INDEX CONCURRENTLY IF NOT EXISTS` after it builds it
 * again instead of keeping the invalid one.
 */
export async function dropInvalidIndex(db: Kysely<unknown>, index: string): Promise<void> {
  const invalid = await sql<{ n: number }>`
    select 1 as n from pg_index x join pg_class c on c.oid = x.indexrelid join pg_namespace s on s.oid = c.relnamespace
    where c.relname = ${index} and s.nspname = current_schema() and not x.indisvalid`.execute(db);
  if (invalid.rows.length > 0) {
    await sql`drop index concurrently if exists ${sql.id(index)}`.execute(db);
  }
}

/**
 * Runs `work` with the session's `lock_timeout` set (restored after): a statement that cannot have its lock within
 * that time fails instead of queueing, and while queued it would hold back every later statement that needs a
 * conflicting lock. For `transactional = false` migrations (a transactional one uses `set local`).
 */
export async function withLockTimeout<R>(db: Kysely<unknown>, timeout: string, work: () => Promise<R>): Promise<R> {
  await sql`select set_config('lock_timeout', ${timeout}, false)`.execute(db);
  try {
    return await work();
  } finally {
    await sql`reset lock_timeout`.execute(db);
  }
}
