import { closeBidi, escapeHtml } from '../shared/html.ts';

/**
 * One message per milestone, in the customer's words: what happened, what happens next, what (if
 * anything) we need from them, and who to contact. Plain text and HTML from the same parts. The
 * inputs are stored with each delivery (notification_deliveries.params) and hold no secret and no
 * account number; links are made at send time (a review link is signed then, never stored).
 */
export const MILESTONES = [
  'request_received',
  'kickoff_scheduled',
  'csr_submitted',
  'security_admins_needed',
  'waiting_for_jpm',
  'approved',
  'data_flowing',
  'validation_report_ready',
  'live',
  'overdue',
  'certificate_expiring',
  'review_problem_reported',
] as const;
export type Milestone = (typeof MILESTONES)[number];

export interface Person {
  name: string;
  email: string;
}

export interface MessageParams {
  integrationName: string;
  organizationName: string;
  recipientName: string;
  /** Our account manager: named in every customer message as the person to contact. */
  accountManager: Person | null;
  /** When we expect the current step to be done (ISO timestamp), if known. */
  expectedBy?: string | null;
  stage?: string;
  daysOverdue?: number;
  /** `stage`: the current step is late; `process`: the whole onboarding is. */
  overdueKind?: 'stage' | 'process';
  certificate?: { commonName: string; environment: string; notAfter: string; daysLeft: number };
  report?: { id: string; periodFrom: string; periodTo: string };
  /** The recipient gets a review link (the controller, when validation passed). */
  reviewLinkId?: string | null;
  review?: { reviewerName: string; reviewerEmail: string; note: string; transactionCount: number; reportId: string };
}

export interface RenderContext {
  /** Absolute review URL for `reviewLinkId`, signed at send time. */
  reviewUrl?: string | undefined;
  /** Who to write to when no account manager is named (the From address). */
  fallbackContact: string;
}

export interface RenderedMessage {
  subject: string;
  text: string;
  html: string;
}

interface Parts {
  subject: string;
  /** Paragraphs: what happened. */
  body: string[];
  /** What we need from the reader, as a list (optional). */
  needed?: string[];
  next: string;
  link?: { label: string; url: string };
}

const DATE = new Intl.DateTimeFormat('en-GB', {
  weekday: 'long',
  day: 'numeric',
  month: 'long',
  year: 'numeric',
  timeZone: 'UTC',
});

export function formatDay(iso: string | null | undefined): string | null {
  if (!iso) {
    return null;
  }
  const d = new Date(iso.length === 10 ? `${iso}T12:00:00Z` : iso);
  return Number.isNaN(d.getTime()) ? null : DATE.format(d);
}

const STAGE_WORDS: Record<string, string> = {
  requested: 'reviewing your request',
  kickoff: 'the kickoff with J.P. Morgan',
  technical_setup: 'the technical set-up',
  security_admins: 'naming your security administrators',
  awaiting_approval: "J.P. Morgan's approval",
  approved: 'the first data',
  validating: 'checking your data',
  live: 'live',
};

const CSR_MADE = 'The private key never leaves our systems.';

/**
 * The first CSR belongs to the technical set-up; one made later replaces a CSR J.P. Morgan rejected (before approval)
 * or renews the certificate of an approved connection, and the customer must not read that onboarding starts over.
 */
function csrParts(stage: string | undefined): Pick<Parts, 'body' | 'next'> {
  const approval =
    "your security administrators may be asked to approve it in J.P. Morgan Access; we write again when J.P. Morgan's answer is in.";
  if (stage === 'security_admins' || stage === 'awaiting_approval') {
    return {
      body: [
        `We have prepared a new certificate request (CSR) for J.P. Morgan to sign; it replaces the earlier one. ${CSR_MADE}`,
      ],
      next: `J.P. Morgan reviews the new request; ${approval}`,
    };
  }
  if (stage === 'approved' || stage === 'validating' || stage === 'live') {
    return {
      body: [
        `We have prepared a certificate request (CSR) to renew the certificate that secures the connection to J.P. Morgan. ${CSR_MADE}`,
      ],
      next: `J.P. Morgan signs the new certificate and we install it; the current certificate keeps working until then, so nothing stops. Meanwhile ${approval}`,
    };
  }
  return {
    body: [
      `We have prepared the certificate request (CSR) that J.P. Morgan signs to secure the connection. ${CSR_MADE}`,
    ],
    next: 'Next we ask J.P. Morgan for access to transaction details and balances, and we will ask you to name your security administrators.',
  };
}

