import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JpmUnavailableError } from '../../src/jpm/errors.ts';
import type { TransactionPageEvent } from '../../src/jpm/transactions.ts';
import { addDays } from '../../src/shared/time.ts';
import { caught, collect, startWalkSim, type ClientSim } from '../helpers/jpm-client-sim.ts';

/**
 * Pagination that lies, from the simulator over real mTLS: a `totalPages` far beyond the answer's pages (the pages past
 * its end come empty), and page 1's records served again under later page numbers with the counts still adding up.
 * Neither may make the client walk a million pages, nor pass for a complete walk.
 */
const TODAY = '2025-03-12';
const FROM = addDays(TODAY, -8);
const TO = addDays(TODAY, -4);

describe('v3 pagination that does not describe the answer', () => {
  let env: ClientSim;
  let accountId: string;
  beforeAll(async () => {
    ({ env, accountId } = await startWalkSim({ today: TODAY }));
  });
  afterAll(() => env.stop());

  const walk = (from: string = FROM, to: string = TO) =>
    collect(env.client().transactionPages({ startDate: from, endDate: to, accountIds: [accountId] }));
  const pageCalls = () => env.calls.filter((c) => c.endpoint === 'transactions_v3').length;

  it('a totalPages far beyond the records ends the walk at the first empty page once every record is in', async () => {
    env.sim.clearFaults();
    const clean = await walk();
    const pages = clean.filter((e) => e.type === 'page');
    const totalRecords = pages[0]!.totalRecords;
    expect(pages.length).toBeGreaterThan(1);

    // Bounded, so a client that walks every claimed page still ends (after 40 calls, when the pagination changes).
    env.sim.injectFaults([{ kind: 'empty-pages', count: 40 }]);
    const before = pageCalls();
    const lied = await walk();
    env.sim.clearFaults();
    expect(pageCalls() - before).toBe(pages.length + 1);
    const ids = lied.flatMap((e) => (e.type === 'page' ? e.records.map((r) => r.transactionId) : []));
    expect(ids).toHaveLength(totalRecords);
    expect(ids).toEqual(pages.flatMap((e) => (e.type === 'page' ? e.records.map((r) => r.transactionId) : [])));
  });

  it("page 1's records served again under later page numbers is no complete walk: walked again, then a retryable failure", async () => {
    env.sim.clearFaults();
    env.sim.injectFaults([{ kind: 'repeated-page' }]);
    const err = await caught(walk);
    env.sim.clearFaults();
    expect(err).toBeInstanceOf(JpmUnavailableError);
    expect(err).toMatchObject({ code: 'jpm_unstable_pages' });
    expect(err.message).toContain('repeated earlier records as page 2');
  });

  it('an empty page 2 while records are still missing is no complete walk: a retryable failure naming the page', async () => {
    env.sim.clearFaults();
    env.sim.injectFaults([{ kind: 'blank-page', count: 1 }]);
    const err = await caught(walk);
    env.sim.clearFaults();
    expect(err).toBeInstanceOf(JpmUnavailableError);
    expect(err).toMatchObject({ code: 'jpm_malformed_response' });
    expect(err.message).toMatch(/transaction page 2 of \d+ is empty with 2 of \d+ records seen/);
    // The next walk (the job's retry) gets every record.
    const again = await walk();
    expect(again.filter((e) => e.type === 'restart')).toEqual([]);
  });

  it('a repeated-page fault of one call waits for page 2: the walk is walked again once and ends with every record', async () => {
    env.sim.clearFaults();
    const clean = await walk();
    const idsOf = (events: TransactionPageEvent[]) =>
      events.flatMap((e) => (e.type === 'page' ? e.records.map((r) => r.transactionId) : []));
    env.sim.injectFaults([{ kind: 'repeated-page', count: 1 }]);
    const events = await walk();
    const left = env.sim.activeFaults();
    env.sim.clearFaults();
    expect(left).toEqual([]);
    expect(events.filter((e) => e.type === 'restart')).toHaveLength(1);
    const afterRestart = events.slice(events.findIndex((e) => e.type === 'restart') + 1);
    expect(idsOf(afterRestart)).toEqual(idsOf(clean));
  });

  it('a page without records whose data is written as null is an empty answer, not a failed walk', async () => {
    env.sim.clearFaults();
    env.sim.injectFaults([{ kind: 'null-data' }]);
    const fired = env.sim.stats().faultsInjected;
    // Days before the simulator's history hold no records.
    const empty = await walk(addDays(TODAY, -20), addDays(TODAY, -16));
    const withRecords = await walk();
    expect(env.sim.stats().faultsInjected).toBeGreaterThan(fired);
    env.sim.clearFaults();
    expect(empty).toEqual([expect.objectContaining({ type: 'page', pageNumber: 1, totalRecords: 0, records: [] })]);
    const clean = await walk();
    const idsOf = (events: TransactionPageEvent[]) =>
      events.flatMap((e) => (e.type === 'page' ? e.records.map((r) => r.transactionId) : []));
    expect(idsOf(withRecords)).toEqual(idsOf(clean));
    expect(idsOf(clean).length).toBeGreaterThan(0);
  });

  it('page 1 given again when page 2 was asked for (the bank went back) is walked again, then a retryable failure', async () => {
    env.sim.clearFaults();
    const idsOf = (events: TransactionPageEvent[]) =>
      events.flatMap((e) => (e.type === 'page' ? e.records.map((r) => r.transactionId) : []));
    const clean = await walk();
    env.sim.injectFaults([{ kind: 'first-page-again', count: 1 }]);
    const events = await walk();
    expect(env.sim.activeFaults()).toEqual([]);
    expect(events.filter((e) => e.type === 'restart')).toHaveLength(1);
    expect(idsOf(events.slice(events.findIndex((e) => e.type === 'restart') + 1))).toEqual(idsOf(clean));

    env.sim.injectFaults([{ kind: 'first-page-again' }]);
    const err = await caught(walk);
    env.sim.clearFaults();
    expect(err).toBeInstanceOf(JpmUnavailableError);
    expect(err).toMatchObject({ code: 'jpm_unstable_pages' });
    expect(err.message).toContain('answered page 1 when asked for page 2');
  });

  it('a page shifted by one under unchanged counts (a record on two pages, another on none) is walked again', async () => {
    env.sim.clearFaults();
    const idsOf = (events: TransactionPageEvent[]) =>
      events.flatMap((e) => (e.type === 'page' ? e.records.map((r) => r.transactionId) : []));
    const clean = idsOf(await walk());
    expect(clean.length).toBeGreaterThan(4);
    // Page 2 starts with page 1's last record; its own last record is on no page. The counts still add up.
    env.sim.injectFaults([{ kind: 'shifted-page', count: 1 }]);
    const events = await walk();
    expect(env.sim.activeFaults()).toEqual([]);
    const restart = events.findIndex((e) => e.type === 'restart');
    expect(restart).toBeGreaterThan(0);
    expect(idsOf(events.slice(restart + 1))).toEqual(clean);

    env.sim.injectFaults([{ kind: 'shifted-page' }]);
    const err = await caught(walk);
    env.sim.clearFaults();
    expect(err).toBeInstanceOf(JpmUnavailableError);
    expect(err).toMatchObject({ code: 'jpm_unstable_pages' });
    expect(err.message).toContain('gave 1 record of an earlier page again on page 2');
  });
});
