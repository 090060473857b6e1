import { ONBOARDING_STAGES } from '../domain/types.ts';
import type { OnboardingOptions } from '../onboarding/index.ts';
import type { Database } from '../storage/db.ts';
import { createForm, factForm, moveForm } from './actions.ts';
import type { ApiClient, CallContext } from './api-client.ts';
import { html, type Html } from './html.ts';
import { BASE, daysSince, listPaging, stageLabel, when } from './layout.ts';
import { nextMove, type NextMove } from './next-move.ts';
import type { Session } from './session.ts';
import { mapLimited } from '../shared/concurrency.ts';

/** The integration fields the console reads (the API's Integration DTO). */
export interface IntegrationDto {
  id: string;
  organizationId: string;
  name: string;
  stage: string;
  pausedFromStage: string | null;
  environment: string;
  syncStatus: string;
  syncStatusReason: string | null;
  stageEnteredAt: string;
  stageDueAt: string | null;
  processDueAt: string | null;
  overdue: ('stage' | 'process')[];
  liveAt: string | null;
}

export interface PageDeps {
  api: ApiClient;
  db: Database;
  onboarding: OnboardingOptions;
  now(): Date;
}

const MAX_PAGES = 20;

/** Integrations per page of the board (the API's largest page); more page on with the API's cursor. */
const BOARD_PAGE_SIZE = 500;

/** Every page of a list route (bounded: the names of organizations, for hundreds of them, not millions). */
async function all<T>(
  deps: PageDeps,
  ctx: CallContext,
  path: string,
  query: Record<string, string> = {},
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page: { data: T[]; nextCursor: string | null } = await deps.api.call(ctx, 'get', path, {
      query: { ...query, limit: '500', ...(cursor ? { cursor } : {}) },
    });
    out.push(...page.data);
    cursor = page.nextCursor;
    if (cursor === null) {
      break;
    }
  }
  return out;
}

/**
 * Days in stage, due date and overdue flag, next move and what blocks it. A due date is an instant ("overdue" is its
 * passing), so it is shown as one, with its time and zone as every instant in the console: its UTC date alone read as
 * a whole day, and an integration could show "due" today beside "Overdue".
 */
export function onboardingSummary(i: IntegrationDto, move: NextMove | undefined, now: Date): Html {
  const overdue = i.overdue.length > 0;
  return html`
    <p class="meta">${daysSince(i.stageEnteredAt, now)} day(s) in ${stageLabel(i.stage)}${i.stageDueAt ? html` · due ${when(i.stageDueAt)}` : ''}
      ${i.processDueAt && !i.liveAt ? html` · live due ${when(i.processDueAt)}` : ''}
      ${overdue ? html` <span class="badge bad">Overdue (${i.overdue.join(' and ')})</span>` : ''}
      ${i.stage === 'paused' && i.pausedFromStage ? html` · paused from ${stageLabel(i.pausedFromStage)}` : ''}
      ${i.liveAt ? html` · live since ${when(i.liveAt)}` : ''}</p>
    ${
      move?.to
        ? move.failed.length === 0
          ? html`<p class="ready">Ready to move to ${stageLabel(move.to)}.</p>`
          : html`<p class="meta">Before it can move to ${stageLabel(move.to)}:</p>
        <ul class="blockers" aria-label="What blocks the move to ${stageLabel(move.to)}">${move.failed.map((f) => html`<li>${f.reason}</li>`)}</ul>`
        : ''
    }`;
}

/** The actions the role may take: the facts the next move still needs, and the move itself. */
export function onboardingActions(
  deps: PageDeps,
  session: Session,
  i: IntegrationDto,
  move: NextMove | undefined,
  back: string,
): Html {
  const p = session.principal;
  if (!move || !deps.api.allows(p, 'post', '/v1/integrations/{id}/stage')) {
    return html``;
  }
  const needed = [...new Set(move.failed.map((f) => f.guard))];
  return html`
    ${
      needed.length > 0
        ? html`<details><summary>Record what is missing (${needed.length})</summary>
      ${needed.map((g) => factForm(session, i.id, g, back))}</details>`
        : ''
    }
    ${moveForm(session, i.id, move.targets, back)}`;
}

