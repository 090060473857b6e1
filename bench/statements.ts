/**
 * Statement-file import throughput: the benchmark dataset's simulated ledger rendered as one BAI2 file
 * per account (every business day of the range, as a customer downloads prior-day files from J.P. Morgan
 * Access), imported one file after another through the path `jpm-sync import` takes (the file streamed into
 * the parser, then the source port's ingestion), against the same COPY baseline as the backfill: the very
 * rows the import stored, COPY'd into a copy of the transactions table and into the bare table. Then every
 * file is imported again and pg_stat_user_tables says what that wrote.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { importStatementFile } from '../src/main/statement-import.ts';
import { uuidv7 } from '../src/shared/ids.ts';
import { addDays } from '../src/shared/time.ts';
import { buildAccounts } from '../src/simulator/accounts.ts';
import { BankCalendar } from '../src/simulator/calendar.ts';
import { Ledger } from '../src/simulator/ledger.ts';
import { resolveQuirks } from '../src/simulator/quirks.ts';
import { renderBai2 } from '../src/simulator/statements.ts';
import { createDb, type Database } from '../src/storage/db.ts';
import { startResult, type RunContext } from './lib/context.ts';
import { copyBaseline } from './lib/copy.ts';
import {
  createBenchDb,
  postgresCpu,
  postgresCpuBetween,
  round,
  SEED,
  sleep,
  tableStats,
  tableStatsDelta,
  target,
  type BenchResult,
} from './lib/env.ts';
import { BANK_ID } from './lib/pipeline.ts';

interface StatementFile {
  accountId: string;
  path: string;
  bytes: number;
}

/** Every file imported in turn, as `jpm-sync import FILE --account ID` does (the file streamed into the parser). */
async function importAll(db: Database, files: readonly StatementFile[]) {
  const counts = { records: 0, inserted: 0, updated: 0, unchanged: 0, rejected: 0, balances: 0, failed: 0 };
  const started = performance.now();
  for (const f of files) {
    const result = await importStatementFile(db, {
      accountId: f.accountId,
      trigger: 'manual',
      text: async (onText) => {
        for await (const chunk of createReadStream(f.path, { encoding: 'utf8' })) {
          onText(chunk as string);
        }
      },
    });
    counts.records += result.counts.fetched;
    counts.inserted += result.counts.inserted;
    counts.updated += result.counts.updated;
    counts.unchanged += result.counts.unchanged;
    counts.rejected += result.counts.rejected;
    counts.balances += result.counts.balances;
    counts.failed += result.status === 'succeeded' ? 0 : 1;
  }
  return { ...counts, seconds: (performance.now() - started) / 1000 };
}

