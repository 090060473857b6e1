import './node-version.ts';
import { isDatabaseSessionLost, NETWORK_ERROR_CODES } from '../shared/errors.ts';
import { isRedisUnavailable } from '../shared/redis.ts';
import { EXIT_DEPENDENCY } from './bootstrap.ts';
import { findCommand, usageText } from './commands.ts';
// Each module registers its commands at import time.
import './cli-migrate.ts';
import './cli-apikey.ts';
import './cli-simulator.ts';
import './cli-sync.ts';
import './cli-credentials.ts';
import './cli-validate.ts';
import './cli-import.ts';
import './cli-change-feed.ts';

/** `jpm-sync <command>`: operator commands (package bin, also `npm run cli -- …`). */
export async function runCli(argv: string[]): Promise<number> {
  const [name = 'help', ...rest] = argv;
  if (name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usageText());
    return 0;
  }
  const command = findCommand(name);
  if (!command) {
    process.stderr.write(`jpm-sync: unknown command ${JSON.stringify(name)}\n\n${usageText()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    // Before the command parses anything: `jpm-sync migrate down --help` shows help, it never reverts a migration.
    process.stdout.write(usageText(name));
    return 0;
  }
  try {
    return await command(rest);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      // An option the command does not know, or one missing its value: the operator's to fix, before anything ran.
      process.stderr.write(`jpm-sync ${name}: ${(err as Error).message}\n\n${usageText()}`);
      return 2;
    }
    // A failure no command handled (the database refused a write, a connection dropped): one line saying what
    // failed, never a stack trace; nothing the command wrote in a transaction is left behind.
    const message =
      (err instanceof Error ? err.message || (err as { code?: string }).code || err.name : String(err)).split(
        '\n',
      )[0] ?? '';
    const lost = dependencyLost(err);
    if (lost) {
      // Postgres or Redis went away while the command ran (a restart, a failover): the same exit as when it is down
      // at the start, so a script retries later rather than reporting a failure.
      process.stderr.write(
        `jpm-sync ${name}: ${lost.what} is not reachable (${message}); check ${lost.variable} and that ${lost.what} ` +
          'runs, then run the command again (what it had not committed was not kept)\n',
      );
      return EXIT_DEPENDENCY;
    }
    process.stderr.write(`jpm-sync ${name}: failed: ${message}\n`);
    return 1;
  }
}

/** Postgres or Redis lost while the command ran, or undefined when the error is something else. */
function dependencyLost(err: unknown): { what: 'Postgres' | 'Redis'; variable: string } | undefined {
  if (isRedisUnavailable(err)) {
    return { what: 'Redis', variable: 'REDIS_URL' };
  }
  // A file's error (`import` reads files) is not a lost connection, though its code has the same shape.
  const code = (err as { code?: unknown } | null)?.code;
  const fileError = typeof code === 'string' && /^E[A-Z]+$/.test(code) && !NETWORK_ERROR_CODES.has(code);
  return isDatabaseSessionLost(err) && !fileError ? { what: 'Postgres', variable: 'DATABASE_URL' } : undefined;
}

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2));
}
