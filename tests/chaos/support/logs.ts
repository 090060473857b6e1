import { captureLogLines } from '../../helpers/log-capture.ts';

/**
 * Captured output and the secret scan. Every chaos file captures this process's pino lines (and its
 * child workers' stdout); every line, and every API response body the file saw, is searched for API
 * keys, PEM blocks, private keys and full account numbers. The scrubber in src/shared/logger.ts is
 * what should make this find nothing; this is the independent check.
 */
export function captureLogs(level = 'debug'): string[] {
  return captureLogLines(level);
}

export interface LeakScanOptions {
  /** Full account numbers known to the test (J.P. Morgan account ids). */
  accountNumbers?: readonly string[];
  /** Exact secrets known to the test (API keys issued, webhook secrets, master keys). */
  secrets?: readonly string[];
  /** Text the test itself sent (echoed back in a validation message, it is not a leak). */
  sent?: (match: string) => boolean;
}

const PATTERNS: { name: string; re: RegExp }[] = [
  { name: 'api key', re: /jpms_[a-z0-9]{8}_[A-Za-z0-9]{40}/g },
  { name: 'PEM block', re: /-----BEGIN [A-Z0-9 ]+-----/g },
  { name: 'private key', re: /PRIVATE KEY/g },
  // J.P. Morgan account numbers are 15 digits, zero-padded (amounts in minor units can be 15 digits too, never zero-padded).
  { name: '15-digit account number', re: /(?<![\d.])0\d{14}(?![\d.])/g },
];

/** Findings in `texts`: `<kind>: <excerpt>` for each (excerpts never contain the secret itself). */
export function findLeaks(texts: Iterable<string>, opts: LeakScanOptions = {}): string[] {
  const found: string[] = [];
  const exact = [
    ...(opts.accountNumbers ?? []).map((s) => ({ name: 'account number', s })),
    ...(opts.secrets ?? []).filter((s) => s.length >= 8).map((s) => ({ name: 'known secret', s })),
  ];
  for (const text of texts) {
    for (const { name, re } of PATTERNS) {
      for (const m of text.matchAll(re)) {
        if (!opts.sent?.(m[0])) {
          found.push(`${name} at …${text.slice(Math.max(0, (m.index ?? 0) - 40), m.index).replace(/\s+/g, ' ')}`);
        }
      }
    }
    for (const { name, s } of exact) {
      const at = text.indexOf(s);
      if (at >= 0 && !opts.sent?.(s)) {
        found.push(`${name} at …${text.slice(Math.max(0, at - 40), at).replace(/\s+/g, ' ')}`);
      }
    }
  }
  return found;
}

/** Deadlocks (SQLSTATE 40P01) and leaks in log lines. */
export function scanLogs(lines: readonly string[], opts: LeakScanOptions = {}): { deadlocks: number; leaks: string[] } {
  return {
    deadlocks: lines.filter((l) => l.includes('40P01') || /deadlock detected/i.test(l)).length,
    leaks: findLeaks(lines, opts),
  };
}