function card(
  deps: PageDeps,
  session: Session,
  i: IntegrationDto,
  move: NextMove | undefined,
  now: Date,
  organization: string | undefined,
): Html {
  return html`<article class="card${i.overdue.length > 0 ? ' overdue' : ''}" data-integration-id="${i.id}" aria-labelledby="n-${i.id}">
    <h3 id="n-${i.id}"><a href="${BASE}/integrations/${i.id}">${i.name}</a></h3>
    <p class="meta">${organization ? html`${organization} · ` : ''}${i.environment} · sync ${i.syncStatus}${i.syncStatusReason ? html`: ${i.syncStatusReason}` : ''}</p>
    ${onboardingSummary(i, move, now)}
    ${onboardingActions(deps, session, i, move, `${BASE}/`)}
  </article>`;
}

export async function boardPage(
  deps: PageDeps,
  session: Session,
  ctx: CallContext,
  onlyOverdue: boolean,
  cursor?: string,
): Promise<Html> {
  const now = deps.now();
  const filter: Record<string, string> = onlyOverdue ? { overdue: 'true' } : {};
  const page: { data: IntegrationDto[]; nextCursor: string | null } = await deps.api.call(
    ctx,
    'get',
    '/v1/integrations',
    {
      query: { ...filter, limit: String(BOARD_PAGE_SIZE), ...(cursor ? { cursor } : {}) },
    },
  );
  const integrations = page.data;
  // Part of the board is never counted as all of it: a page that is not every integration says so and links on.
  const shown = listPaging({
    cursor,
    nextCursor: page.nextCursor,
    href: (c) => `${BASE}/?${new URLSearchParams({ ...filter, ...(c ? { cursor: c } : {}) }).toString()}`,
    label: 'Pages of integrations',
  });
  // A key for all organizations sees many customers: each card names its organization.
  const organizations =
    session.principal.organizationId === null
      ? new Map((await all<{ id: string; name: string }>(deps, ctx, '/v1/organizations')).map((o) => [o.id, o.name]))
      : new Map<string, string>();
  const moves = new Map(
    await mapLimited(
      integrations,
      4,
      async (i) => [i.id, await nextMove(deps.db, i.id, deps.onboarding, now)] as const,
    ),
  );
  const overdue = integrations.filter((i) => i.overdue.length > 0).length;
  const canCreate = deps.api.allows(session.principal, 'post', '/v1/integrations');
  const orgChoices =
    session.principal.organizationId === null ? [...organizations].map(([id, name]) => ({ id, name })) : undefined;
  return html`<h1>Onboarding board</h1>
    ${canCreate ? html`<details><summary>New integration</summary>${createForm(session, orgChoices)}</details>` : ''}
    <p>${integrations.length} integration(s)${shown.note}${overdue > 0 ? html`, <strong>${overdue} overdue</strong>` : ''}.
      ${onlyOverdue ? html`<a href="${BASE}/">Show all</a>` : html`<a href="${BASE}/?overdue=true">Show only overdue</a>`}</p>
    ${ONBOARDING_STAGES.map((stage) => {
      const here = integrations.filter((i) => i.stage === stage);
      return html`<section class="stage" id="stage-${stage}" aria-labelledby="h-${stage}">
        <h2 id="h-${stage}">${stageLabel(stage)} <span class="meta">(${here.length})</span></h2>
        ${here.length === 0 ? html`<p class="meta">None.</p>` : html`<div class="cards">${here.map((i) => card(deps, session, i, moves.get(i.id), now, organizations.get(i.organizationId)))}</div>`}
      </section>`;
    })}
    ${shown.pager}`;
}
