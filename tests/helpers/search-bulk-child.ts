/**
 * The search step's bulk catch-up in a process of its own, for the crash test (tests/integration/search-bulk.test.ts):
 * it runs runSearchBulk against the parent's database with small fill chunks and a pause after each chunk's copy
 * (inside the chunk's transaction), so the parent can SIGKILL it mid-fill. Settings come in SEARCH_BULK_CHILD
 * (JSON). No vitest imports: it runs outside vitest.
 */
import { RawNode, type KyselyPlugin } from 'kysely';
import { runSearchBulk } from '../../src/events/search-bulk.ts';
import { initLogger } from '../../src/shared/logger.ts';
import { createDb } from '../../src/storage/db.ts';

const cfg = JSON.parse(process.env.SEARCH_BULK_CHILD ?? '{}') as { dbUrl: string; chunkRows: number; pauseMs: number };
initLogger({ level: 'silent', format: 'json' });
const chunkCopies = new WeakSet<object>();
const plugin: KyselyPlugin = {
  transformQuery({ node, queryId }) {
    if (RawNode.is(node) && /insert into transaction_search_rebuild/.test(node.sqlFragments.join('?'))) {
      chunkCopies.add(queryId);
    }
    return node;
  },
  async transformResult({ queryId, result }) {
    if (chunkCopies.has(queryId)) {
      await new Promise((r) => setTimeout(r, cfg.pauseMs));
    }
    return result;
  },
};
const db = createDb({ url: cfg.dbUrl, poolMax: 2 }).withPlugin(plugin);
const r = await runSearchBulk(db, { thresholdEvents: 1, chunkRows: cfg.chunkRows });
console.log(JSON.stringify(r));
await db.destroy();
