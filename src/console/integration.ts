import type { Queues } from '../scheduler/index.ts';
import { scheduleId } from '../scheduler/index.ts';
import { estimateBusinessDay } from '../domain/business-day.ts';
import { isSyncStopped, isUnscheduledStage } from '../domain/sync-rules.ts';
import { addDays, localDate, type IsoDate } from '../shared/time.ts';
import { listBankCalendarFacts } from '../storage/accounts.repo.ts';
import { buttonForm, contactForm, factForm, retireForm } from './actions.ts';
import type { CallContext } from './api-client.ts';
import { onboardingActions, onboardingSummary, type IntegrationDto, type PageDeps } from './board.ts';
import { html, type Html } from './html.ts';
import { BASE, csrfField, listPaging, stageLabel, when } from './layout.ts';
import type { AccountDto } from './data.ts';
import { nextMove } from './next-move.ts';
import { runProgress, type RunDto } from './runs.ts';
import type { Session } from './session.ts';
import { mapLimited } from '../shared/concurrency.ts';

/**
 * One integration: onboarding state and actions, the milestone timeline, certificates and key pairs,
 * accounts with their last and next sync, recent runs (live progress) and the re-sync form.
 */
export interface IntegrationPageDeps extends PageDeps {
  queues: Queues;
}

interface ListDto<T> {
  data: T[];
  nextCursor: string | null;
}
interface MilestoneDto {
  id: string;
  type: string;
  payload: Record<string, unknown>;
  createdAt: string;
}
interface CertificateDto {
  id: string;
  keyPairId: string;
  environment: string;
  subjectCn: string;
  serialNumber: string;
  notAfter: string;
  daysToExpiry: number;
  status: string;
  installedAt: string;
  retiredAt: string | null;
}
interface KeyPairDto {
  id: string;
  environment: string;
  commonName: string;
  algorithm: string;
  createdAt: string;
}
interface AdminDto {
  side: string;
  name: string;
  email: string;
  role: string;
}
interface ContactDto {
  role: string;
  name: string;
  email: string;
}
interface ReviewDto {
  id: string;
  reviewer: { name: string; email: string };
  verdict: 'accurate' | 'problem';
  note: string;
  followUp: { status: string } | null;
  createdAt: string;
}
interface EmailDto {
  milestone: string;
  recipientEmail: string;
  recipientRole: string;
  status: string;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  completedAt: string | null;
}

/**
 * What the customer was told and when: the milestone emails (and who receives them) when the
 * deployment has them; absent routes or permissions leave the section out.
 */
