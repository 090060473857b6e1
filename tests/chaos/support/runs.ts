import { expect } from 'vitest';
import type { Database } from '../../../src/storage/db.ts';
import type { Chaos } from './chaos.ts';
import { unfinishedRuns } from './truth.ts';

/** Waits until no parent run is queued or running; whatever is still unfinished at the deadline counts as stuck. */
export async function waitForAllRuns(db: Database, c: Chaos, timeout: number): Promise<void> {
  const count = async () => {
    try {
      return (await unfinishedRuns(db)).length;
    } catch {
      return -1; // a connection of ours may have been a chaos victim; ask again
    }
  };
  try {
    await expect.poll(count, { timeout, interval: 250 }).toBe(0);
  } finally {
    c.count('stuckRuns', Math.max(0, await count()));
  }
}
