import type { BankResponse } from './bank.ts';
import { validateFaultPlan, type FaultPlan } from './faults.ts';
import type { GroundTruth } from './ground-truth.ts';
import type { Clock } from './views.ts';

/**
 * Control endpoints under `/_sim/…`, on the same mTLS server as the bank endpoints (so only holders of
 * a dev-CA certificate can drive the clock). They let a test or a developer with curl walk through
 * business days, script faults and export the ground truth:
 *
 *   GET  /_sim/clock               → { today, progress }
 *   POST /_sim/clock               { today?, progress? } → { today, progress }
 *   POST /_sim/faults              { rules: FaultRule[], seed? } → { active }
 *   DELETE /_sim/faults            → { active: [] }
 *   GET  /_sim/ground-truth        → GroundTruth (amounts as decimal text)
 *   GET  /_sim/stats               → SimulatorStats
 *   POST /_sim/revoke              { certPem } → { revoked: fingerprint }
 */
export interface ControlTarget {
  clock(): Clock;
  setClock(clock: Partial<Clock>): Clock;
  injectFaults(plan: FaultPlan): void;
  clearFaults(): void;
  activeFaults(): unknown[];
  groundTruth(): GroundTruth;
  stats(): unknown;
  revokeCertificate(certPem: string): string;
}

const json = (status: number, value: unknown): BankResponse => ({ status, body: JSON.stringify(value) });
const problem = (status: number, message: string) =>
  json(status, { errors: [{ errorCode: 'SIM-CONTROL', errorMsg: message }] });

function parseBody(rawBody: string): Record<string, unknown> {
  const value: unknown = rawBody.trim() === '' ? {} : JSON.parse(rawBody);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

export function handleControl(target: ControlTarget, method: string, path: string, rawBody: string): BankResponse {
  try {
    const route = `${method} ${path.replace(/\/+$/, '')}`;
    switch (route) {
      case 'GET /_sim/clock':
        return json(200, target.clock());
      case 'POST /_sim/clock': {
        const body = parseBody(rawBody);
        const next: Partial<Clock> = {};
        if (body.today !== undefined) {
          if (typeof body.today !== 'string') {
            throw new Error('today must be a YYYY-MM-DD string');
          }
          next.today = body.today;
        }
        if (body.progress !== undefined) {
          next.progress = Number(body.progress);
        }
        return json(200, target.setClock(next));
      }
      case 'POST /_sim/faults':
        target.injectFaults(validateFaultPlan(parseBody(rawBody)));
        return json(200, { active: target.activeFaults() });
      case 'DELETE /_sim/faults':
        target.clearFaults();
        return json(200, { active: [] });
      case 'GET /_sim/ground-truth':
        return json(200, target.groundTruth());
      case 'GET /_sim/stats':
        return json(200, target.stats());
      case 'POST /_sim/revoke': {
        const certPem = parseBody(rawBody).certPem;
        if (typeof certPem !== 'string') {
          return problem(400, 'certPem is required');
        }
        return json(200, { revoked: target.revokeCertificate(certPem) });
      }
      default:
        return problem(404, `no control endpoint ${route}`);
    }
  } catch (err) {
    return problem(400, err instanceof Error ? err.message : 'invalid control request');
  }
}
