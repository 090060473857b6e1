import { describe, expect, it } from 'vitest';
import { recipientsOf } from '../../src/notifications/produce.ts';
import type { ContactRow } from '../../src/storage/contacts.repo.ts';

const at = new Date('2026-12-01T00:00:00Z');
const contact = (id: string, role: string, email: string): ContactRow => ({
  id,
  organization_id: 'org',
  integration_id: 'int',
  role,
  name: `Person ${id}`,
  email,
  created_by: 'test',
  created_at: at,
  updated_at: at,
  removed_at: null,
});
const base = { integrationName: 'Acme', organizationName: 'Acme Inc.' };

describe('recipientsOf', () => {
  it('mails an address once; a person who is both finance owner and controller gets it as the controller', () => {
    const contacts = [
      contact('1', 'finance_owner', 'Pat@Acme.example'),
      contact('2', 'controller', 'pat@acme.example'),
      contact('3', 'account_manager', 'am@us.example'),
    ];
    const out = recipientsOf('validation_report_ready', contacts, base);
    expect(out.map((r) => [r.contact.id, r.contact.role])).toEqual([['2', 'controller']]);
    expect(out[0]!.params.accountManager?.email).toBe('am@us.example');
  });

  it('keeps different people apart and leaves out roles the milestone is not for', () => {
    const contacts = [
      contact('1', 'finance_owner', 'fo@acme.example'),
      contact('2', 'controller', 'c@acme.example'),
      contact('3', 'account_manager', 'am@us.example'),
    ];
    expect(
      recipientsOf('validation_report_ready', contacts, base)
        .map((r) => r.contact.id)
        .sort(),
    ).toEqual(['1', '2']);
  });
});
