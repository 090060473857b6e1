/**
 * The credentials service. API-facing functions return views without key material; only
 * `credentialFor` (for the J.P. Morgan client) ever holds a decrypted private key.
 */
export { generateCsr, getCsrPem, listKeyPairs, type GenerateCsrInput, type KeyPairView } from './key-pairs.ts';
export {
  installCertificate,
  listCertificates,
  retireCertificate,
  MAX_ACTIVE_PER_COMMON_NAME,
  type CertificateStatus,
  type CertificateView,
  type InstallCertificateInput,
  type RetireCertificateInput,
} from './certificates.ts';
export { credentialFor, type JpmCredential } from './credential.ts';
export { credentialSource } from './credential-source.ts';
export {
  testConnection,
  type ConnectionTester,
  type ConnectionTesterFactory,
  type TestConnectionOutcome,
} from './test-connection.ts';
export { watchCertificateExpiry, EXPIRY_WARNING_DAYS, type ExpiryWatchResult } from './expiry-watch.ts';
export { rewrapKeys, type RewrapResult } from './rewrap.ts';
export {
  checkBaseUrlAddress,
  JPM_HOSTS,
  resolveEnvironmentSettings,
  setEnvironment,
  type ConnectionPolicy,
  type EnvironmentSettings,
  type SetEnvironmentInput,
} from './environment.ts';
export {
  CN_SUFFIXES,
  commonNameFor,
  DEFAULT_KEY_ALGORITHM,
  KEY_ALGORITHMS,
  type CsrSubject,
  type KeyAlgorithm,
} from './csr.ts';
export { refreshCertificateExpiryMetric } from './metrics.ts';
