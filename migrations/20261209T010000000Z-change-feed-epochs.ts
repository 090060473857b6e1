import { sql, type Kysely } from 'kysely';

/**
 * `change_feed_epochs`: every epoch the change feed has had. A reset used to add one to a counter, so restoring an
 * older dump rolled the counter back and the next reset issued again an epoch number that cursors from before the
 * restore carry: such a cursor read on and skipped or repeated events. New epochs are random (see resetChangeFeed),
 * so none is ever issued twice, and the feed tells an older epoch it issued (410) from one it never had (400) by this
 * table. The counter epochs of the feed so far, 1 up to the current one, were all issued: they are recorded here, so
 * the cursors clients hold keep their meaning (the current epoch's read on).
 *
 * `change_feed_state.epoch` becomes bigint (random epochs are below 2^53, exact as JSON numbers) and must be a
 * recorded epoch.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table change_feed_epochs (
      epoch bigint primary key check (epoch > 0 and epoch <= 9007199254740991),
      started_at timestamptz
    )`.execute(db);
  await sql`insert into change_feed_epochs (epoch, started_at)
      select n, case when n = f.epoch then f.reset_at end from change_feed_state f, generate_series(1, f.epoch) n`.execute(
    db,
  );
  await sql`alter table change_feed_state alter column epoch drop default, alter column epoch type bigint`.execute(db);
  await sql`alter table change_feed_state add constraint change_feed_state_epoch_fkey
      foreign key (epoch) references change_feed_epochs (epoch)`.execute(db);
}

/**
 * Back to the counter: a random current epoch becomes one above every counter epoch the feed had, so the counter
 * never reissues one; cursors of the random epoch are then refused (400) and their consumers resync.
 */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table change_feed_state drop constraint change_feed_state_epoch_fkey`.execute(db);
  await sql`update change_feed_state set epoch = (select max(epoch) + 1 from change_feed_epochs where epoch < 2147483647)
      where epoch >= 2147483647`.execute(db);
  await sql`alter table change_feed_state alter column epoch type integer, alter column epoch set default 1`.execute(
    db,
  );
  await db.schema.dropTable('change_feed_epochs').execute();
}
