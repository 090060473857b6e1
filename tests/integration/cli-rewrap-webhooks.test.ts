import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { keyId } from '../../src/config/index.ts';
import { sealPrivateKey } from '../../src/credentials/envelope.ts';
import { rotateWebhookSecret } from '../../src/events/webhook-endpoints.ts';
import { generateWebhookSecret, openSecret, sealSecret } from '../../src/events/webhook-signing.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { insertKeyPair } from '../../src/storage/key-pairs.repo.ts';
import { endpointSecrets, insertEndpoint } from '../../src/storage/webhooks.repo.ts';
import { createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * Master-key rotation as an operator runs it (`jpm-sync credentials rewrap`, README "Rotating the master key"): once
 * it reports no failures the old key is removed, so every secret it sealed must be under the new key by then, the
 * webhook signing secrets (current and those still in a rotation's grace) as well as the private keys.
 */
let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

const masterKey = () => {
  const key = randomBytes(32);
  return { id: keyId(key), key };
};

async function rewrap(
  env: Record<string, string>,
  batchSize = 1,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['src/main/cli.ts', 'credentials', 'rewrap', '--batch-size', String(batchSize)],
      { env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: t.url, LOG_LEVEL: 'silent', ...env } },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('jpm-sync credentials rewrap and webhook secrets', () => {
  it('re-seals every webhook secret under the new master key, so the old key can be removed', async () => {
    const oldKey = masterKey();
    const newKey = masterKey();
    const tenancy = await createTenancy(t.db, { name: 'Rewrap Co' });
    const endpoints: { id: string; secret: string }[] = [];
    for (let i = 0; i < 2; i++) {
      const id = uuidv7();
      const secret = generateWebhookSecret();
      await insertEndpoint(t.db, {
        id,
        organizationId: tenancy.organizationId,
        url: `https://hooks.example/${i}`,
        description: '',
        eventTypes: ['*'],
        createdBy: 'test',
        secret: sealSecret(secret, { masterKey: oldKey, previousMasterKeys: [] }, id, 1),
      });
      endpoints.push({ id, secret });
    }
    // One endpoint mid-rotation: its previous secret still signs, sealed under the old key too.
    const rotating = endpoints[0]!;
    const next = generateWebhookSecret();
    const sealedNext = sealSecret(next, { masterKey: oldKey, previousMasterKeys: [] }, rotating.id, 2);
    await t.db
      .updateTable('webhook_endpoints')
      .set((eb) => ({
        previous_secret_ciphertext: eb.ref('secret_ciphertext'),
        previous_secret_iv: eb.ref('secret_iv'),
        previous_secret_auth_tag: eb.ref('secret_auth_tag'),
        previous_secret_key_id: eb.ref('secret_key_id'),
        previous_secret_version: 1,
        previous_secret_expires_at: new Date(Date.now() + 3_600_000),
        secret_ciphertext: sealedNext.ciphertext,
        secret_iv: sealedNext.iv,
        secret_auth_tag: sealedNext.authTag,
        secret_key_id: sealedNext.keyId,
        secret_version: 2,
      }))
      .where('id', '=', rotating.id)
      .execute();

    const out = await rewrap({
      CREDENTIALS_MASTER_KEY: newKey.key.toString('base64'),
      CREDENTIALS_PREVIOUS_MASTER_KEYS: oldKey.key.toString('base64'),
    });
    expect(out.code, out.stderr).toBe(0);

    // The old key is gone now: everything opens with the new one alone, to the same secrets.
    const onlyNew = { masterKey: newKey, previousMasterKeys: [] };
    for (const e of endpoints) {
      const s = (await endpointSecrets(t.db, e.id))!;
      expect(s.secret_key_id).toBe(newKey.id);
      const current = openSecret(
        { ciphertext: s.secret_ciphertext, iv: s.secret_iv, authTag: s.secret_auth_tag, keyId: s.secret_key_id },
        onlyNew,
        e.id,
        s.secret_version,
      );
      expect(current).toBe(e.id === rotating.id ? next : e.secret);
    }
    const r = (await endpointSecrets(t.db, rotating.id))!;
    expect(
      openSecret(
        {
          ciphertext: r.previous_secret_ciphertext!,
          iv: r.previous_secret_iv!,
          authTag: r.previous_secret_auth_tag!,
          keyId: r.previous_secret_key_id!,
        },
        onlyNew,
        rotating.id,
        1,
      ),
    ).toBe(rotating.secret);

    // Without the old key, a secret still under it is reported and the command fails (the key must not go yet).
    const stray = uuidv7();
    await insertEndpoint(t.db, {
      id: stray,
      organizationId: tenancy.organizationId,
      url: 'https://hooks.example/stray',
      description: '',
      eventTypes: ['*'],
      createdBy: 'test',
      secret: sealSecret(generateWebhookSecret(), { masterKey: oldKey, previousMasterKeys: [] }, stray, 1),
    });
    const refused = await rewrap({ CREDENTIALS_MASTER_KEY: newKey.key.toString('base64') });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(stray);
    // The way out when that key is lost: a new secret at once (grace 0); the ended one is dropped, not re-sealed.
    await rotateWebhookSecret(t.db, { masterKey: newKey, previousMasterKeys: [] }, stray, 0);
    const after = await rewrap({ CREDENTIALS_MASTER_KEY: newKey.key.toString('base64') });
    expect(after.code, after.stdout).toBe(0);
    expect(await endpointSecrets(t.db, stray)).toMatchObject({
      secret_key_id: newKey.id,
      previous_secret_key_id: null,
      previous_secret_ciphertext: null,
    });
  });
});

describe('jpm-sync credentials rewrap when the database refuses a write mid-batch', () => {
  let own: TestDb;
  beforeAll(async () => {
    own = await createTestDb();
  });
  afterAll(async () => {
    await own.drop();
  });

  /** A real database error on one row's update, as a constraint or a lost connection would raise it. */
  async function refuseUpdatesOf(table: 'webhook_endpoints' | 'key_pairs', id: string): Promise<void> {
    await sql
      .raw(
        `create function refuse_${table}() returns trigger language plpgsql as $$
          begin raise exception 'refused by test trigger'; end $$;
        create trigger refuse_${table} before update on ${table} for each row
          when (new.id = '${id}') execute function refuse_${table}()`,
      )
      .execute(own.db);
  }

  it('counts only what committed and names every endpoint and key pair of a rolled-back batch; exit 1', async () => {
    const oldKey = masterKey();
    const newKey = masterKey();
    const old = { masterKey: oldKey, previousMasterKeys: [] };
    const tenancy = await createTenancy(own.db, { name: 'Rollback Co' });
    // Ids in creation order, so with batches of 2 the first two share a batch and the third is alone.
    const endpoints: string[] = [];
    const keyPairs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = uuidv7();
      await insertEndpoint(own.db, {
        id,
        organizationId: tenancy.organizationId,
        url: `https://hooks.example/${i}`,
        description: '',
        eventTypes: ['*'],
        createdBy: 'test',
        secret: sealSecret(generateWebhookSecret(), old, id, 1),
      });
      endpoints.push(id);
      const kpId = uuidv7();
      const sealed = sealPrivateKey(randomBytes(64), oldKey, kpId);
      await insertKeyPair(own.db, {
        id: kpId,
        organizationId: tenancy.organizationId,
        integrationId: tenancy.integrationId,
        environment: 'simulator',
        algorithm: 'EC-P256',
        subject: 'CN=rollback',
        commonName: 'rollback',
        csrPem: 'not used here',
        publicKeySha256: randomBytes(32).toString('hex'),
        createdBy: 'test',
        createdAt: new Date(),
        private_key_ciphertext: sealed.privateKeyCiphertext,
        private_key_iv: sealed.privateKeyIv,
        private_key_auth_tag: sealed.privateKeyAuthTag,
        wrapped_data_key: sealed.wrappedDataKey,
        data_key_iv: sealed.dataKeyIv,
        data_key_auth_tag: sealed.dataKeyAuthTag,
        master_key_id: sealed.masterKeyId,
      });
      keyPairs.push(kpId);
    }
    // The second row of the first batch is refused: the first, already updated in that batch, is rolled back too.
    await refuseUpdatesOf('webhook_endpoints', endpoints[1]!);
    await refuseUpdatesOf('key_pairs', keyPairs[1]!);

    const out = await rewrap(
      {
        DATABASE_URL: own.url,
        CREDENTIALS_MASTER_KEY: newKey.key.toString('base64'),
        CREDENTIALS_PREVIOUS_MASTER_KEYS: oldKey.key.toString('base64'),
      },
      2,
    );
    expect(out.code, out.stderr).toBe(1);
    const report = z
      .object({
        rewrapped: z.number(),
        failed: z.array(z.object({ keyPairId: z.string(), reason: z.string() })),
        webhookSecrets: z.object({
          resealed: z.number(),
          failed: z.array(z.object({ endpointId: z.string(), reason: z.string() })),
        }),
      })
      .parse(JSON.parse(out.stdout));

    // What the database holds under the new key is exactly what the report counts.
    const underNew = async (table: 'webhook_endpoints' | 'key_pairs', column: 'secret_key_id' | 'master_key_id') =>
      (
        await sql<{ id: string }>`select id from ${sql.table(table)} where ${sql.ref(column)} = ${newKey.id}
          order by id`.execute(own.db)
      ).rows.map((r) => r.id);
    expect(await underNew('webhook_endpoints', 'secret_key_id')).toEqual([endpoints[2]]);
    expect(await underNew('key_pairs', 'master_key_id')).toEqual([keyPairs[2]]);
    expect(report.webhookSecrets.resealed).toBe(1);
    expect(report.rewrapped).toBe(1);
    // Every one not re-sealed is named, with why.
    expect(report.webhookSecrets.failed.map((f) => f.endpointId).sort()).toEqual([endpoints[0], endpoints[1]]);
    expect(report.failed.map((f) => f.keyPairId).sort()).toEqual([keyPairs[0], keyPairs[1]]);
    for (const f of [...report.failed, ...report.webhookSecrets.failed]) {
      expect(f.reason).toMatch(/refused by test trigger/);
    }
  });
});
