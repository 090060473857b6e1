import type { GuardName } from '../onboarding/index.ts';
import { html, type Html } from './html.ts';
import { BASE, csrfField, stageLabel } from './layout.ts';
import type { Session } from './session.ts';

/**
 * The console's onboarding actions: for each, the form a person fills in and the API route it
 * becomes. The form's fields are mapped to the route's JSON body as they are (empty fields left
 * out); the route's own schema judges them, so what a person is told is what the API says.
 */
export type Form = Record<string, string | undefined>;

export interface Action {
  path: string;
  /** The route's path parameters (default: the integration's id). The route checks the scope of each. */
  params?(form: Form, integrationId: string): Record<string, string>;
  /** The route's body from the form's fields. */
  body(form: Form): unknown;
  done(result: unknown, form: Form): string;
  /**
   * Why the console does not send the form although the key may (a confirmation not ticked), or undefined. Asked only
   * of a key the route permits, so a key without the permission hears the API's refusal.
   */
  refuse?(form: Form): string | undefined;
  /** Whether the answer, although the call succeeded, reports a failure (a connection test that failed). */
  failed?(result: unknown): boolean;
  /** An optional link shown with the confirmation (e.g. the CSR download). */
  link?(result: unknown, integrationId: string): { href: string; text: string } | undefined;
}

const text = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v.trim());
const yesNo = (v: string | undefined): boolean | undefined => (v === 'yes' ? true : v === 'no' ? false : undefined);
const compact = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

