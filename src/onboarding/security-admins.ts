import { z } from 'zod';
import { emailAddress } from '../shared/email.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import { createLogger } from '../shared/logger.ts';
import type { Database, Executor } from '../storage/db.ts';
import { findIntegrationLifecycle } from '../storage/integration-lifecycle.repo.ts';
import * as repo from '../storage/security-admins.repo.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('onboarding');

/**
 * J.P. Morgan's process needs a security administrator on each side: the customer's (who approves
 * access in J.P. Morgan Access) and ours (who manages the certificates). Both must be recorded
 * before an integration can await approval.
 */
export const SECURITY_ADMIN_SIDES = ['customer', 'ours'] as const;
export type SecurityAdminSide = (typeof SECURITY_ADMIN_SIDES)[number];

export interface SecurityAdminView {
  id: string;
  integrationId: string;
  side: SecurityAdminSide;
  name: string;
  email: string;
  role: string;
  createdAt: Date;
  updatedAt: Date;
}

const inputSchema = z.object({
  side: z.enum(SECURITY_ADMIN_SIDES),
  name: z.string().trim().min(1).max(200),
  email: emailAddress(),
  role: z.string().trim().min(1).max(200),
});

function view(row: repo.SecurityAdminRow): SecurityAdminView {
  return {
    id: row.id,
    integrationId: row.integration_id,
    side: row.side as SecurityAdminSide,
    name: row.name,
    email: row.email,
    role: row.role,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Records (or, for the same side and email, updates) a security administrator. */
export async function recordSecurityAdmin(
  db: Executor,
  input: { integrationId: string; side: SecurityAdminSide; name: string; email: string; role: string; actor: string },
): Promise<SecurityAdminView> {
  const parsed = inputSchema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError(
      'the security administrator is incomplete',
      parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  const integration = await findIntegrationLifecycle(db, input.integrationId);
  if (!integration) {
    throw new NotFoundError('integration', input.integrationId);
  }
  const row = await repo.upsertSecurityAdmin(db, {
    id: uuidv7(),
    organizationId: integration.organization_id,
    integrationId: integration.id,
    ...parsed.data,
  });
  log().info(
    { integrationId: integration.id, securityAdminId: row.id, side: row.side, actor: input.actor },
    'security administrator recorded',
  );
  return view(row);
}

export async function listSecurityAdmins(ex: Executor, integrationId: string): Promise<SecurityAdminView[]> {
  return (await repo.listSecurityAdmins(ex, integrationId)).map(view);
}

export async function removeSecurityAdmin(
  db: Database,
  input: { integrationId: string; securityAdminId: string; actor: string },
): Promise<void> {
  if (!(await repo.deleteSecurityAdmin(db, input.integrationId, input.securityAdminId))) {
    throw new NotFoundError('security administrator', input.securityAdminId);
  }
  log().info(
    { integrationId: input.integrationId, securityAdminId: input.securityAdminId, actor: input.actor },
    'security administrator removed',
  );
}
