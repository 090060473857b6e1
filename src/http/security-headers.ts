import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * helmet's headers, worked out once at startup and set on each response with one loop, instead of
 * running helmet's chain of a dozen middleware functions per request. The values are helmet's own
 * defaults (its middleware is run once against a recorder), which compute nothing per request.
 * Routes that need another policy (the console, review and report pages) set theirs afterwards as before.
 */
export function securityHeaders(): RequestHandler {
  const set: [string, string | number | readonly string[]][] = [];
  const removed: string[] = [];
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      set.push([name, value]);
      return recorder;
    },
    removeHeader(name: string) {
      removed.push(name);
    },
  };
  let finished = false;
  helmet()({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    if (err !== undefined) {
      throw err instanceof Error ? err : new Error('helmet failed at startup');
    }
    finished = true;
  });
  if (!finished) {
    throw new Error('helmet did not finish synchronously: its headers cannot be precomputed');
  }
  return (_req, res, next) => {
    for (const [name, value] of set) {
      res.setHeader(name, value);
    }
    for (const name of removed) {
      res.removeHeader(name);
    }
    next();
  };
}
