import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePgJson } from '../../src/shared/pg-text.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * A bank page whose strings hold control characters raw (the simulator's `raw-controls` fault: a literal TAB, line
 * break or NUL inside a narrative, as a gateway or legacy system writes it) is read with each character as itself,
 * over real mTLS: the records are stored, the bank's text exactly (NUL as U+0000 escapes it, src/shared/pg-text.ts),
 * each such string named in a data-quality note. The same page sent again escaped is the same record: same identity,
 * same content hash, nothing stored twice or rewritten.
 */
const TODAY = '2025-03-12';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ today: TODAY, accounts: 2, quirks: { latePostings: false, hostileNarratives: true } });
});

afterAll(async () => {
  await h.stop();
});

const rows = (accountId: string) =>
  h.t.db
    .selectFrom('transactions')
    .select(['id', 'fingerprint_key', 'content_hash', 'version', 'narrative', 'data_quality', 'raw'])
    .where('account_id', '=', accountId)
    .orderBy('id')
    .execute();

const priorDay = (accountId: string) =>
  syncAccountWindow(h.syncDeps(h.bankWith()), { runId: null, accountId, mode: 'prior_day', kinds: ['transactions'] });

type Note = { field: string; problem: string };

describe('a bank page with raw control characters in its strings', () => {
  it('is stored with the text exactly and a data-quality note per such string; sent escaped later, nothing changes', async () => {
    const a = h.accounts[0]!;
    h.sim.injectFaults([{ kind: 'raw-controls', path: '/tsapi/v3/transactions', accountId: a.jpmAccountId }]);
    try {
      await priorDay(a.id);
    } finally {
      h.sim.clearFaults();
    }
    expect(h.sim.stats().faultsInjected).toBeGreaterThan(0);
    const first = await rows(a.id);
    expect(first.length).toBeGreaterThan(0);
    const noted = first.filter((r) =>
      ((r.data_quality ?? []) as Note[]).some((n) => n.problem.includes('without the escape JSON asks for')),
    );
    expect(noted.length).toBeGreaterThan(0);
    for (const r of noted) {
      const narrative = decodePgJson(r.narrative) as Record<string, string | null>;
      for (const note of r.data_quality as Note[]) {
        if (!note.problem.includes('without the escape')) {
          continue;
        }
        // The field a note names holds (in its name or value) the characters the note lists.
        const key = /^narrativeText\[("(?:[^"\\]|\\.)*")\]$/.exec(note.field)?.[1];
        expect(key, note.field).toBeDefined();
        const name = JSON.parse(key!) as string;
        const listed = [...note.problem.matchAll(/U\+([0-9A-F]{4})/g)].map((m) =>
          String.fromCharCode(parseInt(m[1]!, 16)),
        );
        const text = note.problem.startsWith('its name') ? name : narrative[name]!;
        expect(listed.length).toBeGreaterThan(0);
        for (const c of listed) {
          expect(text.includes(c), `${note.field}: ${note.problem}`).toBe(true);
        }
      }
    }
    // A raw NUL is stored as an escaped one is: "␀" in Postgres, U+0000 again when read.
    const withNul = noted.filter((r) => JSON.stringify(decodePgJson(r.narrative)).includes('\\u0000'));
    expect(withNul.length).toBeGreaterThan(0);
    expect(JSON.stringify(withNul[0]!.narrative)).toContain('\u2400');

    // The same day again, the page escaped as RFC 8259 asks: the same rows, unchanged.
    await priorDay(a.id);
    const again = await rows(a.id);
    expect(again.map((r) => [r.id, r.fingerprint_key, r.content_hash, r.version])).toEqual(
      first.map((r) => [r.id, r.fingerprint_key, r.content_hash, r.version]),
    );
  });
});