export async function runStatements(ctx: RunContext): Promise<BenchResult> {
  const finish = startResult(ctx, 'statements', 'BAI2 statement import against COPY of the same rows');
  const ds = ctx.dataset;
  // The same ledger the benchmark's simulator serves (its seed, accounts, days and volume).
  const ledger = new Ledger({
    seed: SEED,
    accounts: buildAccounts(SEED, ds.accounts),
    firstDate: addDays(ds.today, -ds.historyDays),
    txPerDay: ds.txPerDay,
    quirks: resolveQuirks(undefined),
    calendar: new BankCalendar([]),
  });
  const clock = { today: ds.today, progress: 0.5 };
  const dir = await mkdtemp(join(tmpdir(), 'jpm-sync-bench-statements-'));
  const bdb = await createBenchDb('statements', 2);
  try {
    const organizationId = uuidv7();
    const integrationId = uuidv7();
    await bdb.db.insertInto('organizations').values({ id: organizationId, name: 'Bench Treasury' }).execute();
    await bdb.db
      .insertInto('integrations')
      .values({
        id: integrationId,
        organization_id: organizationId,
        name: 'Bench statement files',
        environment: 'simulator',
        base_url: 'https://127.0.0.1:1',
        stage: 'validating',
      })
      .execute();
    const files: StatementFile[] = [];
    for (const a of ledger.accounts) {
      const id = uuidv7();
      await bdb.db
        .insertInto('bank_accounts')
        .values({
          id,
          organization_id: organizationId,
          integration_id: integrationId,
          jpm_account_id: a.accountId,
          bank_id: BANK_ID,
          currency: a.currency.code,
          decimal_location: a.currency.decimalLocation,
          time_zone: 'America/New_York',
        })
        .execute();
      const path = join(dir, `${a.accountId}.bai2`);
      await writeFile(path, renderBai2(ledger, { accountIds: [a.accountId], from: ds.from, to: ds.to, clock }));
      files.push({ accountId: id, path, bytes: (await stat(path)).size });
    }
    const fileBytes = files.reduce((s, f) => s + f.bytes, 0);
    console.log(`statements: ${files.length} BAI2 files, ${round(fileBytes / 1e6, 1)} MB, ${ds.from}..${ds.to}`);

    await sql`checkpoint`.execute(bdb.db);
    const pg0 = await postgresCpu(bdb.name);
    const cpu0 = process.cpuUsage();
    const first = await importAll(bdb.db, files);
    const cpu = process.cpuUsage(cpu0);
    const pgCpu = postgresCpuBetween(pg0, await postgresCpu(bdb.name));
    const rate = first.inserted / first.seconds;
    console.log(
      `statements: ${first.inserted} transactions in ${round(first.seconds, 1)} s = ${round(rate)} records/s; COPY baselines next`,
    );

    const copy = await copyBaseline(bdb.url, dir);
    // Autovacuum is off on this machine: analyze and set the visibility map, as autovacuum would after a bulk load.
    await sql`vacuum (analyze)`.execute(bdb.db);

    // Re-import on a pool of its own, closed before the counters are read (backends flush them on exit).
    const before = await tableStats(bdb.url);
    const again = createDb({ url: bdb.url, poolMax: 2, applicationName: 'jpm-sync-bench-statements-again' });
    let second: Awaited<ReturnType<typeof importAll>>;
    try {
      second = await importAll(again, files);
    } finally {
      await again.destroy();
    }
    await sleep(1_500);
    const after = await tableStats(bdb.url);
    const delta = tableStatsDelta(before, after);
    const dataWrites = Object.entries(delta)
      .filter(([t]) => t !== 'sync_runs')
      .reduce((s, [, d]) => s + d.ins + d.upd + d.del, 0);
    const ratioBare = round(rate / copy.bare.rowsPerSecond, 3);
    const ratioIndexed = round(rate / copy.indexed.rowsPerSecond, 3);
    return finish({
      parameters: {
        accounts: files.length,
        txPerBusinessDay: ds.txPerDay,
        calendarDays: ds.historyDays,
        range: `${ds.from}..${ds.to}`,
        seed: SEED,
        files: files.length,
        fileBytes,
        importedOneAfterAnother: true,
      },
      figures: {
        records: first.records,
        inserted: first.inserted,
        rejected: first.rejected,
        balances: first.balances,
        failedRuns: first.failed,
        seconds: round(first.seconds, 1),
        recordsPerSecond: round(rate),
        megabytesPerSecond: round(fileBytes / 1e6 / first.seconds, 2),
        copy: copy.indexed,
        bareCopy: copy.bare,
        ratioToCopy: ratioIndexed,
        ratioToBareCopy: ratioBare,
        cpuPerRow: {
          importProcessMicroseconds: round((cpu.user + cpu.system) / first.inserted, 1),
          postgresMicroseconds: round((pgCpu * 1e6) / first.inserted, 1),
          bareCopyBackendMicroseconds: copy.bare.backendCpuMicrosecondsPerRow,
        },
        reimport: {
          seconds: round(second.seconds, 1),
          recordsPerSecond: round(second.records / second.seconds),
          inserted: second.inserted,
          updated: second.updated,
          unchanged: second.unchanged,
          balances: second.balances,
          rowChangesByTable: delta,
        },
      },
      targets: [
        target('records stored / records in the files', first.inserted, '==', first.records),
        target('failed or partial imports', first.failed, '==', 0),
        target('re-import: row changes other than its own sync runs', dataWrites, '==', 0),
        target('re-import: sync runs recorded', delta.sync_runs?.ins ?? 0, '==', files.length),
      ],
      notes: [
        'One BAI2 file per account over the whole range, rendered from the simulator ledger the backfill reads (not timed); imported one after another, each streamed from disk into the parser as `jpm-sync import` does, then stored page by page with change events, day tallies, balances and proofs.',
        'COPY: the rows the import stored (COPY TO a file, then COPY FROM STDIN) into a table LIKE transactions INCLUDING ALL plus its foreign keys; bare COPY: the same file into a table with only the primary key and the identity key (bench/lib/copy.ts, as for the backfill).',
        'cpuPerRow: CPU of this process (parsing and the import path) and of the database backends alive at the end, per stored record; the bare COPY backend CPU per row for comparison.',
        'Re-import: pg_stat_user_tables deltas read after the re-import pool closed; each import records its own sync run, nothing else may change.',
      ],
    });
  } finally {
    await bdb.drop();
    await rm(dir, { recursive: true, force: true });
  }
}
