import { isAppError } from '../shared/errors.ts';

/**
 * The CLI's command registry. Each `cli-<name>.ts` module registers its commands at import time;
 * `cli.ts` imports them all and dispatches. Exit codes, the same for every command (README, Operations):
 * 0 done; 1 failed, or refused by the state of things (a report that did not pass, a paused account, an integration
 * with no accounts); 2 the command line or configuration to fix (an unknown option, a bad value, an id that names
 * nothing); 3 Postgres or Redis not reachable (`EXIT_DEPENDENCY`); 75 not yet, try again later (EX_TEMPFAIL: a
 * validation report before the bank has closed a business day since the approval).
 */
export type Command = (argv: string[]) => Promise<number>;

const EXIT_CODES_TEXT =
  'Exit codes: 0 done; 1 failed or refused; 2 the command line or configuration to fix; ' +
  '3 Postgres or Redis not reachable; 75 not yet, try again later.';

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_NOT_YET = 75;

/**
 * Refusals that are a matter of time: the same command succeeds later without anyone changing anything (a report
 * once the bank closes a day; an import that met another sync's write of one of its days).
 */
const NOT_YET_CODES: ReadonlySet<string> = new Set(['validation_not_yet_reportable', 'statement_copy_conflict']);

/**
 * The exit code and the line to print for an error a command expects (an exposed AppError), or undefined for any
 * other (the dispatcher's one-line "failed"). A 404 is the command line's (an id that names nothing), and so is a 400
 * unless `invalidInput` says otherwise (a statement file refused for its content is 1, as the import documents); a
 * not-yet code 75; any other refusal or failure 1.
 */
export function expectedFailure(
  err: unknown,
  options: { invalidInput?: number } = {},
): { code: number; message: string } | undefined {
  if (!isAppError(err) || !err.expose) {
    return undefined;
  }
  if (NOT_YET_CODES.has(err.code)) {
    return { code: EXIT_NOT_YET, message: `not yet: ${err.message}` };
  }
  const code =
    err.httpStatus === 404 ? EXIT_USAGE : err.httpStatus === 400 ? (options.invalidInput ?? EXIT_USAGE) : EXIT_FAILED;
  return { code, message: err.message };
}

interface Entry {
  run: Command;
  usage: string;
}

const registry = new Map<string, Entry>();

/** `usage` is one or more lines of the help text, e.g. `migrate [up|down|status]   Apply migrations`. */
export function registerCommand(name: string, run: Command, usage: string): void {
  if (registry.has(name)) {
    throw new Error(`CLI command ${name} registered twice`);
  }
  registry.set(name, { run, usage });
}

export function findCommand(name: string): Command | undefined {
  return registry.get(name)?.run;
}

/** The help text: every command's usage, or only `name`'s (`jpm-sync sync --help`). */
export function usageText(name?: string): string {
  const entries = name === undefined ? [...registry.values()] : [registry.get(name)].filter((e) => e !== undefined);
  const lines = entries.map((e) => `  ${e.usage}`);
  if (name !== undefined) {
    return `Usage: jpm-sync ${name} [options]\n\n${lines.join('\n')}\n`;
  }
  return (
    `Usage: jpm-sync <command> [options]\n\nCommands:\n${lines.join('\n')}\n  help                                 This text\n\n` +
    `${EXIT_CODES_TEXT}\n`
  );
}

/**
 * Text that came from outside (a name set through the API, a bank's text) as a terminal shows it: a control character
 * (an escape sequence, a line break) is written escaped, so it cannot forge lines or drive the operator's terminal.
 */
export function terminalText(text: string): string {
  return text.replace(/[\p{Cc}\u2028\u2029]/gu, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}
