/**
 * Benchmark 7, for context: the same backfill written the way many importers do it, one
 * `INSERT … ON CONFLICT DO NOTHING` per transaction in autocommit, on the same client (mTLS,
 * parsing, normalization) against the same pre-rendered simulator, four accounts at a time like the
 * worker. It writes only the transaction rows (no change events, balances or run bookkeeping), so
 * it does less than the pipeline: the ratio flatters it.
 */
import { sql } from 'kysely';
import pg from 'pg';
import { JpmClient } from '../src/jpm/client.ts';
import { OccurrenceCounter } from '../src/normalization/identity.ts';
import { normalizeTransactions } from '../src/normalization/transactions.ts';
import { planRun } from '../src/scheduler/index.ts';
import { uuidv7 } from '../src/shared/ids.ts';
import { bankClientOf } from '../src/sync/jpm-bank.ts';
import { startResult, type RunContext } from './lib/context.ts';
import { createBenchDb, round, type BenchResult } from './lib/env.ts';
import { BANK_ID, seedTenancy } from './lib/pipeline.ts';

const PARALLEL = 4;

const INSERT = `insert into transactions (id, organization_id, account_id, status, direction, amount_minor, currency, decimal_location,
  booking_date, value_date, bai_type_code, bai_summary_code, bank_reference, customer_reference, description,
  jpm_transaction_id, post_code, fingerprint_key, content_hash, raw)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
  on conflict (account_id, post_code, jpm_transaction_id) where jpm_transaction_id <> ''
    and btrim(jpm_transaction_id, ' ') <> '' and char_length(jpm_transaction_id) <= 200
  do nothing`;

export async function runNaive(ctx: RunContext): Promise<BenchResult> {
  const finish = startResult(ctx, 'naive', 'Naive baseline: one INSERT per transaction');
  const ds = ctx.dataset;
  const bank = await ctx.bank();
  const bdb = await createBenchDb('naive', 2);
  try {
    const { organizationId, accounts } = await seedTenancy(bdb.db, bank);
    const subset = accounts.slice(0, PARALLEL);
    const credential = {
      id: 'bench-cert',
      certPem: bank.sim.info.certPem,
      keyPem: bank.sim.info.keyPem,
      caPem: bank.sim.info.caCertPem,
    };
    const client = new JpmClient({ baseUrl: bank.sim.info.url, credentials: () => Promise.resolve(credential) });
    const jpm = bankClientOf(client);
    const pool = new pg.Pool({ connectionString: bdb.url, max: PARALLEL, application_name: 'jpm-sync-bench-naive' });
    const windows = planRun({ mode: 'range', from: ds.from, to: ds.to }, ds.today, 5).windows.filter((w) =>
      w.kinds.includes('transactions'),
    );
    await sql`checkpoint`.execute(bdb.db);
    let rows = 0;
    let seconds: number;
    // A failing account stops the others, and the pool and client close before the database is dropped (a pool
    // client still checked out when its database is dropped would crash the process instead of reporting).
    let failed = false;
    const started = performance.now();
    try {
      await Promise.all(
        subset.map(async (account) => {
          const conn = await pool.connect();
          try {
            for (const w of windows) {
              if (failed) {
                return;
              }
              const occurrences = new OccurrenceCounter();
              let walk: number | undefined;
              for await (const page of jpm.transactionPages({
                startDate: w.from ?? w.shownFrom,
                endDate: w.to ?? w.shownTo,
                accounts: [{ accountId: account.jpmAccountId, bankId: BANK_ID }],
              })) {
                if (page.walk !== walk) {
                  occurrences.reset();
                  walk = page.walk;
                }
                for (const t of normalizeTransactions(page.records, occurrences).records) {
                  await conn.query(INSERT, [
                    uuidv7(),
                    organizationId,
                    account.id,
                    t.status,
                    t.direction,
                    t.amountMinor.toString(),
                    t.currency,
                    t.decimalLocation,
                    t.bookingDate,
                    t.valueDate,
                    t.baiTypeCode,
                    t.baiSummaryCode,
                    t.bankReference,
                    t.customerReference,
                    t.description,
                    t.jpmTransactionId,
                    t.recordClass,
                    t.fingerprintKey,
                    t.contentHash,
                    JSON.stringify(t.raw),
                  ]);
                  rows++;
                }
              }
            }
          } catch (err) {
            failed = true;
            throw err;
          } finally {
            conn.release();
          }
        }),
      );
      seconds = (performance.now() - started) / 1000;
    } finally {
      await pool.end();
      await client.close();
    }
    const rate = rows / seconds;
    const pipelineRate = ctx.pipelineTxPerSecond;
    return finish({
      parameters: { accounts: subset.length, parallel: PARALLEL, range: `${ds.from}..${ds.to}` },
      figures: {
        transactions: rows,
        seconds: round(seconds, 1),
        txPerSecond: round(rate),
        pipelineTxPerSecond: pipelineRate ?? null,
        pipelineSpeedup: pipelineRate ? round(pipelineRate / rate, 2) : null,
      },
      targets: [],
      notes: [
        `The first ${subset.length} of the ${ds.accounts} accounts (one per connection), so the naive run stays within minutes; the rate is per row either way.`,
        pipelineRate
          ? 'pipelineSpeedup: end-to-end transactions/s of the backfill benchmark in the same run, divided by this rate.'
          : 'Run together with the backfill benchmark for the ratio.',
      ],
    });
  } finally {
    await bdb.drop();
  }
}
