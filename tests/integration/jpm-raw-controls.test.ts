import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePgJson, decodePgText } from '../../src/shared/pg-text.ts';
import { discoverAccounts } from '../../src/sync/discover-accounts.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { createTenancy } from '../factories/tenancy.ts';
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

/**
 * A balance answer with control characters raw (the same fault on `/accessapi/balance`: its first account's name holds
 * a TAB, a line break, NUL and more) is read with each character as itself. No text of a balance reaches a ledger (a
 * stored balance is its dates, amounts and instant; a control character in a date or timestamp makes it unreadable
 * with its own reason, as escaped), so no note is written: the balances are those of the escaped answer, and the one
 * text kept, the account name an integration's discovery registers, is the bank's exactly.
 */
describe('a balance answer with raw control characters in its strings', () => {
  const balances = (accountId: string) =>
    h.t.db
      .selectFrom('balances')
      .select(['id', 'as_of_date', 'kind', 'content_hash', 'updated_at'])
      .where('account_id', '=', accountId)
      .orderBy('id')
      .execute();
  const range = (accountId: string) =>
    syncAccountWindow(h.syncDeps(h.bankWith()), {
      runId: null,
      accountId,
      mode: 'range',
      from: '2025-03-03',
      to: '2025-03-07',
      kinds: ['balances'],
    });

  it('stores the balances of the escaped answer, and discovery registers the account name exactly', async () => {
    const a = h.accounts[1]!;
    h.sim.injectFaults([{ kind: 'raw-controls', path: '/accessapi/balance' }]);
    let first;
    try {
      const counts = await range(a.id);
      expect(counts).toMatchObject({ rejected: 0 });
      first = await balances(a.id);
      expect(first.length).toBeGreaterThan(0);
      const tenancy = await createTenancy(h.t.db, { baseUrl: h.sim.url });
      const found = await discoverAccounts(h.t.db, h.bankWith(), {
        id: tenancy.integrationId,
        organizationId: tenancy.organizationId,
      });
      const named = found.accounts.find((x) => x.jpm_account_id === h.sim.accounts[0]!.accountId)!;
      expect(decodePgText(named.account_name)).toBe(
        `${h.sim.accounts[0]!.accountName}\tCOL 1\tCOL 2\r\nLINE 2\u0000\u0001\u001f`,
      );
    } finally {
      h.sim.clearFaults();
    }
    expect(h.sim.stats().faultsInjected).toBeGreaterThan(1);
    // The same days again, escaped: nothing rewritten.
    await range(a.id);
    expect(await balances(a.id)).toEqual(first);
  });
});