async function customerSide(
  deps: IntegrationPageDeps,
  session: Session,
  ctx: CallContext,
  id: string,
  back: string,
): Promise<Html> {
  const p = session.principal;
  if (
    !deps.api.allows(p, 'get', '/v1/integrations/{id}/milestone-emails') ||
    !deps.api.allows(p, 'get', '/v1/integrations/{id}/contacts')
  ) {
    return html``;
  }
  const [emails, contacts] = await Promise.all([
    deps.api.call<ListDto<EmailDto>>(ctx, 'get', '/v1/integrations/{id}/milestone-emails', {
      params: { id },
      query: { limit: '50' },
    }),
    deps.api.call<ListDto<ContactDto>>(ctx, 'get', '/v1/integrations/{id}/contacts', {
      params: { id },
      query: { limit: '100' },
    }),
  ]);
  const reviews = deps.api.allows(p, 'get', '/v1/integrations/{id}/customer-reviews')
    ? (
        await deps.api.call<ListDto<ReviewDto>>(ctx, 'get', '/v1/integrations/{id}/customer-reviews', {
          params: { id },
          query: { limit: '20' },
        })
      ).data
    : undefined;
  const label = (s: string) => s.replaceAll('_', ' ');
  return html`<section aria-labelledby="h-told"><h2 id="h-told">What the customer was told</h2>
    ${
      emails.data.length === 0
        ? html`<p class="meta">No milestone email yet.</p>`
        : html`<div class="table-wrap" tabindex="0" role="region" aria-label="Milestone emails"><table><caption class="skip">Milestone emails</caption>
      <thead><tr><th scope="col">When</th><th scope="col">Milestone</th><th scope="col">To</th><th scope="col">Status</th></tr></thead>
      <tbody>${emails.data.map(
        (
          e,
        ) => html`<tr><td>${when(e.completedAt ?? e.createdAt)}</td><td>${label(e.milestone)}</td><td>${e.recipientEmail} (${label(e.recipientRole)})</td>
        <td>${e.status}${e.status !== 'sent' && e.lastError ? html`: ${e.lastError}` : ''}${e.attempts > 1 ? html` (${e.attempts} attempts)` : ''}</td></tr>`,
      )}</tbody></table></div>`
    }
    ${
      reviews
        ? html`<h3>Customer review</h3>${
            reviews.length === 0
              ? html`<p class="meta">No answer from the customer yet.</p>`
              : html`<ul>${reviews.map(
                  (r) => html`<li>${when(r.createdAt)}: ${r.reviewer.name} answered
        <strong>${r.verdict === 'accurate' ? 'the data is complete and accurate' : 'something is wrong'}</strong>${r.note ? html`: “${r.note}”` : ''}
        ${r.followUp ? html` (follow-up ${r.followUp.status})` : ''}
        ${
          r.followUp?.status === 'open' &&
          deps.api.allows(p, 'post', '/v1/integrations/{id}/customer-reviews/{reviewId}/resolve')
            ? buttonForm(session, id, 'resolve-review', back, { reviewId: r.id }, 'Resolve the follow-up')
            : ''
        }</li>`,
                )}</ul>`
          }`
        : ''
    }
    <h3>Contacts</h3>
    ${contacts.data.length === 0 ? html`<p class="meta">Nobody is told yet.</p>` : html`<ul>${contacts.data.map((c) => html`<li>${label(c.role)}: ${c.name} (${c.email})</li>`)}</ul>`}
    ${deps.api.allows(p, 'post', '/v1/integrations/{id}/contacts') ? html`<details><summary>Add a contact</summary>${contactForm(session, id, back)}</details>` : ''}
  </section>`;
}

function milestoneText(m: MilestoneDto): string {
  const p = m.payload;
  const s = (k: string) => (typeof p[k] === 'string' ? p[k] : '');
  switch (m.type) {
    case 'integration.created':
      return 'Integration requested';
    case 'integration.stage_changed':
      return `Moved ${s('from') ? `from ${stageLabel(s('from'))} ` : ''}to ${stageLabel(s('to'))}${s('actor') ? ` by ${s('actor')}` : ''}${s('note') ? `: “${s('note')}”` : ''}`;
    case 'integration.live':
      return 'Live: data proved complete';
    case 'integration.overdue':
      return `Overdue${s('kind') ? ` (${s('kind')})` : ''}`;
    case 'credentials.csr_generated':
      return `CSR generated${s('commonName') ? ` for ${s('commonName')}` : ''}`;
    case 'certificate.installed':
      return `Certificate installed${s('notAfter') ? `, valid until ${s('notAfter').slice(0, 10)}` : ''}`;
    case 'certificate.retired':
      return 'Certificate retired';
    case 'certificate.expiring':
      return 'Certificate expiring soon';
    case 'certificate.expired':
      return 'Certificate expired';
    default:
      return m.type
        .replace(/^[a-z]+\./, '')
        .replaceAll('_', ' ')
        .replace(/^./, (c) => c.toUpperCase());
  }
}

async function nextScheduled(queues: Queues, accountId: string): Promise<number | undefined> {
  const queue = queues.queue('sync');
  const nexts = await Promise.all(
    (['intraday', 'prior_day'] as const).map(
      async (mode) => (await queue.getJobScheduler(scheduleId(accountId, mode)))?.next,
    ),
  );
  const times = nexts.filter((n): n is number => typeof n === 'number');
  return times.length === 0 ? undefined : Math.min(...times);
}

