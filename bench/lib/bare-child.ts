/**
 * The bare baseline for the read API: node:http and a pg pool running the same SQL text as
 * `listTransactions` (compiled from the same query builder, so it cannot drift), with the keyset
 * position in the URL (`?after=<booking_date>_<id>`), rows sent as JSON. No framework, no auth, no
 * validation, no logging: what the database and the runtime can do on this machine.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { createDb } from '../../src/storage/db.ts';
import { compileListTransactions } from '../../src/storage/read.repo.ts';

const cfg = JSON.parse(process.env.BENCH_BARE ?? '{}') as { dbUrl: string; poolMax: number; limit: number };
const pool = new pg.Pool({ connectionString: cfg.dbUrl, max: cfg.poolMax, application_name: 'jpm-sync-bench-bare' });
// Only used to compile the SQL; never connects.
const compiler = createDb({ url: cfg.dbUrl, poolMax: 1 });
const first = compileListTransactions(compiler, {}, { sort: '-bookingDate', limit: cfg.limit });
const next = compileListTransactions(
  compiler,
  {},
  {
    sort: '-bookingDate',
    after: { bookingDate: '2000-01-01', id: '00000000-0000-0000-0000-000000000000' },
    limit: cfg.limit,
  },
);

const server = createServer((req, res) => {
  const after = new URL(req.url ?? '/', 'http://bare').searchParams.get('after');
  const [date, id] = after ? after.split('_') : [];
  const query =
    date && id
      ? {
          text: next.sql,
          values: next.parameters.map((p) =>
            p === '2000-01-01' ? date : p === '00000000-0000-0000-0000-000000000000' ? id : p,
          ),
        }
      : { text: first.sql, values: [...first.parameters] };
  pool.query(query).then(
    (r) => {
      const rows = r.rows.slice(0, cfg.limit) as { booking_date: string; id: string; narrative: unknown }[];
      // The query reads the narrative as JSON text (the API parses it once, not through pg's jsonb parser):
      // parsed here too, so the baseline sends the same JSON shape as the API and does the same work for it.
      for (const row of rows) {
        row.narrative = typeof row.narrative === 'string' ? JSON.parse(row.narrative) : row.narrative;
      }
      const last = rows[rows.length - 1];
      const body = JSON.stringify({
        data: rows,
        next: r.rows.length > cfg.limit && last ? `${last.booking_date}_${last.id}` : null,
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    },
    () => {
      res.writeHead(500);
      res.end();
    },
  );
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port }));
const stop = () => {
  server.close();
  server.closeAllConnections();
  void Promise.all([pool.end(), compiler.destroy()]).finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('disconnect', stop);
