/**
 * The credentials service. API-facing functions return views without key material; only
 * `credentialFor` (for the J.P. Morgan client) ever holds a decrypted private key.
 */
export { generateCsr, getCsrPem, listKeyPairs, type KeyPairView } from './key-pairs.ts';
export { installCertificate, listCertificates, retireCertificate, type CertificateView } from './certificates.ts';
export { credentialFor, type JpmCredential } from './credential.ts';
export { credentialSource } from './credential-source.ts';
export { testConnection, type ConnectionTesterFactory } from './test-connection.ts';
export { watchCertificateExpiry } from './expiry-watch.ts';
export { rewrapKeys } from './rewrap.ts';
export { checkMasterKeys } from './master-key-check.ts';
export { applyEnvironment, checkBaseUrlAddress, resolveEnvironmentSettings, setEnvironment } from './environment.ts';
export { KEY_ALGORITHMS } from './csr.ts';
export { refreshCertificateExpiryMetric } from './metrics.ts';
