import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { errorMessage } from '../shared/errors.ts';
import { getBalances } from './balances.ts';
import type { TlsCredential } from './credential-agents.ts';
import { isJpmError } from './errors.ts';
import { probeTls, type ServerCertificateInfo } from './tls-probe.ts';
import type { JpmTransport } from './transport.ts';

/**
 * "Does this integration's certificate work?" for onboarding: credential → DNS → TLS handshake →
 * one minimal balance call (CURRENT_DAY, no account list). Stops at the first failing step and says
 * which one failed and why, without throwing.
 */

export type ConnectionTestStepName = 'credential' | 'dns' | 'tls' | 'balances';

export type ConnectionTestFailure =
  | 'credential_invalid' // the credential source failed or the PEMs are unusable
  | 'dns' // the host name does not resolve
  | 'address_not_allowed' // the host is (or resolves to) an address the outbound policy forbids: nothing is sent
  | 'unreachable' // no TCP/TLS connection (refused, timeout)
  | 'server_certificate_untrusted' // we do not trust the bank's certificate (CA bundle, hostname)
  | 'certificate_refused' // the bank refused our client certificate
  | 'not_entitled' // 403, or the certificate sees no accounts yet
  | 'bank_unavailable' // 429/5xx/timeouts: try again later
  | 'bad_response'; // anything else the balance call returned

export interface ConnectionTestStep {
  step: ConnectionTestStepName;
  ok: boolean;
  /** Error or outcome code (`jpm_not_entitled`, `ENOTFOUND`, `ERR_SSL_…`, `CLOSED_AFTER_HANDSHAKE` …). */
  code?: string;
  detail?: string;
  durationMs: number;
}

export interface ConnectionTestResult {
  ok: boolean;
  failure?: ConnectionTestFailure;
  steps: ConnectionTestStep[];
  credentialId?: string;
  tls?: { protocol: string; server: ServerCertificateInfo };
  /** Accounts the certificate is entitled to (from the balance call). */
  entitledAccounts?: number;
  requestId?: string;
}

function failureOf(code: string): ConnectionTestFailure {
  switch (code) {
    case 'jpm_credential_invalid':
      return 'credential_invalid';
    case 'jpm_certificate_refused':
      return 'certificate_refused';
    case 'jpm_tls_failed':
      return 'server_certificate_untrusted';
    case 'jpm_not_entitled':
      return 'not_entitled';
    case 'jpm_unreachable':
      return 'unreachable';
    case 'jpm_rate_limited':
    case 'jpm_unavailable':
    case 'jpm_timeout':
    case 'jpm_malformed_response':
      return 'bank_unavailable';
    default:
      return 'bad_response';
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown; durationMs: number }> {
  const started = performance.now();
  try {
    const value = await fn();
    return { value, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    return { error, durationMs: Math.round(performance.now() - started) };
  }
}

export async function testConnection(
  transport: JpmTransport,
  probe: { connectTimeoutMs: number; holdMs: number },
): Promise<ConnectionTestResult> {
  const steps: ConnectionTestStep[] = [];
  const fail = (failure: ConnectionTestFailure, extra: Partial<ConnectionTestResult> = {}): ConnectionTestResult => ({
    ok: false,
    failure,
    steps,
    ...extra,
  });

  const cred = await timed(() => transport.currentAgent());
  if (!cred.value) {
    const code = isJpmError(cred.error) ? cred.error.code : 'jpm_credential_invalid';
    steps.push({ step: 'credential', ok: false, code, detail: errorMessage(cred.error), durationMs: cred.durationMs });
    return fail('credential_invalid');
  }
  const credential: TlsCredential = cred.value.credential;
  steps.push({ step: 'credential', ok: true, durationMs: cred.durationMs });
  const credentialId = credential.id;

  const policy = transport.outbound;
  if (policy) {
    // A name that does not resolve is the DNS step's to report.
    const allowed = await timed(() => policy.checkUrl(transport.baseUrl, { allowUnresolvable: true }));
    if (allowed.error !== undefined) {
      steps.push({
        step: 'dns',
        ok: false,
        code: 'address_not_allowed',
        detail: errorMessage(allowed.error),
        durationMs: allowed.durationMs,
      });
      return fail('address_not_allowed', { credentialId });
    }
  }
  const host = new URL(transport.baseUrl).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) === 0) {
    const dns = await timed(() => lookup(host));
    if (dns.error !== undefined) {
      const code = (dns.error as { code?: string }).code ?? 'DNS_FAILED';
      steps.push({ step: 'dns', ok: false, code, detail: `${host} does not resolve`, durationMs: dns.durationMs });
      return fail('dns', { credentialId });
    }
    steps.push({ step: 'dns', ok: true, detail: dns.value?.address, durationMs: dns.durationMs });
  }

  const tls = await timed(() => probeTls({ url: transport.baseUrl, credential, ...probe, outbound: policy }));
  const outcome = tls.value!;
  if (outcome.kind !== 'accepted') {
    steps.push({ step: 'tls', ok: false, code: outcome.code, durationMs: tls.durationMs });
    const failure =
      outcome.kind === 'refused'
        ? 'certificate_refused'
        : outcome.kind === 'server_untrusted'
          ? 'server_certificate_untrusted'
          : 'unreachable';
    return fail(failure, { credentialId });
  }
  steps.push({ step: 'tls', ok: true, detail: outcome.protocol, durationMs: tls.durationMs });
  const tlsInfo = { protocol: outcome.protocol, server: outcome.server };

  const balances = await timed(() => getBalances(transport, { relativeDateType: 'CURRENT_DAY' }));
  if (!balances.value) {
    const err = balances.error;
    const code = isJpmError(err) ? err.code : 'error';
    steps.push({ step: 'balances', ok: false, code, detail: errorMessage(err), durationMs: balances.durationMs });
    return fail(failureOf(code), {
      credentialId,
      tls: tlsInfo,
      ...(isJpmError(err) && err.requestId ? { requestId: err.requestId } : {}),
    });
  }
  const { accounts, accountErrors, requestIds } = balances.value;
  const entitledAccounts = accounts.length + accountErrors.length;
  const requestId = requestIds[0];
  if (entitledAccounts === 0) {
    steps.push({
      step: 'balances',
      ok: false,
      code: 'jpm_not_entitled',
      detail: 'the certificate is accepted but sees no accounts yet',
      durationMs: balances.durationMs,
    });
    return fail('not_entitled', { credentialId, tls: tlsInfo, entitledAccounts, ...(requestId ? { requestId } : {}) });
  }
  steps.push({ step: 'balances', ok: true, detail: `${entitledAccounts} accounts`, durationMs: balances.durationMs });
  return { ok: true, steps, credentialId, tls: tlsInfo, entitledAccounts, ...(requestId ? { requestId } : {}) };
}
