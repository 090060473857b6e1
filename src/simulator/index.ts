/**
 * The J.P. Morgan Access simulator: a stand-alone fake of the bank's balance and transaction
 * endpoints over real mutual TLS, for `npm run demo`, the tests, the benchmarks and developers.
 * Never imported by production code.
 */
export { startSimulator, type RunningSimulator, type SimRequestRecord, type SimulatorOptions } from './server.ts';
export { ensureDevPki, signCsr, createClientCredential, PKI_FILES, type DevPki } from './pki.ts';
export { DEFAULT_QUIRKS, NO_QUIRKS, type Quirks } from './quirks.ts';
export { accountDayView } from './bank-view.ts';
export { FAULT_KINDS, type FaultKind, type FaultRule } from './faults.ts';
export { strangeReference } from './server.ts';