/** Who may do what on this page (the API's role table, asked through its routes). */
interface Acts {
  session: Session;
  integrationId: string;
  back: string;
  credentials: boolean;
  /** The integration is cancelled (final): no new key pair or certificate, no connection test, no sync. */
  cancelled: boolean;
  accounts: boolean;
  syncs: boolean;
}

function certificates(certs: CertificateDto[], keyPairs: KeyPairDto[], acts: Acts): Html {
  const active = certs.filter((c) => c.status === 'active');
  const rotation =
    active.length > 1
      ? 'Rotating: two certificates are active; retire the old one once J.P. Morgan uses the new one.'
      : active.length === 1
        ? active[0]!.daysToExpiry <= 30
          ? 'Due for rotation: generate a new CSR.'
          : 'One active certificate.'
        : 'No active certificate.';
  const { session, integrationId, back } = acts;
  return html`<section aria-labelledby="h-certs"><h2 id="h-certs">Certificates</h2><p>${rotation}</p>
    ${
      certs.length === 0
        ? html`<p class="meta">None installed.</p>`
        : html`<div class="table-wrap" tabindex="0" role="region" aria-label="Certificates"><table><caption class="skip">Certificates</caption>
      <thead><tr><th scope="col">Common Name</th><th scope="col">Environment</th><th scope="col">Status</th><th scope="col">Valid until</th><th scope="col">Expires in</th>${acts.credentials ? html`<th scope="col">Action</th>` : ''}</tr></thead>
      <tbody>${certs.map(
        (
          c,
        ) => html`<tr data-certificate-id="${c.id}"><td class="mono">${c.subjectCn}</td><td>${c.environment}</td><td>${c.status}</td><td>${c.notAfter.slice(0, 10)}</td>
        <td>${c.status === 'active' ? html`<span class="badge ${c.daysToExpiry <= 14 ? 'bad' : c.daysToExpiry <= 30 ? 'warn' : 'ok'}">${c.daysToExpiry} day(s)</span>` : '—'}</td>
        ${acts.credentials ? html`<td>${c.status === 'active' ? retireForm(session, integrationId, back, c.id, active.length === 1) : ''}</td>` : ''}</tr>`,
      )}</tbody></table></div>`
    }
    ${acts.credentials && !acts.cancelled && active.length > 0 ? buttonForm(session, integrationId, 'test-connection', back, {}, 'Test the connection to J.P. Morgan') : ''}
    <h3>Key pairs and CSRs</h3>
    ${
      keyPairs.length === 0
        ? html`<p class="meta">None generated.</p>`
        : html`<ul>${keyPairs.map(
            (
              k,
            ) => html`<li><span class="mono">${k.commonName}</span> (${k.environment}, ${k.algorithm}, ${when(k.createdAt)})
      · <a href="${BASE}/integrations/${integrationId}/key-pairs/${k.id}/csr" download>Download the CSR</a></li>`,
          )}</ul>`
    }
    ${
      acts.credentials && !acts.cancelled
        ? html`<details><summary>Generate a new key pair and CSR (rotation)</summary>${factForm(session, integrationId, 'csr_generated', back)}</details>
      <details><summary>Install a certificate</summary>${factForm(session, integrationId, 'active_certificate', back)}</details>`
        : ''
    }
  </section>`;
}

/**
 * Why an account gets no scheduled sync (the scheduler's own rule, domain/sync-rules.ts), or undefined when it gets
 * them. Its job schedulers are removed by a worker's reconcile a moment after the change, and until then Redis still
 * names a next run that will not sync: the page says what the rule says, not what Redis still holds.
 */
