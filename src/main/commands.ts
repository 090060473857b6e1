/**
 * The CLI's command registry. Each `cli-<name>.ts` module registers its commands at import time;
 * `cli.ts` imports them all and dispatches. Exit codes: 0 ok, 1 failed, 2 bad usage or config.
 */
export type Command = (argv: string[]) => Promise<number>;

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
  return `Usage: jpm-sync <command> [options]\n\nCommands:\n${lines.join('\n')}\n  help                                 This text\n`;
}

/**
 * Text that came from outside (a name set through the API, a bank's text) as a terminal shows it: a control character
 * (an escape sequence, a line break) is written escaped, so it cannot forge lines or drive the operator's terminal.
 */
export function terminalText(text: string): string {
  return text.replace(/[\p{Cc}\u2028\u2029]/gu, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}
