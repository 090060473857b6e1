import { sql } from 'kysely';
import type { Executor } from './db.ts';

/**
 * Runs `fn` in a transaction with these planner settings (in a caller's transaction they hold until it ends). The
 * BEGIN and the settings go in one message (a statement without parameters is sent as a simple query, which may
 * hold several), so a pinned page costs three round trips, not four (BEGIN, the settings, the page, COMMIT).
 */
export async function withPlannerSettings<T>(
  ex: Executor,
  settings: Record<string, 'off'>,
  fn: (trx: Executor) => Promise<T>,
): Promise<T> {
  const set = Object.entries(settings)
    .map(([name, value]) => {
      if (!/^[a-z_]+$/.test(name)) {
        throw new Error(`not a planner setting: ${name}`);
      }
      return `set local ${name} = ${value}`;
    })
    .join('; ');
  if (ex.isTransaction) {
    await sql`${sql.raw(set)}`.execute(ex);
    return fn(ex);
  }
  return ex.connection().execute(async (conn) => {
    try {
      // Inside the try, BEGIN to COMMIT: a message that fails (a cancel, say) leaves the transaction open and
      // aborted, and the connection would go back to the pool in it.
      await sql`${sql.raw(`begin; ${set}`)}`.execute(conn);
      const out = await fn(conn);
      await sql`commit`.execute(conn);
      return out;
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    }
  });
}
