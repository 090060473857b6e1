import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TlsCredential } from '../../src/jpm/credential-agents.ts';
import { JpmRejectedError, JpmUnavailableError } from '../../src/jpm/errors.ts';
import { probeTls } from '../../src/jpm/tls-probe.ts';
import { NO_QUIRKS, type FaultRule } from '../../src/simulator/index.ts';
import { caught, startClientSim, UUID, type ClientSim } from '../helpers/jpm-client-sim.ts';

/**
 * Every failure class the simulator can produce, over real mTLS, mapped to the right error type and
 * code; certificate refusal (no, foreign, revoked, expired certificate); rotation without restart;
 * the onboarding connection test.
 */

const TODAY = '2025-03-12';
const GATEWAY_EOF = 'messaging.adaptors.http.flow.UnexpectedEOFAtTarget';

describe('JpmClient failure mapping', () => {
  let env: ClientSim;
  beforeAll(async () => {
    env = await startClientSim({ today: TODAY, accounts: 3, historyDays: 10, quirks: NO_QUIRKS });
  });
  afterAll(() => env.stop());

  const balances = (rule: FaultRule, requestMs = 10_000) => {
    env.sim.clearFaults();
    env.sim.injectFaults([{ count: 1, ...rule }]);
    const client = env.client({ timeouts: { requestMs } });
    return caught(() => client.getBalances({ relativeDateType: 'CURRENT_DAY' }));
  };

  it.each([
    [
      'rate-limit',
      { kind: 'rate-limit', retryAfterSeconds: 7 },
      { code: 'jpm_rate_limited', upstreamStatus: 429, retryAfterMs: 7000 },
    ],
    [
      'server-error (GCA-099)',
      { kind: 'server-error' },
      { code: 'jpm_unavailable', upstreamStatus: 500, bankErrorCode: 'GCA-099' },
    ],
    [
      'unavailable (503)',
      { kind: 'unavailable', retryAfterSeconds: 2 },
      { code: 'jpm_unavailable', upstreamStatus: 503, retryAfterMs: 2000 },
    ],
    [
      'gateway fault (502)',
      { kind: 'gateway-fault' },
      { code: 'jpm_unavailable', upstreamStatus: 502, bankErrorCode: GATEWAY_EOF },
    ],
    [
      'gateway fault inside a 200',
      { kind: 'gateway-fault', status: 200 },
      { code: 'jpm_unavailable', upstreamStatus: 200, bankErrorCode: GATEWAY_EOF },
    ],
    [
      'errors envelope without a message (GCA-099, errorMsg null) inside a 200',
      { kind: 'terse-error' },
      { code: 'jpm_unavailable', upstreamStatus: 200, bankErrorCode: 'GCA-099' },
    ],
    [
      'errors envelope without a message (GCA-099, errorMsg null) with a 500',
      { kind: 'terse-error', status: 500 },
      { code: 'jpm_unavailable', upstreamStatus: 500, bankErrorCode: 'GCA-099' },
    ],
    ['connection reset mid-body', { kind: 'reset' }, { code: 'jpm_unavailable', upstreamStatus: 200 }],
    ['malformed JSON', { kind: 'malformed-json' }, { code: 'jpm_malformed_response', upstreamStatus: 200 }],
  ] as const)('%s is a retryable JpmUnavailableError', async (_name, rule, expected) => {
    const err = await balances(rule);
    expect(err).toBeInstanceOf(JpmUnavailableError);
    expect(err).toMatchObject({ ...expected, retryable: true, httpStatus: 503 });
    expect(err.requestId).toMatch(UUID);
  });

  it('a hang ends in a retryable jpm_timeout from the request timeout', async () => {
    const err = await balances({ kind: 'hang' }, 800);
    expect(err).toBeInstanceOf(JpmUnavailableError);
    expect(err).toMatchObject({ code: 'jpm_timeout', retryable: true, upstreamStatus: undefined });
    expect(err.requestId).toMatch(UUID);
  });

  it('a body that stops halfway (headers sent, the connection held open) ends in a retryable jpm_timeout', async () => {
    env.sim.clearFaults();
    env.sim.injectFaults([{ kind: 'stalled-body', count: 1 }]);
    const client = env.client({ timeouts: { bodyMs: 500, requestMs: 10_000 } });
    const err = await caught(() => client.getBalances({ relativeDateType: 'CURRENT_DAY' }));
    expect(err).toBeInstanceOf(JpmUnavailableError);
    expect(err).toMatchObject({ code: 'jpm_timeout', retryable: true, upstreamStatus: 200 });
    // The next answer comes whole and is read.
    expect((await client.getBalances({ relativeDateType: 'CURRENT_DAY' })).accounts).toHaveLength(3);
  });

  it('403 not entitled is a permanent JpmRejectedError with the bank code; the message masks the account', async () => {
    const accountId = env.sim.accounts[0]!.accountId;
    env.sim.injectFaults([{ kind: 'not-entitled', count: 1, accountId }]);
    const client = env.client();
    const err = await caught(() =>
      client.transactionPages({ accountIds: [accountId], relativeDateType: 'PRIOR_DAY' }).next(),
    );
    expect(err).toBeInstanceOf(JpmRejectedError);
    expect(err).toMatchObject({
      code: 'jpm_not_entitled',
      retryable: false,
      upstreamStatus: 403,
      bankErrorCode: 'GCA-004',
    });
    expect(err.message).not.toContain(accountId);
    expect(err.message).toContain(`****${accountId.slice(-4)}`);
  });

  it("other 4xx with J.P. Morgan's errors envelope is a permanent jpm_bad_request", async () => {
    const client = env.client({ baseUrl: `${env.sim.url}/no-such-prefix` });
    const err = await caught(() => client.getBalances({ relativeDateType: 'CURRENT_DAY' }));
    expect(err).toBeInstanceOf(JpmRejectedError);
    expect(err).toMatchObject({ code: 'jpm_bad_request', upstreamStatus: 404, bankErrorCode: 'GCA-006' });
  });

  it('a closed port is a retryable jpm_unreachable', async () => {
    const other = await startClientSim({ today: TODAY, accounts: 1, historyDays: 2 });
    const url = other.sim.url;
    await other.stop();
    const err = await caught(() => env.client({ baseUrl: url }).getBalances({ relativeDateType: 'CURRENT_DAY' }));
    expect(err).toMatchObject({ code: 'jpm_unreachable', retryable: true });
  });
});

