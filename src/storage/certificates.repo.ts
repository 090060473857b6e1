import { sql } from 'kysely';
import type { Executor } from './db.ts';

export interface CertificateRow {
  id: string;
  organization_id: string;
  integration_id: string;
  key_pair_id: string;
  environment: string;
  certificate_pem: string;
  chain_pem: string | null;
  fingerprint_sha256: string;
  serial_number: string;
  subject_cn: string;
  issuer: string;
  not_before: Date;
  not_after: Date;
  status: string;
  installed_by: string;
  installed_at: Date;
  retired_by: string | null;
  retired_at: Date | null;
  expired_at: Date | null;
  expiry_warnings_sent: number[];
}

const COLUMNS = [
  'id',
  'organization_id',
  'integration_id',
  'key_pair_id',
  'environment',
  'certificate_pem',
  'chain_pem',
  'fingerprint_sha256',
  'serial_number',
  'subject_cn',
  'issuer',
  'not_before',
  'not_after',
  'status',
  'installed_by',
  'installed_at',
  'retired_by',
  'retired_at',
  'expired_at',
  'expiry_warnings_sent',
] as const;

export interface NewCertificate {
  id: string;
  organizationId: string;
  integrationId: string;
  keyPairId: string;
  environment: string;
  certificatePem: string;
  chainPem: string | null;
  fingerprintSha256: string;
  serialNumber: string;
  subjectCn: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  installedBy: string;
  installedAt: Date;
}

export async function insertCertificate(ex: Executor, row: NewCertificate): Promise<CertificateRow> {
  return ex
    .insertInto('certificates')
    .values({
      id: row.id,
      organization_id: row.organizationId,
      integration_id: row.integrationId,
      key_pair_id: row.keyPairId,
      environment: row.environment,
      certificate_pem: row.certificatePem,
      chain_pem: row.chainPem,
      fingerprint_sha256: row.fingerprintSha256,
      serial_number: row.serialNumber,
      subject_cn: row.subjectCn,
      issuer: row.issuer,
      not_before: row.notBefore,
      not_after: row.notAfter,
      status: 'active',
      installed_by: row.installedBy,
      installed_at: row.installedAt,
    })
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
}

