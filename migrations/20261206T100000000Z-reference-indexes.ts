import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * `reference=` (the bank reference or the customer reference equals the text), for one organization or for all of
 * them. The read side (src/storage/read.repo.ts) reads one scan per reference column and merges them in page order
 * (booking date, id); an organization's key adds `organization_id = $org`. The organization-led indexes these replace
 * had no index condition for a key of every organization (1.8 s a page on 1.6M rows).
 *
 * - `(bank_reference, organization_id, booking_date, id)`: for an organization's key (the customers' path) one range,
 *   that organization's rows of the reference, already in page order (the keyset cursor an index condition): a page
 *   reads a page, and camt detail rows sharing their entry's bank reference are no longer all sorted for each page;
 *   other organizations' rows of the same reference are never read. For a key of every organization the range is
 *   the reference's rows, sorted: a bank reference is the bank's, shared only by one entry's detail rows.
 * - `(organization_id, customer_reference, booking_date, id)` and `(customer_reference, booking_date, id)`: customer
 *   references are the customers' own text and can be shared by many rows ("NEW", a fifth of the benchmark's) in any
 *   organization, so each kind of key has the index it reads exactly in page order. With the organization last (as
 *   first written), an organization's key read every organization's entries of the reference: a reference rare in one
 *   organization but common in another made the first one's pages slow.
 *
 * What they cost ingestion (COPY of 50,000 backfilled rows, the COPY backend's CPU, median of five pairs against the
 * bare table run just before, load 2.5-6.5): the two indexes as first written +5.4 µs a row, these three +11.6, an
 * organization-led and a reference-led index for each column +15.2 (bare 77 µs a row; 7.0, 11.4 and 15.4 MB). The
 * bank reference's second index is not worth 3-4 µs a row: it would only spare a key of every organization the sort
 * of one entry's rows.
 *
 * Same partial predicate as before (empty and over-long references are not indexed). Without a transaction
 * (`transactional = false`): each index is built CONCURRENTLY (reads and writes of `transactions` go on; minutes at
 * 10M rows) and the old ones are dropped CONCURRENTLY; every step can be run again after a stop anywhere (an
 * interrupted build's INVALID index is dropped and built again).
 */
export const transactional = false;

const BANK = sql`where bank_reference <> '' and char_length(bank_reference) <= 200`;
const CUSTOMER = sql`where customer_reference <> '' and char_length(customer_reference) <= 200`;

/**
 * None: a concurrent build's or drop's waits (for the table's lock and for older transactions, such as a pg_dump or a
 * long report) never block reads or writes, and a timeout would leave an INVALID index after minutes of work.
 */
const LOCK_TIMEOUT = '0';

async function build(db: Kysely<any>, name: string, definition: ReturnType<typeof sql>): Promise<void> {
  await dropInvalidIndex(db, name);
  await sql`create index concurrently if not exists ${sql.id(name)} on transactions ${definition}`.execute(db);
}

async function drop(db: Kysely<any>, name: string): Promise<void> {
  await sql`drop index concurrently if exists ${sql.id(name)}`.execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await build(
      db,
      'transactions_by_bank_reference_idx',
      sql`(bank_reference, organization_id, booking_date, id) ${BANK}`,
    );
    await build(
      db,
      'transactions_by_org_customer_reference_idx',
      sql`(organization_id, customer_reference, booking_date, id) ${CUSTOMER}`,
    );
    await build(db, 'transactions_by_customer_reference_idx', sql`(customer_reference, booking_date, id) ${CUSTOMER}`);
    await drop(db, 'transactions_org_bank_reference_idx');
    await drop(db, 'transactions_org_customer_reference_idx');
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await build(db, 'transactions_org_bank_reference_idx', sql`(organization_id, bank_reference) ${BANK}`);
    await build(db, 'transactions_org_customer_reference_idx', sql`(organization_id, customer_reference) ${CUSTOMER}`);
    await drop(db, 'transactions_by_customer_reference_idx');
    await drop(db, 'transactions_by_org_customer_reference_idx');
    await drop(db, 'transactions_by_bank_reference_idx');
  });
}
