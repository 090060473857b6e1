import type { RequestHandler, Router } from 'express';
import { apiKeyPrefix } from '../http/api-key-token.ts';
import { authenticateKey, UnauthenticatedError, type ApiKeyStore } from '../http/auth.ts';
import type { AuthThrottle } from '../http/auth-throttle.ts';
import { requestContext } from '../http/request-context.ts';
import { html, type Html } from './html.ts';
import { BASE } from './layout.ts';
import { formOf, send } from './respond.ts';
import { randomToken, readCookie, sameToken, type SessionStore } from './session.ts';

/** The sign-in form: an API key (as for the API) becomes a console session. */
export function signInPage(csrf: string): Html {
  return html`<div class="signin"><h1>Sign in</h1>
    <p>Sign in with your jpm-sync API key. The console acts with your key's role and organization, exactly as the API does;
      the key is checked on every page, so revoking it ends the session.</p>
    <form method="post" action="${BASE}/sign-in">
      <input type="hidden" name="_csrf" value="${csrf}">
      <div class="field"><label for="apiKey">API key <span class="hint">(jpms_…)</span></label>
        <input id="apiKey" name="apiKey" type="password" required autocomplete="off" spellcheck="false"></div>
      <button type="submit">Sign in</button>
    </form></div>`;
}

export interface SignInDeps {
  sessions: SessionStore;
  apiKeys: ApiKeyStore;
  authThrottle: AuthThrottle | undefined;
  forms: RequestHandler;
}

/**
 * GET and POST /sign-in. The key is checked as the API checks it (a wrong one counts against the
 * same failed-authentication throttle); a right one gets a fresh session. Before there is a session,
 * a double-submit token (cookie + field) stands in for the session's CSRF token.
 */
export function signInRoutes(router: Router, deps: SignInDeps): void {
  const { sessions, forms } = deps;
  router.get('/sign-in', (_req, res) => {
    const token = randomToken();
    sessions.cookie(res, sessions.preCookieName, token, 3_600_000);
    send(res, 200, 'Sign in', signInPage(token));
  });

  router.post('/sign-in', forms, async (req, res) => {
    const form = formOf(req);
    const retry = (status: number, message: string) => {
      const token = randomToken();
      sessions.cookie(res, sessions.preCookieName, token, 3_600_000);
      send(res, status, 'Sign in', signInPage(token), undefined, { kind: 'error', text: message });
    };
    if (!sameToken(readCookie(req, sessions.preCookieName), form._csrf)) {
      retry(403, 'The sign-in form expired. Enter the key again.');
      return;
    }
    const key = (form.apiKey ?? '').trim();
    try {
      const principal = await authenticateKey(deps.apiKeys, key);
      await deps.apiKeys.markUsed(principal.keyId);
      sessions.clearCookie(res, sessions.preCookieName);
      await sessions.create(res, principal);
      requestContext(req).log.info({ apiKeyPrefix: principal.keyPrefix }, 'console sign-in');
      res.redirect(303, `${BASE}/`);
    } catch (err) {
      if (!(err instanceof UnauthenticatedError)) {
        throw err;
      }
      const verdict = deps.authThrottle
        ? await deps.authThrottle.recordFailure(
            req.ip ?? 'unknown',
            apiKeyPrefix(key) ?? /^jpms_([a-z0-9]{8})_/.exec(key)?.[1],
            requestContext(req).log,
          )
        : { throttled: false, retryAfterMs: 0 };
      if (verdict.throttled) {
        retry(429, `Too many failed sign-ins. Try again in ${Math.ceil(verdict.retryAfterMs / 1000)} seconds.`);
        return;
      }
      retry(401, 'The API key is malformed, unknown or revoked.');
    }
  });
}