function unscheduledBecause(a: AccountDto, i: IntegrationDto): string | undefined {
  if (isUnscheduledStage(i.stage)) {
    return `the integration is ${i.stage}`;
  }
  if (isSyncStopped(i.syncStatus)) {
    return `syncs are stopped (${i.syncStatus})`;
  }
  return a.status === 'active' ? undefined : `the account is ${a.status}`;
}

function accountsTable(
  accounts: AccountDto[],
  next: Map<string, number | undefined>,
  acts: Acts,
  i: IntegrationDto,
): Html {
  if (accounts.length === 0) {
    return html`<p class="meta">No accounts yet.</p>`;
  }
  const { session, integrationId, back } = acts;
  return html`<div class="table-wrap" tabindex="0" role="region" aria-label="Accounts"><table><caption class="skip">Accounts</caption>
    <thead><tr><th scope="col">Account</th><th scope="col">Name</th><th scope="col">Currency</th><th scope="col">Status</th><th scope="col">Last sync</th><th scope="col">Next scheduled sync</th>${acts.accounts ? html`<th scope="col">Action</th>` : ''}</tr></thead>
    <tbody>${accounts.map((a) => {
      const n = next.get(a.id);
      const none = unscheduledBecause(a, i);
      const action =
        a.status === 'active'
          ? buttonForm(session, integrationId, 'pause-account', back, { accountId: a.id }, 'Pause')
          : a.status === 'removed'
            ? ''
            : buttonForm(session, integrationId, 'resume-account', back, { accountId: a.id }, 'Resume');
      return html`<tr data-account-id="${a.id}"><td><a href="${BASE}/accounts/${a.id}">${a.jpmAccountMasked}</a></td><td>${a.accountName}</td><td>${a.currency}</td>
        <td>${a.status}${a.statusReason ? html`: ${a.statusReason}` : ''}</td><td>${when(a.lastSyncedAt)}</td><td>${none ? `none: ${none}` : n === undefined ? '—' : when(new Date(n).toISOString())}</td>
        ${acts.accounts ? html`<td>${action}</td>` : ''}</tr>`;
    })}</tbody></table></div>`;
}

/** Accounts per page of the integration's list (the API's largest page); more page on with the API's cursor. */
const ACCOUNTS_PAGE_SIZE = 500;

/** The accounts the runs name: those on the page, and each other one fetched (a recent run names a few at most). */
async function accountsOfRuns(
  deps: PageDeps,
  ctx: CallContext,
  runs: readonly RunDto[],
  shown: readonly AccountDto[],
): Promise<AccountDto[]> {
  const known = new Set(shown.map((a) => a.id));
  const missing = [...new Set(runs.flatMap((r) => (r.accountId && !known.has(r.accountId) ? [r.accountId] : [])))];
  const fetched = await mapLimited(missing, 4, (accountId) =>
    deps.api.call<AccountDto>(ctx, 'get', '/v1/accounts/{id}', { params: { id: accountId } }),
  );
  return [...shown, ...fetched];
}

function runsTable(runs: RunDto[], accounts: AccountDto[], acts: Acts): Html {
  if (runs.length === 0) {
    return html`<p class="meta">No sync runs yet.</p>`;
  }
  const masked = new Map(accounts.map((a) => [a.id, a.jpmAccountMasked]));
  return html`<div class="table-wrap" tabindex="0" role="region" aria-label="Recent sync runs"><table><caption class="skip">Recent sync runs</caption>
    <thead><tr><th scope="col">Started</th><th scope="col">Account</th><th scope="col">Mode</th><th scope="col">Window</th><th scope="col">Progress</th>${acts.syncs ? html`<th scope="col">Action</th>` : ''}</tr></thead>
    <tbody>${runs.map(
      (
        r,
      ) => html`<tr data-run-id="${r.id}"><td>${when(r.createdAt)}</td><td>${r.accountId ? (masked.get(r.accountId) ?? r.accountId) : 'all'}</td>
      <td>${r.mode}</td><td>${r.window.from ?? ''}${r.window.to && r.window.to !== r.window.from ? html` to ${r.window.to}` : ''}</td><td>${runProgress(r)}</td>
      ${acts.syncs ? html`<td>${r.finishedAt === null ? buttonForm(acts.session, acts.integrationId, 'cancel-run', acts.back, { runId: r.id }, 'Cancel') : ''}</td>` : ''}</tr>`,
    )}</tbody></table></div>`;
}

