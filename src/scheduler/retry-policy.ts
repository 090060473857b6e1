import type { MinimalJob } from 'bullmq';
import { isAppError } from '../shared/errors.ts';
import { BANK_BACKOFF } from './jobs.ts';

/**
 * How the scheduler sorts a failure (STYLE §6): BullMQ owns retries, so a handler either rethrows
 * (retryable: timeouts, resets, 429, 5xx: the job comes back after a backoff) or, after recording
 * the run and marking what is broken, throws UnrecoverableError (permanent: retrying cannot help).
 */
export type Failure =
  | { kind: 'retryable'; code: string; message: string; bank: boolean; retryAfterMs?: number }
  | { kind: 'permanent'; code: string; message: string; scope: PermanentScope };

/**
 * What a permanent failure says is broken: the integration (its certificate or credentials: every
 * account of it fails the same way), one account (not entitled, refused by the bank), or only this
 * run (a malformed request or response: a bug to look at, not a state to record on the customer).
 */
export type PermanentScope = 'integration' | 'account' | 'run';

const INTEGRATION_CODES = new Set([
  'jpm_certificate_refused',
  'jpm_tls_failed',
  'jpm_credential_invalid',
  'certificate_expired',
]);
const ACCOUNT_CODES = new Set(['jpm_not_entitled', 'jpm_account_error']);
/** Retryable codes that are not the bank failing (our own shutdown); they do not count against the circuit. */
const NOT_BANK_FAILURES = new Set(['jpm_aborted', 'jpm_client_closed', 'jpm_rate_limited']);

/** The longest a bank's `Retry-After` is honoured (the job's wait and the integration's block). */
const MAX_RETRY_AFTER_MS = 60 * 60_000;

export function classifyFailure(err: unknown): Failure {
  if (!isAppError(err)) {
    // Not one of ours (a bug, a dropped database connection): retry; the attempts bound it.
    return {
      kind: 'retryable',
      code: 'internal_error',
      message: err instanceof Error ? err.message : String(err),
      bank: false,
    };
  }
  if (err.retryable) {
    const retryAfterMs = (err as { retryAfterMs?: unknown }).retryAfterMs;
    return {
      kind: 'retryable',
      code: err.code,
      message: err.message,
      bank: err.code.startsWith('jpm_') && !NOT_BANK_FAILURES.has(err.code),
      // Bounded here, so the job's backoff and the integration's block in Redis (integration-guard.ts) agree: a bank
      // or gateway asking for a year (or a wrong clock in an HTTP date) waits an hour, then asks again.
      ...(typeof retryAfterMs === 'number' && retryAfterMs > 0
        ? { retryAfterMs: Math.min(retryAfterMs, MAX_RETRY_AFTER_MS) }
        : {}),
    };
  }
  const scope: PermanentScope =
    INTEGRATION_CODES.has(err.code) || err.code.startsWith('credential_') || err.code.startsWith('certificate_')
      ? 'integration'
      : ACCOUNT_CODES.has(err.code)
        ? 'account'
        : 'run';
  return { kind: 'permanent', code: err.code, message: err.message, scope };
}

const MAX_BACKOFF_MS = 15 * 60_000;
/** The `bank` backoff's base step when the job names none (the catalog gives `sync-window` 10 s). */
const DEFAULT_BACKOFF_BASE_MS = 10_000;

function backoffBaseMs(job: MinimalJob | undefined): number {
  const backoff = job?.opts.backoff;
  return typeof backoff === 'object' && backoff.delay ? backoff.delay : DEFAULT_BACKOFF_BASE_MS;
}

/**
 * How long a retryable failure blocks the whole integration (integration-guard.ts), if at all: until the bank's
 * `Retry-After`; for a 429 without one, the job's first backoff (its base step, the longest its own first wait can
 * be). The bank said "too many" for the certificate, not for this job: without the block, the integration's other
 * windows would walk into the same limit while this one waits. Another failure blocks nothing (5xx and timeouts
 * count against the circuit instead).
 */
export function integrationBlockMs(failure: Failure, job?: MinimalJob): number | undefined {
  if (failure.kind !== 'retryable') {
    return undefined;
  }
  if (failure.retryAfterMs !== undefined) {
    return failure.retryAfterMs;
  }
  return failure.code === 'jpm_rate_limited' ? backoffBaseMs(job) : undefined;
}

/**
 * The sync worker's custom backoff (`settings.backoffStrategy`, job option `backoff: { type: 'bank' }`).
 * A bank `Retry-After` is honoured as given (plus up to 10 % so waiting jobs do not return in one
 * burst). Otherwise exponential with "equal jitter": half the exponential step fixed, half random,
 * capped at 15 minutes, so retries spread out but never collapse to zero.
 */
export function bankBackoff(attemptsMade: number, type?: string, err?: Error, job?: MinimalJob): number {
  if (type !== BANK_BACKOFF) {
    throw new Error(`unknown backoff type ${String(type)}`);
  }
  const failure = classifyFailure(err);
  if (failure.kind === 'retryable' && failure.retryAfterMs !== undefined) {
    return Math.ceil(failure.retryAfterMs * (1 + Math.random() * 0.1));
  }
  const base = backoffBaseMs(job);
  const step = Math.min(MAX_BACKOFF_MS, base * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(step / 2 + Math.random() * (step / 2));
}
