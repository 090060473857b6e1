import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { AppError } from '../shared/errors.ts';
import { cutText } from '../shared/pg-text.ts';
import type { Database } from '../storage/db.ts';
import { checkCsrf, csrfToken, type ReviewKeys } from './links.ts';
import { renderRefusedPage, renderReviewPage } from './page.ts';
import {
  MAX_LISTED,
  MAX_MARKED,
  MAX_NOTE,
  openLink,
  parseAnswer,
  recordAnswer,
  ReviewLinkRefused,
  reviewPageData,
  storableText,
} from './service.ts';

/**
 * The customer's review page at /review/<token>: no API key, the signed link is the credential.
 * GET shows the page; POST …/accurate and …/problem record the answer (form posts carrying a CSRF
 * token bound to the link) and redirect back (303), so a reload never posts twice. Responses are
 * never cached and never leak the token through a Referer.
 */
export interface ReviewRouterDeps {
  db: Database;
  keys: ReviewKeys;
  now?: () => Date;
}

const CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function send(res: Response, status: number, html: string): void {
  res
    .status(status)
    .type('text/html; charset=utf-8')
    .set({
      'Content-Security-Policy': CSP,
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'X-Robots-Tag': 'noindex',
    })
    .send(html);
}

function token(req: Request): string {
  const t = req.params.token;
  return typeof t === 'string' ? t : '';
}

function query(req: Request): string {
  const q = req.query.q;
  if (typeof q !== 'string') {
    return '';
  }
  // Cut between whole characters: half an emoji is text the page refuses.
  return cutText(q, 200);
}

async function page(
  deps: ReviewRouterDeps,
  req: Request,
  res: Response,
  extra: { status?: number; error?: string; note?: string } = {},
): Promise<void> {
  const link = await openLink(deps.db, deps.keys, token(req), deps.now?.() ?? new Date());
  const q = query(req);
  // A search for text Postgres cannot hold is not sent to it: the page without a search, saying why.
  const searchable = storableText(q);
  const data = await reviewPageData(deps.db, link, searchable ? q : '');
  const done = req.query.done === 'accurate' || req.query.done === 'problem' ? req.query.done : undefined;
  send(
    res,
    searchable ? (extra.status ?? 200) : 400,
    renderReviewPage(data, {
      csrf: csrfToken(deps.keys, link.id),
      path: `${req.baseUrl}/${encodeURIComponent(token(req))}`,
      done,
      error: searchable
        ? extra.error
        : 'The search text holds a character that cannot be searched for (NUL or half of a character); remove it.',
      // What the customer typed, back in the form, without what the page cannot show either.
      note: extra.note?.replaceAll('\u0000', '').toWellFormed(),
    }),
  );
}

function refused(res: Response, err: unknown): boolean {
  if (err instanceof ReviewLinkRefused) {
    send(res, err.httpStatus, renderRefusedPage(err.kind));
    return true;
  }
  return false;
}

export function reviewRouter(deps: ReviewRouterDeps): Router {
  const router = express.Router();
  router.get('/:token', async (req, res) => {
    try {
      await page(deps, req, res);
    } catch (err) {
      if (!refused(res, err)) {
        throw err;
      }
    }
  });
  const answer = (verdict: 'accurate' | 'problem') => async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    try {
      const link = await openLink(deps.db, deps.keys, token(req), deps.now?.() ?? new Date());
      if (!checkCsrf(deps.keys, link.id, body.csrf)) {
        send(res, 403, renderRefusedPage('invalid'));
        return;
      }
      try {
        await recordAnswer(deps.db, link, parseAnswer(verdict, body));
      } catch (err) {
        if (err instanceof AppError && err.httpStatus === 400) {
          await page(deps, req, res, {
            status: 400,
            error: err.message,
            note: typeof body.note === 'string' ? body.note : '',
          });
          return;
        }
        throw err;
      }
      res.redirect(303, `${req.baseUrl}/${encodeURIComponent(token(req))}?done=${verdict}`);
    } catch (err) {
      if (!refused(res, err)) {
        throw err;
      }
    }
  };
  // Room for every answer the page's form can send: a note of MAX_NOTE characters, each up to 9 bytes form-encoded
  // (a Chinese character is %XX%XX%XX), every listed transaction ticked, and the CSRF token. Beyond that (a forged
  // post) the customer still gets the page with a message, not the API's problem document.
  const parser = express.urlencoded({
    extended: false,
    limit: MAX_NOTE * 9 + MAX_LISTED * 64 + 4096,
    parameterLimit: MAX_LISTED + 8,
  });
  const form = (req: Request, res: Response, next: NextFunction) => {
    parser(req, res, (err?: unknown) => {
      const type = (err as { type?: unknown } | undefined)?.type;
      if (type !== 'entity.too.large' && type !== 'parameters.too.many') {
        next(err);
        return;
      }
      page(deps, req, res, {
        status: 413,
        error: `The answer is too long to send: keep the note under ${MAX_NOTE} characters and mark at most ${MAX_MARKED} transactions.`,
      }).catch((e: unknown) => {
        if (!refused(res, e)) {
          next(e);
        }
      });
    });
  };
  router.post('/:token/accurate', form, answer('accurate'));
  router.post('/:token/problem', form, answer('problem'));
  return router;
}
