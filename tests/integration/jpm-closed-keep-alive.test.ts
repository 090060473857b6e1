import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/shared/time.ts';
import { collect, startWalkSim, type ClientSim } from '../helpers/jpm-client-sim.ts';

/**
 * A bank (or a gateway before it) that closes a kept-alive connection just as the next request arrives on it (the
 * simulator's `closed-keep-alive` fault, over real mTLS): nothing of that request was answered, so it never reached
 * the bank's application, and J.P. Morgan's calls are reads. Such a close must not fail a walk or a balance call: a
 * gateway that closes every connection after one answer would otherwise fail every multi-page walk on its page 2,
 * on every retry, and the account's days would never be read. Likewise a new connection whose resumed TLS session the
 * bank closes unanswered (`refused-resumption`) while it takes our certificate on a full handshake.
 */
const TODAY = '2025-03-12';
const FROM = addDays(TODAY, -8);
const TO = addDays(TODAY, -4);

describe('a kept-alive connection closed as the next request arrives', () => {
  let env: ClientSim;
  let accountId: string;
  beforeAll(async () => {
    ({ env, accountId } = await startWalkSim({ today: TODAY }));
  });
  afterAll(() => env.stop());

  const idsOf = async () => {
    const events = await collect(
      env.client().transactionPages({ startDate: FROM, endDate: TO, accountIds: [accountId] }),
    );
    expect(events.filter((e) => e.type === 'restart')).toEqual([]);
    return events.flatMap((e) => (e.type === 'page' ? e.records.map((r) => r.transactionId) : []));
  };

  it('on every reused connection: the walk reads every page, each record once', async () => {
    env.sim.clearFaults();
    const clean = await idsOf();
    expect(clean.length).toBeGreaterThan(4);
    const fired = env.sim.stats().faultsInjected;
    env.sim.injectFaults([{ kind: 'closed-keep-alive' }]);
    const closed = await idsOf();
    const closes = env.sim.stats().faultsInjected - fired;
    env.sim.clearFaults();
    expect(closes).toBeGreaterThan(0);
    expect(closed).toEqual(clean);
  });

  it('balance calls on a reused connection are answered', async () => {
    env.sim.clearFaults();
    const client = env.client();
    const clean = await client.getBalances({ startDate: FROM, endDate: TO });
    const fired = env.sim.stats().faultsInjected;
    env.sim.injectFaults([{ kind: 'closed-keep-alive' }]);
    const first = await client.getBalances({ startDate: FROM, endDate: TO });
    const second = await client.getBalances({ startDate: FROM, endDate: TO });
    const closes = env.sim.stats().faultsInjected - fired;
    env.sim.clearFaults();
    expect(closes).toBeGreaterThan(0);
    expect(JSON.stringify(first.accounts)).toBe(JSON.stringify(clean.accounts));
    expect(JSON.stringify(second.accounts)).toBe(JSON.stringify(clean.accounts));
  });

  it('a new connection whose resumed TLS session the bank will not take is made again with a full handshake', async () => {
    env.sim.clearFaults();
    const client = env.client();
    const clean = await client.getBalances({ startDate: FROM, endDate: TO });
    const fired = env.sim.stats().faultsInjected;
    // The kept-alive connection is closed as the next call arrives; the call's next connection resumes the TLS session
    // of the first, which the bank closes unanswered (as a server demanding a full handshake for mutual TLS does).
    env.sim.injectFaults([
      { kind: 'closed-keep-alive', count: 1 },
      { kind: 'refused-resumption', count: 1 },
    ]);
    const answer = await client.getBalances({ startDate: FROM, endDate: TO });
    const left = env.sim.activeFaults();
    env.sim.clearFaults();
    expect(left).toEqual([]);
    expect(env.sim.stats().faultsInjected - fired).toBe(2);
    expect(JSON.stringify(answer.accounts)).toBe(JSON.stringify(clean.accounts));
  });
});