export const ACTIONS: Record<string, Action> = {
  eligibility: {
    path: '/v1/integrations/{id}/eligibility',
    body: (f) =>
      compact({
        jpmAccessAccount: yesNo(f.jpmAccessAccount),
        notChaseConnect: yesNo(f.notChaseConnect),
        jpmRepresentative: text(f.jpmRepresentative),
        signingAuthority: text(f.signingAuthority),
      }),
    done: () => 'Eligibility answers recorded.',
  },
  'jpm-project': {
    path: '/v1/integrations/{id}/jpm-project',
    body: (f) => ({ projectId: f.projectId ?? '' }),
    done: () => 'J.P. Morgan project recorded.',
  },
  'api-access': {
    path: '/v1/integrations/{id}/api-access',
    body: (f) => ({ status: f.status }),
    done: (_r, f) =>
      f.status === 'confirmed'
        ? 'API access recorded as confirmed by J.P. Morgan.'
        : 'API access recorded as requested.',
  },
  'security-admin': {
    path: '/v1/integrations/{id}/security-admins',
    body: (f) => ({ side: f.side, name: f.name ?? '', email: f.email ?? '', role: f.role ?? '' }),
    done: (_r, f) => `Security administrator recorded (${f.side === 'customer' ? 'customer' : 'provider'} side).`,
  },
  'key-pair': {
    path: '/v1/integrations/{id}/key-pairs',
    body: (f) => ({
      subject: compact({
        country: f.country ?? '',
        organization: f.organization ?? '',
        commonName: text(f.commonName),
      }),
    }),
    done: () => 'Key pair and CSR generated. The private key is sealed and never leaves the service.',
    link: (r, id) => ({
      href: `${BASE}/integrations/${id}/key-pairs/${(r as { id: string }).id}/csr`,
      text: 'Download the CSR',
    }),
  },
  certificate: {
    path: '/v1/integrations/{id}/certificates',
    body: (f) => compact({ certificatePem: f.certificatePem ?? '', chainPem: text(f.chainPem) }),
    done: (r) => `Certificate installed (valid until ${String((r as { notAfter: string }).notAfter).slice(0, 10)}).`,
  },
  discover: {
    path: '/v1/integrations/{id}/accounts/discover',
    body: (f) => compact({ timeZone: text(f.timeZone) }),
    done: (r) =>
      `Accounts discovered at J.P. Morgan: ${(r as { data: unknown[] }).data.length}, of which ${(r as { added: number }).added} new.`,
  },
  validation: {
    path: '/v1/integrations/{id}/validations',
    body: (f) => compact({ from: text(f.from), to: text(f.to) }),
    done: (r) => {
      const report = r as { passed?: boolean; status?: string; reasons?: string[] };
      return report.passed
        ? 'Validation report passed.'
        : `Validation report did not pass: ${(report.reasons ?? []).slice(0, 3).join('; ') || report.status || ''}`;
    },
  },
  contact: {
    path: '/v1/integrations/{id}/contacts',
    body: (f) => ({ role: f.role, name: f.name ?? '', email: f.email ?? '' }),
    done: (_r, f) => `${f.name ?? 'Contact'} will be told about the milestones.`,
  },
  'test-connection': {
    path: '/v1/integrations/{id}/test-connection',
    body: () => ({}),
    failed: (r) => !(r as { ok: boolean }).ok,
    done: (r) => {
      const t = r as {
        ok: boolean;
        failure: string | null;
        entitledAccounts: number | null;
        steps: { step: string; ok: boolean; detail: string | null }[];
      };
      const failed = t.steps.find((s) => !s.ok);
      return t.ok
        ? `Connection to J.P. Morgan works: ${t.entitledAccounts ?? 0} entitled account(s).`
        : `Connection test failed: ${t.failure ?? 'unknown'}${failed ? ` at the ${failed.step} step${failed.detail ? ` (${failed.detail})` : ''}` : ''}.`;
    },
  },
  'retire-certificate': {
    path: '/v1/integrations/{id}/certificates/{certificateId}/retire',
    params: (f, id) => ({ id, certificateId: f.certificateId ?? '' }),
    // Forced only when the person ticked it: the API refuses to retire the last usable certificate of a syncing
    // integration otherwise.
    body: (f) => (f.force === 'yes' ? { force: true } : {}),
    done: () => 'Certificate retired.',
  },
  'pause-account': {
    path: '/v1/accounts/{id}/pause',
    params: (f) => ({ id: f.accountId ?? '' }),
    body: () => ({}),
    done: (r) =>
      `Account ${(r as { jpmAccountMasked: string }).jpmAccountMasked} paused: no syncs until it is resumed.`,
  },
  'resume-account': {
    path: '/v1/accounts/{id}/resume',
    params: (f) => ({ id: f.accountId ?? '' }),
    body: () => ({}),
    done: (r) => `Account ${(r as { jpmAccountMasked: string }).jpmAccountMasked} resumed.`,
  },
  'cancel-run': {
    path: '/v1/sync-runs/{id}/cancel',
    params: (f) => ({ id: f.runId ?? '' }),
    body: () => ({}),
    done: () => 'Run cancelled: windows not started are cancelled, a running one finishes its page.',
  },
  'resolve-review': {
    path: '/v1/integrations/{id}/customer-reviews/{reviewId}/resolve',
    params: (f, id) => ({ id, reviewId: f.reviewId ?? '' }),
    body: () => ({}),
    done: () => 'Follow-up resolved.',
  },
  stage: {
    path: '/v1/integrations/{id}/stage',
    body: (f) => compact({ to: f.to, note: text(f.note) }),
    // Cancelling is final and sits in the same list as the next stage (the only choice of some paused ones): it is
    // done only when the person ticked the confirmation the form puts next to it.
    refuse: (f) =>
      f.to === 'cancelled' && f.confirmFinal !== 'yes'
        ? 'Cancelling an integration is final (it never syncs again): tick the confirmation to cancel it.'
        : undefined,
    done: (r) => `Moved to ${stageLabel((r as { stage: string }).stage)}.`,
  },
};

/** A form posting to one action of one integration; `back` is where the answer lands. */
function actionForm(
  session: Session,
  integrationId: string,
  action: string,
  back: string,
  fields: Html,
  button: string,
  cls = '',
): Html {
  return html`<form method="post" action="${BASE}/integrations/${integrationId}/actions/${action}" class="${cls}">
    ${csrfField(session)}<input type="hidden" name="_back" value="${back}">${fields}<button type="submit">${button}</button></form>`;
}

let seq = 0;
/** Ids unique within a page, so every label points at its own field. */
function uid(name: string): string {
  seq = (seq + 1) % 1_000_000;
  return `f${seq}-${name}`;
}

