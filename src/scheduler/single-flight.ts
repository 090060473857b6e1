import type pg from 'pg';
import type { Logger } from '../shared/logger.ts';
import {
  createLockPool,
  holdsAccountSync,
  lockSessionOf,
  tryLockAccountSync,
  unlockAccountSync,
  type LockSession,
} from '../storage/advisory-locks.repo.ts';
import { AccountLockLost, type WriteFence } from '../sync/write-fence.ts';
import type { DbOptions } from '../storage/db.ts';

/**
 * At most one sync per account at a time, across every worker and machine: a window job holds a
 * session-level Postgres advisory lock on the account for as long as it runs. The lock lives on a
 * dedicated connection taken from a small pool of its own (one per concurrent job), NOT on a
 * transaction: no transaction is ever held open across a bank call (STYLE §11), and page writes
 * use the main pool. Released in `finally`; if the process dies, Postgres ends the session and the
 * lock goes with it. Per-session TCP keepalives make the server notice a vanished machine within
 * about a minute instead of the OS default of hours (storage/advisory-locks.repo.ts).
 *
 * The lock can be lost while the job still runs: the server ends the session (a restart, or keepalives unanswered
 * while the machine was frozen) and another worker takes the lock. So the lock is also the window's write fence
 * (`WriteFence`): each write transaction of the window checks, under the account's write lock, that this session
 * still holds it, and a holder that lost it writes nothing more (its bank answers may be older than the new holder's).
 *
 * The key space (`account-sync:<id>`) is distinct from ingestion's per-transaction write lock
 * (`account-write:<id>`), which a page transaction of the lock holder takes on another connection.
 */
export interface AccountLock extends WriteFence {
  release(): Promise<void>;
}

export interface SingleFlight {
  /** The account's lock, or null when another job holds it (the caller delays its job). */
  tryAcquire(accountId: string): Promise<AccountLock | null>;
  /** Ends the pool; call after the workers have closed. */
  close(): Promise<void>;
}

export function createSingleFlight(db: DbOptions, size: number, logger: Logger): SingleFlight {
  const pool: pg.Pool = createLockPool(db, size);
  return {
    async tryAcquire(accountId) {
      const client = await pool.connect();
      let session: LockSession;
      try {
        if (!(await tryLockAccountSync(client, accountId))) {
          client.release();
          return null;
        }
        session = await lockSessionOf(client);
      } catch (err) {
        client.release(err instanceof Error ? err : true);
        throw err;
      }
      let released = false;
      return {
        async assertHeld(ex) {
          if (!(await holdsAccountSync(ex, session, accountId))) {
            throw new AccountLockLost(accountId);
          }
        },
        async release() {
          if (released) {
            return;
          }
          released = true;
          try {
            if (!(await unlockAccountSync(client, accountId))) {
              // The session was replaced under us (server restart): the lock was already gone.
              logger.warn({ accountId }, 'account lock was lost while the job ran');
            }
            client.release();
          } catch (err) {
            // Destroying the connection ends the session, which releases the lock server-side.
            client.release(err instanceof Error ? err : true);
            logger.warn({ err, accountId }, 'account lock release failed; connection dropped');
          }
        },
      };
    },
    close: () => pool.end(),
  };
}