/** Late by whole days once a day has passed; on the day itself, the date it was due (never "0 days"). */
function overdueSentence(p: MessageParams): string {
  const days = p.daysOverdue ?? 0;
  const due = formatDay(p.expectedBy);
  if (p.overdueKind === 'process') {
    if (days >= 1) {
      return `Getting connected is taking longer than we planned: ${days} day(s) past the date we expected to be live${due ? ` (${due})` : ''}.`;
    }
    return `Getting connected is taking longer than we planned: we expected to be live by ${due ?? 'now'}.`;
  }
  const step = STAGE_WORDS[p.stage ?? ''] ?? p.stage ?? 'current step';
  if (days >= 1) {
    return `The step "${step}" is ${days} day(s) past the date we expected${due ? ` (${due})` : ''}.`;
  }
  return due
    ? `The step "${step}" was due by ${due} and is not done yet.`
    : `The step "${step}" is taking longer than we expected.`;
}

function expected(p: MessageParams, fallback: string): string {
  const day = formatDay(p.expectedBy);
  return day ? `We expect this by ${day}.` : fallback;
}

function parts(m: Milestone, p: MessageParams, ctx: RenderContext): Parts {
  const name = p.integrationName;
  switch (m) {
    case 'request_received':
      return {
        subject: `We have your request to connect ${name} to J.P. Morgan`,
        body: [`Thank you: we have received your request to bring your J.P. Morgan account data into ${name}.`],
        next: `We check that your J.P. Morgan Access account can use the API, then set up a kickoff call with your J.P. Morgan representative. ${expected(p, '')}`.trim(),
      };
    case 'kickoff_scheduled':
      return {
        subject: `${name}: kickoff with J.P. Morgan`,
        body: ['Your request is eligible, and the kickoff with J.P. Morgan is being arranged.'],
        next: `After the kickoff we register the connection with J.P. Morgan and prepare the certificate that secures it. ${expected(p, '')}`.trim(),
      };
    case 'csr_submitted':
      return { subject: `${name}: certificate request prepared for J.P. Morgan`, ...csrParts(p.stage) };
    case 'security_admins_needed':
      return {
        subject: `${name}: we need your J.P. Morgan Access security administrators`,
        body: [
          'J.P. Morgan only turns the connection on after a security administrator on your side approves it in J.P. Morgan Access.',
        ],
        needed: [
          'The name and work email of each person who is a Security Administrator in your J.P. Morgan Access profile.',
          'If your company needs two administrators to approve changes, both names: J.P. Morgan will ask each of them.',
          'That they look out for the approval request from J.P. Morgan Access and approve the API connection and its certificate.',
        ],
        next: `Reply with the names, or send them to your account manager. ${expected(p, '')}`.trim(),
      };
    case 'waiting_for_jpm': {
      const day = formatDay(p.expectedBy);
      return {
        subject: `${name}: waiting for J.P. Morgan's approval`,
        body: [
          'Everything J.P. Morgan asked for has been sent: the certificate request, the API access request and your security administrators.',
          day
            ? `J.P. Morgan usually answers within four weeks; we expect their approval by ${day}.`
            : 'J.P. Morgan usually answers within four weeks.',
        ],
        next: 'Nothing is needed from you unless J.P. Morgan Access asks your security administrators to approve something. We write again when J.P. Morgan has approved.',
      };
    }
    case 'approved':
      return {
        subject: `${name}: J.P. Morgan has approved the connection`,
        body: ['J.P. Morgan has approved the connection and issued its certificate.'],
        next: 'Next we choose the accounts to bring in and start fetching their transactions and balances.',
      };
    case 'data_flowing':
      return {
        subject: `${name}: your account data is arriving`,
        body: ['Transactions and balances from your J.P. Morgan accounts are now arriving.'],
        next: "We check every day's transactions against the bank's own closing balances. When the check passes, your controller gets a link to review the data and sign it off.",
      };
    case 'validation_report_ready': {
      const period = p.report
        ? ` for ${formatDay(p.report.periodFrom) ?? p.report.periodFrom} to ${formatDay(p.report.periodTo) ?? p.report.periodTo}`
        : '';
      return {
        subject: `${name}: your data passed our checks, please review it`,
        body: [`Every day's transactions${period} add up to the closing balances J.P. Morgan reported.`],
        ...(ctx.reviewUrl
          ? {
              needed: [
                'Please look through the data and tell us whether it is complete and accurate, or what is wrong.',
              ],
              link: { label: 'Review your data', url: ctx.reviewUrl },
              next: 'Your answer is recorded with the report you saw. Once you confirm the data, the connection can go live. The link works only for you and expires in 14 days.',
            }
          : p.reviewLinkId
            ? {
                next: 'Your account manager will send you a link to review the data and sign it off; the connection goes live after that.',
              }
            : {
                next: 'Your controller has been sent a link to review the data and sign it off; the connection goes live after that.',
              }),
      };
    }
    case 'live':
      return {
        subject: `${name} is live`,
        body: [`${name} is live: your J.P. Morgan transactions and balances now arrive every day.`],
        next: "We keep checking each day against the bank's balances and will tell you if anything needs your attention.",
      };
    case 'overdue':
      return {
        subject: `${name}: a step is taking longer than expected`,
        body: [overdueSentence(p)],
        next: 'Your account manager will be in touch about what is holding it up and what, if anything, we need from you.',
      };
    case 'certificate_expiring': {
      const c = p.certificate;
      return {
        subject: `${name}: J.P. Morgan certificate expires in ${c?.daysLeft ?? '?'} day(s)`,
        body: [
          `The ${c?.environment ?? ''} certificate ${c?.commonName ?? ''} of ${name} (${p.organizationName}) expires on ${formatDay(c?.notAfter) ?? 'an unknown date'}.`,
        ],
        needed: ['Generate a new CSR, have J.P. Morgan sign it, and install the new certificate before that date.'],
        next: 'Syncs stop when the certificate expires.',
      };
    }
    case 'review_problem_reported': {
      const r = p.review;
      return {
        subject: `${name}: the customer reported a problem with their data`,
        body: [
          `${r?.reviewerName ?? 'The customer'} (${r?.reviewerEmail ?? ''}) of ${p.organizationName} says something is wrong with the data of validation report ${r?.reportId ?? ''}.`,
          `Their note: "${r?.note ?? ''}"`,
          r && r.transactionCount > 0
            ? `They marked ${r.transactionCount} transaction(s); see the integration's customer reviews.`
            : 'They marked no transactions.',
        ],
        next: 'A follow-up is open on the integration until an operator resolves it.',
      };
    }
  }
}