function input(
  name: string,
  label: string,
  opts: { type?: string; required?: boolean; hint?: string; value?: string; autocomplete?: string } = {},
): Html {
  const id = uid(name);
  return html`<div class="field"><label for="${id}">${label}${opts.hint ? html` <span class="hint">(${opts.hint})</span>` : ''}</label>
    <input id="${id}" name="${name}" type="${opts.type ?? 'text'}" ${opts.required ? html`required` : ''} value="${opts.value ?? ''}" autocomplete="${opts.autocomplete ?? 'off'}"></div>`;
}

function checkbox(name: string, label: string): Html {
  const id = uid(name);
  return html`<div class="field"><input id="${id}" type="checkbox" name="${name}" value="yes"><label for="${id}">${label}</label></div>`;
}

function select(name: string, label: string, options: readonly (readonly [string, string])[]): Html {
  const id = uid(name);
  return html`<div class="field"><label for="${id}">${label}</label><select id="${id}" name="${name}">
    ${options.map(([v, t]) => html`<option value="${v}">${t}</option>`)}</select></div>`;
}

function textarea(name: string, label: string, hint: string, required = false, file?: string): Html {
  const id = uid(name);
  // A PEM may also be chosen as a file: static/console.js reads it into the text area (the form still posts text).
  const picker = file
    ? html`<label class="file" for="${id}-file">${file}</label>
    <input type="file" id="${id}-file" data-fills="${id}" accept=".pem,.crt,.cer,text/plain">`
    : '';
  return html`<div class="field"><label for="${id}">${label} <span class="hint">(${hint})</span></label>
    <textarea id="${id}" name="${name}" ${required ? html`required` : ''} spellcheck="false"></textarea>${picker}</div>`;
}

/** The form that records what a failed guard needs. */
export function factForm(session: Session, integrationId: string, guard: GuardName, back: string): Html {
  const yes = [
    ['', 'not answered'],
    ['yes', 'yes'],
    ['no', 'no'],
  ] as const;
  switch (guard) {
    case 'eligibility_complete':
      return actionForm(
        session,
        integrationId,
        'eligibility',
        back,
        html`
        ${select('jpmAccessAccount', 'Has a J.P. Morgan Access account', yes)}
        ${select('notChaseConnect', 'The account is not Chase Connect', yes)}
        ${input('jpmRepresentative', 'J.P. Morgan representative')}
        ${input('signingAuthority', 'Person with signing authority')}`,
        'Record eligibility',
      );
    case 'jpm_project_recorded':
      return actionForm(
        session,
        integrationId,
        'jpm-project',
        back,
        input('projectId', 'Developer-portal project id', { required: true }),
        'Record project',
      );
    case 'csr_generated':
      return actionForm(
        session,
        integrationId,
        'key-pair',
        back,
        html`
        ${input('country', 'Country', { hint: 'two letters, e.g. US', required: true })}
        ${input('organization', 'Organization', { required: true })}
        ${input('commonName', 'Common Name', { hint: 'optional; derived from the integration name' })}`,
        'Generate key pair and CSR',
      );
    case 'api_access_requested':
    case 'api_access_confirmed': {
      const status = guard === 'api_access_requested' ? 'requested' : 'confirmed';
      return actionForm(
        session,
        integrationId,
        'api-access',
        back,
        html`<input type="hidden" name="status" value="${status}">`,
        status === 'requested' ? 'Record: API access requested' : 'Record: J.P. Morgan confirmed API access',
      );
    }
    case 'security_admins_recorded':
      return actionForm(
        session,
        integrationId,
        'security-admin',
        back,
        html`
        ${select('side', 'Side', [
          ['customer', 'customer'],
          ['provider', 'provider (us)'],
        ])}
        ${input('name', 'Name', { required: true })}${input('email', 'Email', { type: 'email', required: true })}${input('role', 'Role', { required: true })}`,
        'Record administrator',
      );
    case 'active_certificate':
      return actionForm(
        session,
        integrationId,
        'certificate',
        back,
        html`
        ${textarea('certificatePem', 'Certificate', 'PEM, as J.P. Morgan issued it', true, 'Or choose the certificate file')}
        ${textarea('chainPem', 'Chain', 'PEM, optional', false, 'Or choose the chain file')}`,
        'Install certificate',
      );
    case 'accounts_configured':
      return actionForm(
        session,
        integrationId,
        'discover',
        back,
        input('timeZone', 'Time zone of new accounts', { hint: 'IANA, default America/New_York' }),
        'Discover accounts at J.P. Morgan',
      );
    case 'customer_signed_off':
      return html`<p class="hint">The customer's controller confirms the data through the review link sent when validation passed.</p>`;
    case 'validation_passed':
      return actionForm(
        session,
        integrationId,
        'validation',
        back,
        html`
        ${input('from', 'From', { type: 'date', hint: 'optional' })}${input('to', 'To', { type: 'date', hint: 'optional' })}`,
        'Run a validation report',
        'inline',
      );
    default:
      // A guard the console has no form for yet: the refusal reason still says what is missing.
      return html``;
  }
}

