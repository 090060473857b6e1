import { AppError } from '../shared/errors.ts';
import type { Executor } from '../storage/db.ts';

/**
 * What lets a window write: its account's sync lock (scheduler/single-flight.ts), asked inside each write transaction
 * of the window once the account's write lock is had. A writer that lost the sync lock (its session ended while it
 * was frozen, and another worker took the lock and synced the account with the bank's newer answers) is refused
 * there, before it writes anything older over the new holder's rows; no other writer of the account can act between
 * the check and the commit (they wait for the write lock).
 */
export interface WriteFence {
  /** Throws `AccountLockLost` when the lock is no longer held. */
  assertHeld(ex: Executor): Promise<void>;
}

/** The window's account lock was lost while it ran; nothing more is written, and the window is run again. */
export class AccountLockLost extends AppError {
  constructor(accountId: string) {
    super(`the sync lock of account ${accountId} was lost while the window ran (another worker may hold it)`, {
      code: 'account_lock_lost',
      retryable: true,
      httpStatus: 503,
    });
  }
}