function contactLine(p: MessageParams, ctx: RenderContext, internal: boolean): string {
  if (internal) {
    return '';
  }
  return p.accountManager
    ? `Questions? Contact your account manager, ${p.accountManager.name} (${p.accountManager.email}).`
    : `Questions? Reply to this email or write to ${ctx.fallbackContact}.`;
}

const INTERNAL: ReadonlySet<Milestone> = new Set(['certificate_expiring', 'review_problem_reported']);

/**
 * Every text of the params with the bidirectional controls it leaves open closed at its end (`closeBidi`): the values
 * are put into sentences, subjects and the plain text part, where an override left open by a name would reverse the
 * words after it (a date, our own words) to the end of the line.
 */
function closedParams<T>(value: T): T {
  if (typeof value === 'string') {
    return closeBidi(value) as T;
  }
  if (Array.isArray(value)) {
    return value.map(closedParams) as T;
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, closedParams(v)])) as T;
  }
  return value;
}

/**
 * The message for one recipient. Every value from the database or a customer is escaped in the HTML, and ends the
 * bidirectional controls it opens where it ends, in the subject and plain text as well.
 */
export function renderMessage(m: Milestone, params: MessageParams, ctx: RenderContext): RenderedMessage {
  const p = closedParams(params);
  const x = parts(m, p, ctx);
  const internal = INTERNAL.has(m);
  const greeting = `Hello ${p.recipientName},`;
  const contact = contactLine(p, ctx, internal);
  const text = [
    greeting,
    '',
    ...x.body.flatMap((b) => [b, '']),
    ...(x.needed ? ['What we need from you:', ...x.needed.map((n) => `- ${n}`), ''] : []),
    ...(x.link ? [`${x.link.label}: ${x.link.url}`, ''] : []),
    `What happens next: ${x.next}`,
    '',
    ...(contact ? [contact, ''] : []),
    internal ? 'jpm-sync' : 'The jpm-sync onboarding team',
  ].join('\n');
  const html = [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
    `<title>${escapeHtml(x.subject)}</title></head>`,
    '<body style="font-family:system-ui,sans-serif;line-height:1.5;color:#1a1a1a;max-width:40em;margin:0 auto;padding:1em">',
    `<p>${escapeHtml(greeting)}</p>`,
    ...x.body.map((b) => `<p>${escapeHtml(b)}</p>`),
    ...(x.needed
      ? [
          '<p><strong>What we need from you</strong></p><ul>',
          ...x.needed.map((n) => `<li>${escapeHtml(n)}</li>`),
          '</ul>',
        ]
      : []),
    ...(x.link
      ? [
          `<p><a href="${escapeHtml(x.link.url)}" style="display:inline-block;padding:.6em 1em;background:#0b5394;color:#fff;text-decoration:none;border-radius:4px">${escapeHtml(x.link.label)}</a></p>`,
        ]
      : []),
    `<p><strong>What happens next:</strong> ${escapeHtml(x.next)}</p>`,
    ...(contact ? [`<p>${escapeHtml(contact)}</p>`] : []),
    `<p>${escapeHtml(internal ? 'jpm-sync' : 'The jpm-sync onboarding team')}</p>`,
    '</body></html>',
  ].join('\n');
  return { subject: x.subject, text, html };
}