/** A one-button form (pause, resume, retire, cancel…) carrying the ids it acts on. */
export function buttonForm(
  session: Session,
  integrationId: string,
  action: string,
  back: string,
  hidden: Record<string, string>,
  label: string,
): Html {
  return actionForm(
    session,
    integrationId,
    action,
    back,
    html`${Object.entries(hidden).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}`,
    label,
    'inline',
  );
}

/**
 * Retiring a certificate. The only active one (its integration would have none left) carries the confirmation the API
 * asks for before it strands a syncing integration (`force`): a compromised certificate can still be retired at once.
 */
export function retireForm(
  session: Session,
  integrationId: string,
  back: string,
  certificateId: string,
  only: boolean,
): Html {
  return actionForm(
    session,
    integrationId,
    'retire-certificate',
    back,
    html`<input type="hidden" name="certificateId" value="${certificateId}">${
      only
        ? checkbox('force', 'Even though it is the only active certificate: syncs stop until a new one is installed')
        : ''
    }`,
    'Retire',
    'inline',
  );
}

/** A new integration (starts in `requested`); a key for all organizations picks the organization. */
export function createForm(session: Session, organizations: readonly { id: string; name: string }[] | undefined): Html {
  return html`<form method="post" action="${BASE}/integrations">${csrfField(session)}
    ${
      organizations
        ? select(
            'organizationId',
            'Organization',
            organizations.map((o) => [o.id, o.name] as const),
          )
        : ''
    }
    ${input('name', 'Name', { required: true })}
    ${select('environment', 'Environment', [
      ['cat', 'cat (J.P. Morgan test)'],
      ['prod', 'prod'],
      ['simulator', 'simulator'],
    ])}
    ${input('baseUrl', 'Base URL', { hint: 'only for the simulator or an approved gateway' })}
    ${textarea('serverCaPem', 'Server CA', 'PEM, only for the simulator or a test gateway')}
    <button type="submit">Create integration</button></form>`;
}

/** Who the customer's milestone emails go to (roles as the contacts API names them). */
export function contactForm(session: Session, integrationId: string, back: string): Html {
  return actionForm(
    session,
    integrationId,
    'contact',
    back,
    html`
    ${select('role', 'Role', [
      ['finance_owner', "customer's finance owner"],
      ['security_admin', "customer's security administrator"],
      ['controller', "customer's controller"],
      ['account_manager', 'our account manager'],
    ])}
    ${input('name', 'Name', { required: true })}${input('email', 'Email', { type: 'email', required: true })}`,
    'Add contact',
  );
}

export function moveForm(session: Session, integrationId: string, targets: readonly string[], back: string): Html {
  if (targets.length === 0) {
    return html``;
  }
  return actionForm(
    session,
    integrationId,
    'stage',
    back,
    html`
    ${select(
      'to',
      'Move to',
      targets.map((t) => [t, stageLabel(t)] as const),
    )}
    ${input('note', 'Note', { hint: 'optional' })}
    ${targets.includes('cancelled') ? checkbox('confirmFinal', 'If cancelling: I understand it is final (the integration never syncs again)') : ''}`,
    'Move',
    'inline',
  );
}
