/**
 * JSON bodies: Fastify's own parser (secure-json-parse, which refuses `__proto__` and
 * `constructor.prototype` keys), with errors that say what was wrong instead of "not valid JSON".
 */
import type { FastifyInstance } from 'fastify';
import { fail } from '../errors.js';

function describe(body: string): Error {
  if (body.trim() === '') return fail('VALIDATION_ERROR', 'The request body is empty: send a JSON value');
  try {
    JSON.parse(body);
  } catch (error) {
    return fail('INVALID_JSON', `The request body is not valid JSON: ${(error as Error).message}`);
  }
  return fail('VALIDATION_ERROR', 'The request body has a "__proto__" or "constructor.prototype" key; such keys are refused');
}

/** Accepts application/json only; other content types get 415. */
export function parseJsonBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parse(request, body as string, (error, value) => (error ? done(describe(body as string), undefined) : done(null, value)));
  });
}