export async function findCertificate(
  ex: Executor,
  integrationId: string,
  id: string,
): Promise<CertificateRow | undefined> {
  return ex
    .selectFrom('certificates')
    .select(COLUMNS)
    .where('integration_id', '=', integrationId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function findCertificateByFingerprint(
  ex: Executor,
  integrationId: string,
  fingerprint: string,
): Promise<CertificateRow | undefined> {
  return ex
    .selectFrom('certificates')
    .select(COLUMNS)
    .where('integration_id', '=', integrationId)
    .where('fingerprint_sha256', '=', fingerprint)
    .executeTakeFirst();
}

export async function listCertificates(
  ex: Executor,
  integrationId: string,
  filter: { status?: string; environment?: string } = {},
): Promise<CertificateRow[]> {
  let q = ex.selectFrom('certificates').select(COLUMNS).where('integration_id', '=', integrationId);
  if (filter.status !== undefined) {
    q = q.where('status', '=', filter.status);
  }
  if (filter.environment !== undefined) {
    q = q.where('environment', '=', filter.environment);
  }
  return q.orderBy('installed_at', 'desc').orderBy('id', 'desc').execute();
}

export async function countActiveByCommonName(
  ex: Executor,
  integrationId: string,
  commonName: string,
): Promise<number> {
  const row = await ex
    .selectFrom('certificates')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('integration_id', '=', integrationId)
    .where('subject_cn', '=', commonName)
    .where('status', '=', 'active')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Active certificates of an environment usable at `now` (inside their validity window), newest first. */
export async function listUsableCertificates(
  ex: Executor,
  integrationId: string,
  environment: string,
  now: Date,
): Promise<CertificateRow[]> {
  return ex
    .selectFrom('certificates')
    .select(COLUMNS)
    .where('integration_id', '=', integrationId)
    .where('environment', '=', environment)
    .where('status', '=', 'active')
    .where('not_before', '<=', now)
    .where('not_after', '>', now)
    .orderBy('installed_at', 'desc')
    .orderBy('not_after', 'desc')
    .orderBy('id', 'desc')
    .execute();
}

export async function retireCertificateRow(
  ex: Executor,
  id: string,
  by: string,
  at: Date,
): Promise<CertificateRow | undefined> {
  return ex
    .updateTable('certificates')
    .set({ status: 'retired', retired_by: by, retired_at: at })
    .where('id', '=', id)
    .where('status', '=', 'active')
    .returning(COLUMNS)
    .executeTakeFirst();
}

/** Marks active certificates past `not_after` as expired; returns those it changed. */
export async function markExpiredCertificates(ex: Executor, now: Date): Promise<CertificateRow[]> {
  return ex
    .updateTable('certificates')
    .set({ status: 'expired', expired_at: now })
    .where('status', '=', 'active')
    .where('not_after', '<=', now)
    .returning(COLUMNS)
    .execute();
}

/**
 * Active certificates expiring within `withinMs` of `now`, locked so two watchers never warn twice. A cancelled
 * integration's are left out: nobody renews them, so warning our team would only be noise.
 */
export async function listExpiringCertificates(ex: Executor, now: Date, withinMs: number): Promise<CertificateRow[]> {
  return ex
    .selectFrom('certificates')
    .select(COLUMNS)
    .where('status', '=', 'active')
    .where('integration_id', 'not in', (eb) =>
      eb.selectFrom('integrations').select('id').where('stage', '=', 'cancelled'),
    )
    .where('not_after', '>', now)
    .where('not_after', '<=', new Date(now.getTime() + withinMs))
    .orderBy('not_after', 'asc')
    .forUpdate()
    .execute();
}

export async function recordExpiryWarnings(ex: Executor, id: string, thresholds: readonly number[]): Promise<void> {
  await ex
    .updateTable('certificates')
    .set({
      expiry_warnings_sent: sql<
        number[]
      >`array(select distinct unnest(expiry_warnings_sent || ${sql.val([...thresholds])}::integer[]) order by 1 desc)`,
    })
    .where('id', '=', id)
    .execute();
}

/** Id of the certificate `credentialFor` would pick at `now` (a cheap change check for credential caches). */
export async function findUsableCertificateId(
  ex: Executor,
  integrationId: string,
  now: Date,
): Promise<string | undefined> {
  const row = await ex
    .selectFrom('certificates as c')
    .innerJoin('integrations as i', (j) =>
      j.onRef('i.id', '=', 'c.integration_id').onRef('i.environment', '=', 'c.environment'),
    )
    .select('c.id')
    .where('c.integration_id', '=', integrationId)
    .where('c.status', '=', 'active')
    .where('c.not_before', '<=', now)
    .where('c.not_after', '>', now)
    .orderBy('c.installed_at', 'desc')
    .orderBy('c.not_after', 'desc')
    .orderBy('c.id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.id;
}

/**
 * Per integration (cancelled ones left out), the latest `not_after` among its active and expired certificates of
 * its current environment; integrations without such a certificate have no row.
 */
export async function latestCertificateExpiryPerIntegration(
  ex: Executor,
): Promise<{ integration_id: string; not_after: Date }[]> {
  return ex
    .selectFrom('certificates as c')
    .innerJoin('integrations as i', (j) =>
      j.onRef('i.id', '=', 'c.integration_id').onRef('i.environment', '=', 'c.environment'),
    )
    .select(['c.integration_id', sql<Date>`max(c.not_after)`.as('not_after')])
    .where('c.status', 'in', ['active', 'expired'])
    .where('i.stage', '<>', 'cancelled')
    .groupBy('c.integration_id')
    .execute();
}

/**
 * Of `integrationIds`, sets `certificate_expired` on those whose current environment has no usable (active,
 * unexpired at `now`) certificate left; returns the ids it changed.
 */
export async function markIntegrationsWithoutUsableCertificate(
  ex: Executor,
  integrationIds: readonly string[],
  now: Date,
): Promise<string[]> {
  if (integrationIds.length === 0) {
    return [];
  }
  const rows = await ex
    .updateTable('integrations as i')
    .set({
      sync_status: 'certificate_expired',
      sync_status_reason: "every certificate for the integration's environment has expired",
      updated_at: now,
    })
    .where('i.id', 'in', [...integrationIds])
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('certificates as c')
            .select(sql`1`.as('one'))
            .whereRef('c.integration_id', '=', 'i.id')
            .whereRef('c.environment', '=', 'i.environment')
            .where('c.status', '=', 'active')
            .where('c.not_after', '>', now),
        ),
      ),
    )
    .returning('i.id')
    .execute();
  return rows.map((r) => r.id);
}
