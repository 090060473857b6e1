import type { ConnectionPolicy } from '../credentials/environment.ts';
import type { ExpectationsOverride } from './expectations.ts';
import type { ValidationVerdict } from '../domain/types.ts';

/**
 * Answers whether an integration has a passed validation report (issue 9 provides the real one).
 * Must not throw for "no report": return `{ passed: false, reason }`.
 */
export type ValidationReportProvider = (integrationId: string) => Promise<ValidationVerdict>;

/**
 * Until the validation module is wired in, going live is refused with a reason. Never a silent
 * pass: an integration must not reach `live` on data nobody proved complete.
 */
export const refuseWithoutValidationProvider: ValidationReportProvider = () =>
  Promise.resolve({
    passed: false,
    reason: 'no validation report provider is configured, so no report can prove the data complete',
  });

/** Dependencies and settings of the onboarding service; every field has a safe default. */
export interface OnboardingOptions {
  /** The clock (tests pass a fixed one). */
  now?: () => Date;
  /** Deployment-wide override of DEFAULT_EXPECTATIONS; an integration's own override wins over it. */
  expectations?: ExpectationsOverride;
  validationReportPassed?: ValidationReportProvider;
  /**
   * Where integrations may connect (outbound address policy, approved cat/prod hosts); absent = J.P. Morgan hosts, no
   * address check.
   */
  connectionPolicy?: ConnectionPolicy;
}

export function clock(options: OnboardingOptions): Date {
  return options.now ? options.now() : new Date();
}
