import { z } from 'zod';
import { ACCOUNT_STATUSES, type AccountStatus } from '../domain/types.ts';
import { maskAccount } from '../shared/logger.ts';
import { decodePgText } from '../shared/pg-text.ts';
import { isValidTimeZone } from '../shared/time.ts';
import type { AccountRow } from '../storage/accounts.repo.ts';
import { Id, Instant, iso } from './dto.ts';

/** Account DTOs (camelCase, ISO instants, the account number masked). */
export const TimeZone = z.string().min(1).max(64).refine(isValidTimeZone, 'unknown IANA time zone').meta({
  description: "IANA time zone of the account's business day, e.g. America/New_York",
  example: 'America/New_York',
});

export const AccountSchema = z
  .object({
    id: Id,
    organizationId: Id,
    integrationId: Id,
    // Responses never carry a full account number (security review): the last four digits tell
    // accounts apart; the full number stays in the database and goes only to J.P. Morgan.
    jpmAccountMasked: z
      .string()
      .meta({ example: '****6789', description: 'The J.P. Morgan account number, masked to its last four digits' }),
    bankId: z.string(),
    accountName: z.string(),
    currency: z.string(),
    decimalLocation: z
      .number()
      .int()
      .meta({ description: 'Minor-unit digits of the currency (2 for USD, 0 for JPY, 3 for KWD)' }),
    timeZone: z.string(),
    status: z.enum(ACCOUNT_STATUSES),
    statusReason: z.string().nullable(),
    scheduleOverride: z
      .object({ intradayRunsPerDay: z.number().int() })
      .nullable()
      .meta({ description: "The account's own schedule; null = its integration's intradayRunsPerDay" }),
    lastSyncedAt: Instant.nullable(),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .meta({ id: 'Account', description: 'A bank account at J.P. Morgan that we sync' });

export const DiscoveredAccountsSchema = z
  .object({
    data: z.array(AccountSchema),
    added: z.number().int().meta({ description: 'How many of them were new' }),
    accounts: z.array(AccountSchema).meta({ description: 'Same as `data` (the former field; kept for one release)' }),
  })
  .meta({ id: 'DiscoveredAccounts' });

function scheduleOverrideOf(value: unknown): { intradayRunsPerDay: number } | null {
  const runs = (value as { intradayRunsPerDay?: unknown } | null)?.intradayRunsPerDay;
  return typeof runs === 'number' ? { intradayRunsPerDay: runs } : null;
}

export function toAccountDto(a: AccountRow): z.input<typeof AccountSchema> {
  return {
    id: a.id,
    organizationId: a.organization_id,
    integrationId: a.integration_id,
    jpmAccountMasked: maskAccount(a.jpm_account_id),
    bankId: a.bank_id,
    accountName: decodePgText(a.account_name),
    currency: a.currency,
    decimalLocation: a.decimal_location,
    timeZone: a.time_zone,
    status: a.status as AccountStatus,
    statusReason: a.status_reason,
    scheduleOverride: scheduleOverrideOf(a.schedule_override),
    lastSyncedAt: iso(a.last_synced_at),
    createdAt: iso(a.created_at),
    updatedAt: iso(a.updated_at),
  };
}

/** Discovery's answer: the accounts as `data` and, for one more release, as `accounts`. */
export function toDiscoveredAccountsDto(found: {
  accounts: AccountRow[];
  added: number;
}): z.input<typeof DiscoveredAccountsSchema> {
  const accounts = found.accounts.map(toAccountDto);
  return { data: accounts, added: found.added, accounts };
}
