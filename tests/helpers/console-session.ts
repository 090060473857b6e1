import request from 'supertest';
import type { TestApi } from './api-app.ts';

/**
 * Signs in to the operator console with an API key, as a browser does (the sign-in form's cookie and CSRF token);
 * returns the session cookie (`name=value`) and the CSRF token the board's forms carry.
 */
export async function consoleSignIn(app: TestApi['app'], key: string): Promise<{ cookie: string; csrf: string }> {
  const form = await request(app).get('/console/sign-in');
  const pre = ([] as string[])
    .concat(form.headers['set-cookie'] ?? [])
    .find((c) => c.startsWith('jpms_console_signin='));
  const token = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
  const res = await request(app)
    .post('/console/sign-in')
    .set('Cookie', pre!.split(';')[0]!)
    .type('form')
    .send({ _csrf: token, apiKey: key });
  const session = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('jpms_console='));
  const cookie = session!.split(';')[0]!;
  const board = await request(app).get('/console/').set('Cookie', cookie);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(board.text)?.[1] ?? '';
  return { cookie, csrf };
}
