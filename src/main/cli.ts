import './node-version.ts';
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
    process.stderr.write(`jpm-sync ${name}: failed: ${message}\n`);
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2));
}