describe('JpmClient certificates', () => {
  let env: ClientSim;
  beforeAll(async () => {
    env = await startClientSim({ today: TODAY, accounts: 2, historyDays: 5, quirks: NO_QUIRKS });
  });
  afterAll(() => env.stop());

  const refusedWith = async (credential: TlsCredential) => {
    const err = await caught(() =>
      env.client({ credentials: () => Promise.resolve(credential) }).getBalances({ relativeDateType: 'CURRENT_DAY' }),
    );
    expect(err).toBeInstanceOf(JpmRejectedError);
    expect(err).toMatchObject({ code: 'jpm_certificate_refused', retryable: false });
    expect(err.requestId).toMatch(UUID);
    expect(err.message).not.toMatch(/BEGIN|PRIVATE/);
    return err;
  };

  it('a certificate from another CA is refused in the handshake: permanent jpm_certificate_refused', async () => {
    await refusedWith(await env.foreign('foreign-1'));
  });

  it('an expired certificate is refused', async () => {
    await refusedWith(await env.issue('expired-1', { notBefore: new Date(Date.now() - 10 * 86_400_000), days: 2 }));
  });

  it('a revoked certificate (HTTP 401) is refused', async () => {
    const credential = await env.issue('revoked-1');
    await env
      .client({ credentials: () => Promise.resolve(credential) })
      .getBalances({ relativeDateType: 'CURRENT_DAY' });
    env.sim.revokeCertificate(credential.certPem);
    const err = await refusedWith(credential);
    expect(err).toMatchObject({ upstreamStatus: 401, bankErrorCode: 'GCA-005' });
  });

  it('a handshake without any client certificate is refused (probe)', async () => {
    const none = { id: 'none', certPem: '', keyPem: '', caPem: env.sim.caCertPem };
    await expect(
      probeTls({ url: env.sim.url, credential: none, connectTimeoutMs: 5000, holdMs: 500 }),
    ).resolves.toMatchObject({ kind: 'refused' });
    const err = await caught(() =>
      env.client({ credentials: () => Promise.resolve(none) }).getBalances({ relativeDateType: 'CURRENT_DAY' }),
    );
    expect(err).toMatchObject({ code: 'jpm_credential_invalid', retryable: false });
  });

  it('an untrusted server certificate is a permanent jpm_tls_failed; a key that does not match is jpm_credential_invalid', async () => {
    const { caPem: _ca, ...publicRootsOnly } = env.credential;
    const err = await caught(() =>
      env
        .client({ credentials: () => Promise.resolve(publicRootsOnly) })
        .getBalances({ relativeDateType: 'CURRENT_DAY' }),
    );
    expect(err).toMatchObject({ code: 'jpm_tls_failed', retryable: false });
    const other = await env.issue('other');
    const mismatched = { ...env.credential, id: 'mismatch', keyPem: other.keyPem };
    const bad = await caught(() =>
      env.client({ credentials: () => Promise.resolve(mismatched) }).getBalances({ relativeDateType: 'CURRENT_DAY' }),
    );
    expect(bad).toMatchObject({ code: 'jpm_credential_invalid', retryable: false });
    expect(bad.message).not.toMatch(/BEGIN|PRIVATE/);
  });

  it('uses a rotated certificate on the next request without a restart (new Agent per credential id)', async () => {
    const first = await env.issue('rotate-1');
    const second = await env.issue('rotate-2');
    let current = first;
    const client = env.client({ credentials: () => Promise.resolve(current) });
    await client.getBalances({ relativeDateType: 'CURRENT_DAY' });
    expect(client.activeCredentialId).toBe('rotate-1');

    current = second;
    // The old certificate is revoked at the bank: only the new one can succeed from here on.
    env.sim.revokeCertificate(first.certPem);
    const before = env.calls.length;
    const [a, b] = await Promise.all([
      client.getBalances({ relativeDateType: 'CURRENT_DAY' }),
      client.getBalances({ relativeDateType: 'PRIOR_DAY' }),
    ]);
    expect(a.accounts).toHaveLength(2);
    expect(b.accounts).toHaveLength(2);
    expect(client.activeCredentialId).toBe('rotate-2');
    expect(env.calls.slice(before).map((c) => [c.credentialId, c.outcome])).toEqual([
      ['rotate-2', 'ok'],
      ['rotate-2', 'ok'],
    ]);
  });

  it('testConnection reports each step, and which one failed', async () => {
    const ok = await env.client({ baseUrl: env.sim.url.replace('127.0.0.1', 'localhost') }).testConnection();
    expect(ok).toMatchObject({ ok: true, credentialId: 'cert-1', entitledAccounts: 2, tls: { protocol: 'TLSv1.3' } });
    expect(ok.steps.map((s) => [s.step, s.ok])).toEqual([
      ['credential', true],
      ['dns', true],
      ['tls', true],
      ['balances', true],
    ]);
    expect(ok.requestId).toMatch(UUID);

    const foreign = await env.foreign('foreign-2');
    const refused = await env.client({ credentials: () => Promise.resolve(foreign) }).testConnection();
    expect(refused).toMatchObject({ ok: false, failure: 'certificate_refused' });
    expect(refused.steps.at(-1)).toMatchObject({ step: 'tls', ok: false });

    env.sim.injectFaults([{ kind: 'not-entitled', count: 1 }]);
    const denied = await env.client().testConnection();
    expect(denied).toMatchObject({ ok: false, failure: 'not_entitled' });
    expect(denied.steps.at(-1)).toMatchObject({ step: 'balances', ok: false, code: 'jpm_not_entitled' });

    const dns = await env.client({ baseUrl: 'https://no-such-host.invalid' }).testConnection();
    expect(dns).toMatchObject({ ok: false, failure: 'dns' });
  });
});
