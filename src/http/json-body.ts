/**
 * JSON bodies: Fastify's own parser (secure-json-parse, which refuses `__proto__` and
 * `constructor.prototype` keys), with errors that say what was wrong instead of "not valid JSON",
 * and the gateway's limits on what a JSON value may hold (json-limits.ts): no body nested deeper than
 * JSON_MAX_DEPTH, no number that would reach clients changed, none larger than EMIT_MAX_BYTES.
 */
import type { FastifyInstance } from 'fastify';
import { fail } from '../errors.js';
import { findJsonProblem, shortPath } from '../json-limits.js';

/** The limits a body is held to. */
export interface JsonBodyLimits {
  /** JSON_MAX_DEPTH. */
  readonly maxDepth: number;
  /** EMIT_MAX_BYTES: every body the API takes is something to emit. */
  readonly maxBytes: number;
}

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
export function parseJsonBodies(app: FastifyInstance, limits: JsonBodyLimits): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    // Fastify's bodyLimit (BODY_LIMIT_BYTES) has already bounded the text: this is the emit bound.
    const bytes = Buffer.byteLength(text);
    if (bytes > limits.maxBytes) {
      return done(
        fail('EMIT_TOO_LARGE', `The request body is ${bytes} bytes; one request may send at most ${limits.maxBytes} bytes (EMIT_MAX_BYTES)`),
        undefined,
      );
    }
    parse(request, text, (error, value) => {
      if (error) return done(describe(text), undefined);
      // JSON.parse does not recurse, so the deep value it built is harmless until something walks it;
      // nothing does before this check.
      const problem = findJsonProblem(text, limits.maxDepth, 'body');
      if (problem !== undefined) return done(fail('VALIDATION_ERROR', `${shortPath(problem.path)} ${problem.reason}`), undefined);
      done(null, value);
    });
  });
}
