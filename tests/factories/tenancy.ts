import { uuidv7 } from '../../src/shared/ids.ts';
import type { Database } from '../../src/storage/db.ts';

export interface Tenancy {
  organizationId: string;
  integrationId: string;
}

/** An organization with one integration pointing at `baseUrl` (the simulator in tests). */
export async function createTenancy(db: Database, opts: { baseUrl?: string; name?: string } = {}): Promise<Tenancy> {
  const organizationId = uuidv7();
  const integrationId = uuidv7();
  await db
    .insertInto('organizations')
    .values({ id: organizationId, name: opts.name ?? 'Acme Treasury' })
    .execute();
  await db
    .insertInto('integrations')
    .values({
      id: integrationId,
      organization_id: organizationId,
      name: 'Acme J.P. Morgan',
      environment: 'simulator',
      base_url: opts.baseUrl ?? 'https://127.0.0.1:1',
    })
    .execute();
  return { organizationId, integrationId };
}

export async function createAccount(
  db: Database,
  t: Tenancy,
  opts: {
    id?: string;
    jpmAccountId?: string;
    currency?: string;
    decimalLocation?: number;
    timeZone?: string;
    bankId?: string;
  } = {},
): Promise<{ id: string; organizationId: string; jpmAccountId: string }> {
  const id = opts.id ?? uuidv7();
  const jpmAccountId =
    opts.jpmAccountId ??
    `0000000${Math.floor(Math.random() * 1e8)
      .toString()
      .padStart(8, '0')}`;
  await db
    .insertInto('bank_accounts')
    .values({
      id,
      organization_id: t.organizationId,
      integration_id: t.integrationId,
      jpm_account_id: jpmAccountId,
      bank_id: opts.bankId ?? '02100002',
      currency: opts.currency ?? 'USD',
      decimal_location: opts.decimalLocation ?? 2,
      time_zone: opts.timeZone ?? 'America/New_York',
    })
    .execute();
  return { id, organizationId: t.organizationId, jpmAccountId };
}

/** The integration's move from testing to approved at `at`: where a report since approval starts. */
export async function recordApproval(db: Database, t: Tenancy, at: Date): Promise<void> {
  await db
    .insertInto('integration_transitions')
    .values({
      organization_id: t.organizationId,
      integration_id: t.integrationId,
      from_stage: 'testing',
      to_stage: 'approved',
      actor: 'test',
      created_at: at,
    })
    .execute();
}