/**
 * The earliest current business day among the accounts the re-sync form offers (the active ones, else all shown), each
 * as the bank last said it (`estimateBusinessDay`), so the form's default range ends on a day every one has closed.
 * Never the machine's UTC date: the bank decides business dates.
 */
async function earliestBusinessDay(deps: IntegrationPageDeps, accounts: AccountDto[], now: Date): Promise<IsoDate> {
  const active = accounts.filter((a) => a.status === 'active');
  const facts = await listBankCalendarFacts(
    deps.db,
    (active.length > 0 ? active : accounts).map((a) => a.id),
  );
  const days = facts.map((f) => estimateBusinessDay(f, now)).sort();
  return days[0] ?? localDate(now, accounts[0]?.timeZone ?? 'UTC');
}

/** The re-sync form, or why there is none: a paused or cancelled integration takes no sync (the API answers 409). */
async function resyncSection(
  deps: IntegrationPageDeps,
  session: Session,
  i: IntegrationDto,
  accounts: AccountDto[],
  now: Date,
): Promise<Html> {
  if (i.stage === 'cancelled') {
    return html`<p class="meta">Cancelled, which is final: no syncs. Create a new integration to sync these accounts again.</p>`;
  }
  if (i.stage === 'paused') {
    return html`<p class="meta">Paused: no syncs, scheduled or re-synced, until the integration is resumed.</p>`;
  }
  return html`<h3>Re-sync a range</h3>${resyncForm(session, i.id, accounts, await earliestBusinessDay(deps, accounts, now))}`;
}

function resyncForm(session: Session, integrationId: string, accounts: AccountDto[], today: string): Html {
  return html`<form method="post" action="${BASE}/integrations/${integrationId}/resync" class="inline">${csrfField(session)}
    <div class="field"><label for="rs-account">Account</label><select id="rs-account" name="accountId"><option value="">every active account</option>
      ${accounts.filter((a) => a.status === 'active').map((a) => html`<option value="${a.id}">${a.jpmAccountMasked} ${a.currency}</option>`)}</select></div>
    <div class="field"><label for="rs-from">From</label><input id="rs-from" name="from" type="date" required value="${addDays(today, -7)}"></div>
    <div class="field"><label for="rs-to">To</label><input id="rs-to" name="to" type="date" required value="${addDays(today, -1)}"></div>
    <button type="submit">Re-sync range</button></form>`;
}

