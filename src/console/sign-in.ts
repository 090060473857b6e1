import { html, type Html } from './html.ts';
import { BASE } from './layout.ts';

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
