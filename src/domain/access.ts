/**
 * Who may do what through the APIs: the role → permission table, in one place. Routes declare one
 * permission each (src/http/routes.ts); the auth middleware checks it against this table. Adding a
 * route family means adding its permissions here and deciding, in this table, which roles get them.
 */

export const API_KEY_ROLES = ['admin', 'operator', 'viewer'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

export const PERMISSIONS = [
  'organizations:read',
  'organizations:write',
  'integrations:read',
  'integrations:write',
  'accounts:read',
  'accounts:write',
  /** Find accounts by the bank's full account number (the answer still shows it masked). */
  'accounts:find_by_number',
  'syncs:read',
  'syncs:write',
  'events:read',
  /** Read API: transactions, balances, change feed. */
  'data:read',
  'webhooks:read',
  'webhooks:write',
  'api_keys:read',
  'api_keys:write',
  'audit:read',
  /** bull-board at /admin/queues (pause, retry, remove jobs); also needs a key valid for all organizations. */
  'queues:admin',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const READ: readonly Permission[] = [
  'organizations:read',
  'integrations:read',
  'accounts:read',
  'syncs:read',
  'events:read',
  'data:read',
  'webhooks:read',
];

/**
 * admin: everything. operator: runs the day-to-day work (integrations, accounts, syncs) and reads
 * everything a viewer reads. viewer: read only. Keys, audit, webhook changes and queues are
 * admin-only; every role may list webhook endpoints and deliveries (never their secrets).
 */
export const ROLE_PERMISSIONS: Readonly<Record<ApiKeyRole, ReadonlySet<Permission>>> = {
  admin: new Set(PERMISSIONS),
  operator: new Set<Permission>([
    ...READ,
    'integrations:write',
    'accounts:write',
    'accounts:find_by_number',
    'syncs:write',
  ]),
  viewer: new Set(READ),
};

export function roleAllows(role: ApiKeyRole, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission);
}

/** The authenticated caller of an API request. `organizationId` null = all organizations. */
export interface Principal {
  keyId: string;
  keyPrefix: string;
  name: string;
  role: ApiKeyRole;
  organizationId: string | null;
}
