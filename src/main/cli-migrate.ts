import { parseArgs } from 'node:util';
import { loadConfigOrExit, checkDependencies, exitOnDependencyError } from './bootstrap.ts';
import { registerCommand } from './commands.ts';
import { createDb } from '../storage/db.ts';
import { migrateDown, migrateUp, migrationStatus } from '../storage/migrator.ts';

async function migrateCommand(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { all: { type: 'boolean', default: false } },
  });
  const action = positionals[0] ?? 'up';
  if (!['up', 'down', 'status'].includes(action)) {
    process.stderr.write(`jpm-sync migrate: unknown action ${JSON.stringify(action)}; use up, down or status\n`);
    return 2;
  }
  const { config, secrets } = loadConfigOrExit(process.env, { logToStderr: true });
  await checkDependencies(config, secrets, { redis: false, createDb: true }).catch(exitOnDependencyError);
  const db = createDb({ url: config.database.url, password: secrets.databasePassword, poolMax: 1 });
  try {
    if (action === 'status') {
      for (const m of await migrationStatus(db)) {
        process.stdout.write(
          `${m.executedAt ? 'applied' : 'pending'}  ${m.name}${m.executedAt ? `  (${m.executedAt.toISOString()})` : ''}\n`,
        );
      }
      return 0;
    }
    const result = action === 'up' ? await migrateUp(db) : await migrateDown(db, values.all);
    for (const r of result.results ?? []) {
      process.stdout.write(
        `${r.status === 'Success' ? 'ok' : r.status.toLowerCase()}  ${r.direction.toLowerCase()}  ${r.migrationName}\n`,
      );
    }
    if (result.error) {
      process.stderr.write(`jpm-sync migrate: ${result.error instanceof Error ? result.error.message : 'failed'}\n`);
      return 1;
    }
    if ((result.results ?? []).length === 0) {
      process.stdout.write(action === 'up' ? 'database is up to date\n' : 'nothing to revert\n');
    }
    return 0;
  } finally {
    await db.destroy();
  }
}

registerCommand(
  'migrate',
  migrateCommand,
  'migrate [up|down|status] [--all]     Apply, revert (newest, or --all) or list migrations; creates the database if missing',
);
