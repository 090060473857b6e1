/**
 * CPU time of one 1000-record page of the backfill's ledger through the worker's per-record code:
 * lossless parse → wire-schema validation → normalization → identity plan → insert document. Not part
 * of `npm run bench`: a quick, repeatable figure for profiling (`node bench/lib/page-cpu.ts [rounds]`,
 * `node --cpu-prof bench/lib/page-cpu.ts` for a profile). Prints µs of CPU per record for each step
 * (median of the rounds) and the load average. The page is the simulator's, same seed as the backfill.
 */
import { loadavg } from 'node:os';
import { parseEnvelope, parseTransactionRecords } from '../../src/jpm/records.ts';
import { transactionsV3EnvelopeSchema } from '../../src/jpm/wire.schemas.ts';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import { parseJsonLossless } from '../../src/shared/json.ts';
import { addDays } from '../../src/shared/time.ts';
import { buildAccounts } from '../../src/simulator/accounts.ts';
import { handleTransactions } from '../../src/simulator/bank.ts';
import { BankCalendar } from '../../src/simulator/calendar.ts';
import { Ledger } from '../../src/simulator/ledger.ts';
import { resolveQuirks } from '../../src/simulator/quirks.ts';
import { rowsJsonText } from '../../src/storage/transactions.repo.ts';
import { planPage } from '../../src/sync/ingest.ts';
import { SEED } from './env.ts';

const TODAY = '2026-11-25';
const rounds = Number(process.argv[2] ?? 40);
const ledger = new Ledger({
  seed: SEED,
  accounts: buildAccounts(SEED, 20),
  firstDate: addDays(TODAY, -175),
  txPerDay: 400,
  quirks: resolveQuirks(undefined),
  calendar: new BankCalendar([]),
});
const accountId = ledger.accounts[0]?.accountId ?? '';
const params = new URLSearchParams({
  accountIds: accountId,
  startDate: addDays(TODAY, -30),
  endDate: addDays(TODAY, -26),
  pageNumber: '1',
});
const body = handleTransactions(ledger, { today: TODAY, progress: 0.5 }, params, 'v3').response.body;
const account = { id: '0190f3a0-0000-7000-8000-000000000001', organizationId: '0190f3a0-0000-7000-8000-000000000002' };

const samples: Record<'parse' | 'validate' | 'normalize' | 'plan' | 'document' | 'total', number[]> = {
  parse: [],
  validate: [],
  normalize: [],
  plan: [],
  document: [],
  total: [],
};
let n = 0;
let sink = 0;
const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
for (let round = 0; round < rounds; round++) {
  const t0 = cpu();
  const parsed = parseJsonLossless(body);
  const t1 = cpu();
  const envelope = parseEnvelope(transactionsV3EnvelopeSchema, parsed, 'transactions page', { endpoint: 'bench' });
  const { records } = parseTransactionRecords(envelope.data);
  const t2 = cpu();
  const page = normalizeTransactions(records, new OccurrenceCounter(), 0, { requested: 'history' });
  const t3 = cpu();
  const plan = planPage(account, page.records, [], null);
  const t4 = cpu();
  const text = rowsJsonText(plan.inserts);
  const t5 = cpu();
  sink += text.length;
  n = records.length;
  if (round >= 5) {
    const per = (a: number, b: number) => (b - a) / n;
    samples.parse.push(per(t0, t1));
    samples.validate.push(per(t1, t2));
    samples.normalize.push(per(t2, t3));
    samples.plan.push(per(t3, t4));
    samples.document.push(per(t4, t5));
    samples.total.push(per(t0, t5));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
console.log(
  `${n} records a page (${(body.length / n).toFixed(0)} B each), ${rounds - 5} rounds, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(
  Object.entries(samples)
    .map(([k, v]) => `${k} ${median(v).toFixed(1)} µs`)
    .join(', '),
  sink > 0 ? '' : '!',
);
