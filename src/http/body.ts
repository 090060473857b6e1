import express, { type RequestHandler } from 'express';
import { AppError } from '../shared/errors.ts';

/**
 * JSON bodies only, size-limited (413 beyond `limit`). A non-empty body of another media type is a
 * 415; an empty body is parsed as `{}` by the validator, so a POST with no fields still gets field
 * errors rather than a puzzling media-type error.
 */
export function jsonBody(limit: string): RequestHandler[] {
  return [
    (req, _res, next) => {
      const length = Number(req.get('content-length') ?? '0');
      const hasBody = req.get('transfer-encoding') !== undefined || length > 0;
      if (hasBody && !req.is(['application/json', 'application/*+json'])) {
        throw new AppError('Send the request body as application/json.', { code: 'unsupported_media_type', httpStatus: 415 });
      }
      next();
    },
    express.json({ limit, strict: true, type: ['application/json', 'application/*+json'] }),
  ];
}

/**
 * A document body as text (a statement file), size-limited (413 beyond `limit`); a body of another
 * media type is a 415 that names the accepted ones. Read as UTF-8 unless the request names another charset.
 */
export function rawTextBody(mediaTypes: readonly string[], limit: string): RequestHandler[] {
  return [
    (req, _res, next) => {
      // No body at all reaches the handler, which answers for the resource first (404) and then for the body.
      const hasBody = req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? '0') > 0;
      if (hasBody && !req.is([...mediaTypes])) {
        throw new AppError(`Send the file as the request body with Content-Type ${mediaTypes.join(', ')}.`, { code: 'unsupported_media_type', httpStatus: 415 });
      }
      next();
    },
    express.text({ limit, type: [...mediaTypes], defaultCharset: 'utf-8' }),
  ];
}
