import { parseArgs } from 'node:util';
import { loadConfigOrExit, checkDependencies, exitOnDependencyError } from './bootstrap.ts';
import { createDb } from '../storage/db.ts';
import { migrateDown, migrateUp, migrationStatus } from '../storage/migrator.ts';

/**
 * `jpm-sync <command>`: operator commands. Each command is a function taking its argv tail; output
 * is for people (or `--json` where a script reads it). Exit codes: 0 ok, 1 failed, 2 bad usage/config.
 */
type Command = (argv: string[]) => Promise<number>;

const USAGE = `Usage: jpm-sync <command> [options]

Commands:
  migrate [up|down|status] [--all]   Apply, revert (newest, or --all) or list migrations (creates the database if missing)
  help                               This text
`;

const commands: Record<string, Command> = {
  migrate: migrateCommand,
  help: () => {
    process.stdout.write(USAGE);
    return Promise.resolve(0);
  },
};

/** Lets later modules add subcommands without editing the dispatcher. */
export function registerCommand(name: string, command: Command, usage: string): void {
  commands[name] = command;
  extraUsage.push(usage);
}
const extraUsage: string[] = [];

async function migrateCommand(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { all: { type: 'boolean', default: false } } });
  const action = positionals[0] ?? 'up';
  if (!['up', 'down', 'status'].includes(action)) {
    process.stderr.write(`jpm-sync migrate: unknown action ${JSON.stringify(action)}; use up, down or status\n`);
    return 2;
  }
  const { config, secrets } = loadConfigOrExit();
  await checkDependencies(config, secrets, { redis: false, createDb: true }).catch(exitOnDependencyError);
  const db = createDb({ url: config.database.url, password: secrets.databasePassword, poolMax: 1 });
  try {
    if (action === 'status') {
      for (const m of await migrationStatus(db)) {
        process.stdout.write(`${m.executedAt ? 'applied' : 'pending'}  ${m.name}${m.executedAt ? `  (${m.executedAt.toISOString()})` : ''}\n`);
      }
      return 0;
    }
    const result = action === 'up' ? await migrateUp(db) : await migrateDown(db, values.all);
    for (const r of result.results ?? []) {
      process.stdout.write(`${r.status === 'Success' ? 'ok' : r.status.toLowerCase()}  ${r.direction.toLowerCase()}  ${r.migrationName}\n`);
    }
    if (result.error) {
      process.stderr.write(`jpm-sync migrate: ${(result.error as Error).message}\n`);
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

export async function runCli(argv: string[]): Promise<number> {
  const [name = 'help', ...rest] = argv;
  const command = commands[name];
  if (!command) {
    process.stderr.write(`jpm-sync: unknown command ${JSON.stringify(name)}\n\n${USAGE}${extraUsage.join('\n')}\n`);
    return 2;
  }
  return command(rest);
}

if (import.meta.main) {
  const code = await runCli(process.argv.slice(2));
  process.exitCode = code;
}
