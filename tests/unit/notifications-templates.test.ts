import { describe, expect, it } from 'vitest';
import {
  milestoneOf,
  MILESTONES,
  RECIPIENTS,
  renderMessage,
  type MessageParams,
} from '../../src/notifications/index.ts';

/**
 * Every milestone message, rendered as a customer (or our team) would get it: it says what happens
 * next, names whom to contact (customer messages), never shows a placeholder such as "undefined",
 * and never lets a name from the database become markup.
 */
const HOSTILE = 'Acme <img src=x onerror=alert(1)> & "Co"';

const PARAMS: MessageParams = {
  integrationName: HOSTILE,
  organizationName: HOSTILE,
  recipientName: 'Fiona <b>Finance</b>',
  accountManager: { name: 'Max Manager', email: 'max@jpm-sync.example' },
  expectedBy: '2027-01-03T10:00:00.000Z',
  stage: 'awaiting_approval',
  daysOverdue: 3,
  overdueKind: 'stage',
  certificate: { commonName: 'acme-prod', environment: 'prod', notAfter: '2027-01-05T00:00:00.000Z', daysLeft: 29 },
  report: { id: '01900000-0000-7000-8000-0000000000d0', periodFrom: '2026-11-02', periodTo: '2026-11-27' },
  reviewLinkId: '01900000-0000-7000-8000-0000000000e0',
  review: {
    reviewerName: 'Cora',
    reviewerEmail: 'cora@acme.example',
    note: 'fee <script>x</script> not ours',
    transactionCount: 2,
    reportId: '01900000-0000-7000-8000-0000000000d0',
  },
};
const CTX = { reviewUrl: 'https://sync.example/review/token', fallbackContact: 'onboarding@jpm-sync.example' };

describe('milestone messages', () => {
  it.each(MILESTONES.map((m) => [m]))(
    '%s: says what happens next, whom to contact, and escapes every value in HTML',
    (m) => {
      const msg = renderMessage(m, PARAMS, CTX);
      for (const part of [msg.subject, msg.text, msg.html]) {
        expect(part).not.toMatch(/undefined|NaN|\[object Object\]|\bnull\b/);
      }
      expect(msg.text).toContain('What happens next:');
      expect(msg.html).toContain('<strong>What happens next:</strong>');
      expect(msg.html).not.toContain('<img');
      expect(msg.html).not.toContain('<script');
      expect(msg.html).not.toContain('<b>Finance');
      const internal = RECIPIENTS[m].every((r) => r === 'account_manager');
      if (!internal) {
        expect(msg.text).toContain('Contact your account manager, Max Manager (max@jpm-sync.example).');
      }
    },
  );

  it('an overdue notice names the date it was due, and whole days late only once a day has passed', () => {
    const at = (overdueKind: 'stage' | 'process', daysOverdue: number) =>
      renderMessage('overdue', { ...PARAMS, overdueKind, daysOverdue }, CTX).text;
    expect(at('stage', 0)).toContain(`The step "J.P. Morgan's approval" was due by Sunday, 3 January 2027`);
    expect(at('process', 0)).toContain('we expected to be live by Sunday, 3 January 2027.');
    expect(at('stage', 3)).toContain('is 3 day(s) past the date we expected (Sunday, 3 January 2027).');
    expect(at('process', 3)).toContain('3 day(s) past the date we expected to be live (Sunday, 3 January 2027).');
    for (const kind of ['stage', 'process'] as const) {
      expect(at(kind, 0)).not.toContain('0 day(s)');
    }
  });

  it('without an account manager, customers are told to reply or write to the From address', () => {
    const msg = renderMessage('approved', { ...PARAMS, accountManager: null }, CTX);
    expect(msg.text).toContain('Reply to this email or write to onboarding@jpm-sync.example.');
  });

  it('asks security administrators for what J.P. Morgan needs, and dates the wait for J.P. Morgan', () => {
    expect(renderMessage('security_admins_needed', PARAMS, CTX).text).toMatch(
      /What we need from you:\r?\n- The name and work email of each person who is a Security Administrator/,
    );
    expect(renderMessage('waiting_for_jpm', PARAMS, CTX).text).toContain(
      'we expect their approval by Sunday, 3 January 2027.',
    );
    expect(renderMessage('waiting_for_jpm', { ...PARAMS, expectedBy: null }, CTX).text).not.toContain('we expect');
  });

  it('puts the review link only where there is one', () => {
    expect(renderMessage('validation_report_ready', PARAMS, CTX).text).toContain(
      'Review your data: https://sync.example/review/token',
    );
    const finance = renderMessage(
      'validation_report_ready',
      { ...PARAMS, reviewLinkId: null },
      { fallbackContact: CTX.fallbackContact },
    );
    expect(finance.text).not.toContain('/review/');
    expect(finance.text).toContain('Your controller has been sent a link');
  });

  it('maps outbox events to milestones: advances only, live once, nothing for pauses or unknown types', () => {
    const stage = (to: string, kind = 'advance') =>
      milestoneOf({ type: 'integration.stage_changed', payload: { to, kind, stageDueAt: null } })?.milestone ?? null;
    expect(
      [
        'kickoff',
        'technical_setup',
        'security_admins',
        'awaiting_approval',
        'approved',
        'validating',
        'live',
        'paused',
      ].map((s) => stage(s)),
    ).toEqual([
      'kickoff_scheduled',
      null,
      'security_admins_needed',
      'waiting_for_jpm',
      'approved',
      'data_flowing',
      null,
      null,
    ]);
    expect(stage('kickoff', 'resume')).toBeNull();
    expect(milestoneOf({ type: 'integration.live', payload: {} })?.milestone).toBe('live');
    expect(milestoneOf({ type: 'certificate.installed', payload: {} })).toBeNull();
  });
});
