import { uuidv7 } from '../../src/shared/ids.ts';
import type { Database } from '../../src/storage/db.ts';

/** Builders for onboarding tests: tenants and the rows other modules own (bank accounts). */
export async function createOrganization(db: Database, name = 'Acme Treasury'): Promise<string> {
  const id = uuidv7();
  await db.insertInto('organizations').values({ id, name }).execute();
  return id;
}

/** A configured bank account (what the admin API adds before validation starts). */
export async function addBankAccount(
  db: Database,
  integration: { id: string; organizationId: string },
  jpmAccountId = '000000012345678',
): Promise<string> {
  const id = uuidv7();
  await db
    .insertInto('bank_accounts')
    .values({
      id,
      organization_id: integration.organizationId,
      integration_id: integration.id,
      jpm_account_id: jpmAccountId,
      bank_id: '02100002',
      currency: 'USD',
      decimal_location: 2,
    })
    .execute();
  return id;
}

export const CSR_SUBJECT = {
  country: 'US',
  state: 'New York',
  locality: 'New York',
  organization: 'Acme Treasury Inc.',
  organizationalUnit: 'Treasury Ops',
};

export const ELIGIBLE = {
  jpmAccessAccount: true,
  notChaseConnect: true,
  jpmRepresentative: 'Rita Representative',
  signingAuthority: 'Sam Signer',
};
