/**
 * The J.P. Morgan Access simulator: a stand-alone fake of the bank's balance and transaction
 * endpoints over real mutual TLS, for `npm run demo`, the tests, the benchmarks and developers.
 * Never imported by production code.
 */
export { startSimulator, type RunningSimulator, type SimulatorOptions } from './server.ts';
export {
  ensureDevPki,
  signCsr,
  createClientCredential,
  PKI_FILES,
  type DevPki,
  type ClientCredential,
  type SignCsrOptions,
} from './pki.ts';
export { ALL_QUIRKS, DEFAULT_QUIRKS, NO_QUIRKS, STRANGE_QUIRKS, type Quirks } from './quirks.ts';
export { BankCalendar, WEEKDAYS } from './calendar.ts';
export { accountDayView, type AccountDayView, type DayState, type ViewRecord } from './bank-view.ts';
export { FAULT_KINDS, type FaultKind, type FaultPlan, type FaultRule } from './faults.ts';
export type { GroundTruth, GroundTruthAccount, GroundTruthBalance, GroundTruthTransaction } from './ground-truth.ts';
export type { AccountSpec, SimAccount } from './accounts.ts';
export type { SimulatorStats } from './stats.ts';
export type { Clock } from './views.ts';
export { Ledger } from './ledger.ts';
export { GCA } from './requests.ts';