export async function integrationPage(
  deps: IntegrationPageDeps,
  session: Session,
  ctx: CallContext,
  id: string,
  accountsCursor?: string,
): Promise<{ title: string; body: Html }> {
  const now = deps.now();
  const params = { id };
  const i: IntegrationDto = await deps.api.call(ctx, 'get', '/v1/integrations/{id}', { params });
  const [events, certs, keyPairs, admins, accounts, runs] = await Promise.all([
    deps.api.call<ListDto<MilestoneDto>>(ctx, 'get', '/v1/integrations/{id}/events', {
      params,
      query: { limit: '200' },
    }),
    deps.api.call<ListDto<CertificateDto>>(ctx, 'get', '/v1/integrations/{id}/certificates', {
      params,
      query: { limit: '100' },
    }),
    deps.api.call<ListDto<KeyPairDto>>(ctx, 'get', '/v1/integrations/{id}/key-pairs', {
      params,
      query: { limit: '100' },
    }),
    deps.api.call<ListDto<AdminDto>>(ctx, 'get', '/v1/integrations/{id}/security-admins', {
      params,
      query: { limit: '100' },
    }),
    deps.api.call<ListDto<AccountDto>>(ctx, 'get', '/v1/accounts', {
      query: {
        integrationId: id,
        limit: String(ACCOUNTS_PAGE_SIZE),
        ...(accountsCursor ? { cursor: accountsCursor } : {}),
      },
    }),
    deps.api.call<ListDto<RunDto>>(ctx, 'get', '/v1/sync-runs', { query: { integrationId: id, limit: '10' } }),
  ]);
  const move = await nextMove(deps.db, id, deps.onboarding, now);
  const accountsShown = listPaging({
    cursor: accountsCursor,
    nextCursor: accounts.nextCursor,
    href: (cursor) => `${BASE}/integrations/${id}${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}#h-acc`,
    label: 'Pages of accounts',
  });
  // A run of an account on another page of the list is still named by its masked number.
  const runAccounts = await accountsOfRuns(deps, ctx, runs.data, accounts.data);
  const next = new Map(
    await mapLimited(accounts.data, 16, async (a) => [a.id, await nextScheduled(deps.queues, a.id)] as const),
  );
  const back = `${BASE}/integrations/${id}`;
  const canWrite = deps.api.allows(session.principal, 'post', '/v1/integrations/{id}/stage');
  const canSync = deps.api.allows(session.principal, 'post', '/v1/integrations/{id}/sync-runs');
  const acts: Acts = {
    session,
    integrationId: id,
    back,
    credentials: canWrite,
    cancelled: i.stage === 'cancelled',
    syncs: canSync,
    accounts: deps.api.allows(session.principal, 'post', '/v1/accounts/{id}/pause'),
  };
  const body = html`<p><a href="${BASE}/">← Onboarding board</a></p>
    <h1>${i.name} <span class="badge ${i.overdue.length > 0 ? 'bad' : 'ok'}">${stageLabel(i.stage)}</span></h1>
    <p class="meta">${i.environment} · sync ${i.syncStatus}${i.syncStatusReason ? html`: ${i.syncStatusReason}` : ''}</p>
    <div class="grid2">
      <section aria-labelledby="h-onb"><h2 id="h-onb">Onboarding</h2>
        ${onboardingSummary(i, move, now)}
        ${onboardingActions(deps, session, i, move, back)}
        ${canWrite && move?.to && !move.failed.some((f) => f.guard === 'security_admins_recorded') ? html`<details><summary>Record a security administrator</summary>${factForm(session, id, 'security_admins_recorded', back)}</details>` : ''}
        ${admins.data.length > 0 ? html`<h3>Security administrators</h3><ul>${admins.data.map((a) => html`<li>${a.side}: ${a.name} (${a.role}, ${a.email})</li>`)}</ul>` : ''}
      </section>
      <section aria-labelledby="h-ms"><h2 id="h-ms">Milestones</h2>
        ${events.data.length === 0 ? html`<p class="meta">None yet.</p>` : html`<ol class="timeline">${events.data.map((m) => html`<li><time datetime="${m.createdAt}">${when(m.createdAt)}</time>${milestoneText(m)}</li>`)}</ol>`}
      </section>
    </div>
    ${await customerSide(deps, session, ctx, id, back)}
    ${certificates(certs.data, keyPairs.data, acts)}
    <section aria-labelledby="h-acc"><h2 id="h-acc">Accounts (${accounts.data.length}${accountsShown.note})</h2>${accountsTable(accounts.data, next, acts, i)}${accountsShown.pager}</section>
    <section aria-labelledby="h-runs"><h2 id="h-runs">Recent sync runs</h2>${runsTable(runs.data, runAccounts, acts)}
      ${canSync && accounts.data.length > 0 ? await resyncSection(deps, session, i, accounts.data, now) : ''}</section>`;
  return { title: i.name, body };
}
