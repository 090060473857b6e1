import type { Executor } from './db.ts';

/**
 * Key pairs. The public view (`KeyPairRow`) never includes key material; only `findKeyPairSealed`
 * and `listKeyPairsSealed` read the ciphertext columns, for credentials/ to decrypt or re-wrap.
 */
export interface KeyPairRow {
  id: string;
  organization_id: string;
  integration_id: string;
  environment: string;
  algorithm: string;
  subject: string;
  common_name: string;
  csr_pem: string;
  public_key_sha256: string;
  master_key_id: string;
  created_by: string;
  created_at: Date;
  rewrapped_at: Date | null;
}

export interface SealedKeyColumns {
  private_key_ciphertext: Buffer;
  private_key_iv: Buffer;
  private_key_auth_tag: Buffer;
  wrapped_data_key: Buffer;
  data_key_iv: Buffer;
  data_key_auth_tag: Buffer;
  master_key_id: string;
}

export interface KeyPairSealedRow extends SealedKeyColumns {
  id: string;
  organization_id: string;
  integration_id: string;
}

const PUBLIC_COLUMNS = [
  'id',
  'organization_id',
  'integration_id',
  'environment',
  'algorithm',
  'subject',
  'common_name',
  'csr_pem',
  'public_key_sha256',
  'master_key_id',
  'created_by',
  'created_at',
  'rewrapped_at',
] as const;

const SEALED_COLUMNS = [
  'id',
  'organization_id',
  'integration_id',
  'private_key_ciphertext',
  'private_key_iv',
  'private_key_auth_tag',
  'wrapped_data_key',
  'data_key_iv',
  'data_key_auth_tag',
  'master_key_id',
] as const;

export interface NewKeyPair extends SealedKeyColumns {
  id: string;
  organizationId: string;
  integrationId: string;
  environment: string;
  algorithm: string;
  subject: string;
  commonName: string;
  csrPem: string;
  publicKeySha256: string;
  createdBy: string;
  createdAt: Date;
}

export async function insertKeyPair(ex: Executor, row: NewKeyPair): Promise<KeyPairRow> {
  return ex
    .insertInto('key_pairs')
    .values({
      id: row.id,
      organization_id: row.organizationId,
      integration_id: row.integrationId,
      environment: row.environment,
      algorithm: row.algorithm,
      subject: row.subject,
      common_name: row.commonName,
      csr_pem: row.csrPem,
      public_key_sha256: row.publicKeySha256,
      private_key_ciphertext: row.private_key_ciphertext,
      private_key_iv: row.private_key_iv,
      private_key_auth_tag: row.private_key_auth_tag,
      wrapped_data_key: row.wrapped_data_key,
      data_key_iv: row.data_key_iv,
      data_key_auth_tag: row.data_key_auth_tag,
      master_key_id: row.master_key_id,
      created_by: row.createdBy,
      created_at: row.createdAt,
    })
    .returning(PUBLIC_COLUMNS)
    .executeTakeFirstOrThrow();
}

export async function findKeyPair(ex: Executor, integrationId: string, id: string): Promise<KeyPairRow | undefined> {
  return ex
    .selectFrom('key_pairs')
    .select(PUBLIC_COLUMNS)
    .where('integration_id', '=', integrationId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function listKeyPairs(ex: Executor, integrationId: string, environment?: string): Promise<KeyPairRow[]> {
  let q = ex.selectFrom('key_pairs').select(PUBLIC_COLUMNS).where('integration_id', '=', integrationId);
  if (environment !== undefined) {
    q = q.where('environment', '=', environment);
  }
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
}

export async function findKeyPairsByPublicKey(
  ex: Executor,
  integrationId: string,
  publicKeySha256: string,
): Promise<KeyPairRow[]> {
  return ex
    .selectFrom('key_pairs')
    .select(PUBLIC_COLUMNS)
    .where('integration_id', '=', integrationId)
    .where('public_key_sha256', '=', publicKeySha256)
    .execute();
}

export async function findKeyPairSealed(ex: Executor, id: string): Promise<KeyPairSealedRow | undefined> {
  return ex.selectFrom('key_pairs').select(SEALED_COLUMNS).where('id', '=', id).executeTakeFirst();
}

/** Key pairs not wrapped by `currentMasterKeyId`, in id order after `afterId`; rows are locked (skip locked). */
export async function listKeyPairsToRewrap(
  ex: Executor,
  currentMasterKeyId: string,
  afterId: string | null,
  limit: number,
): Promise<KeyPairSealedRow[]> {
  let q = ex.selectFrom('key_pairs').select(SEALED_COLUMNS).where('master_key_id', '<>', currentMasterKeyId);
  if (afterId !== null) {
    q = q.where('id', '>', afterId);
  }
  return q.orderBy('id', 'asc').limit(limit).forUpdate().skipLocked().execute();
}

export async function updateKeyWrapping(
  ex: Executor,
  id: string,
  wrapping: {
    wrapped_data_key: Buffer;
    data_key_iv: Buffer;
    data_key_auth_tag: Buffer;
    master_key_id: string;
    rewrapped_at: Date;
  },
): Promise<void> {
  await ex.updateTable('key_pairs').set(wrapping).where('id', '=', id).execute();
}

/** Key pairs wrapped by a master key other than `configuredIds`, counted per master key id. */
export async function countKeyPairsWrappedByOthers(
  ex: Executor,
  configuredIds: readonly string[],
): Promise<{ keyId: string; count: number }[]> {
  const rows = await ex
    .selectFrom('key_pairs')
    .select(['master_key_id as keyId', (eb) => eb.fn.countAll<string>().as('count')])
    .where('master_key_id', 'not in', [...configuredIds])
    .groupBy('master_key_id')
    .orderBy('master_key_id')
    .execute();
  return rows.map((r) => ({ keyId: r.keyId, count: Number(r.count) }));
}
