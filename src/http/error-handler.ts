/**
 * The one error handler: whatever a route, hook or Fastify itself throws leaves as
 * `{ success: false, errno, message, code }` (see errors.ts for the codes).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { MAX_PATH_PARAM_LENGTH } from '../api/common.js';
import { GatewayError, fail, type ErrorCode } from '../errors.js';

/**
 * The code of a client error (4xx) that Fastify or a plugin raises itself, by its status. Written out
 * rather than looked up in the registry, where several codes share a status (400).
 */
const CODE_OF_STATUS: { readonly [status: number]: ErrorCode } = {
  400: 'VALIDATION_ERROR',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  431: 'HEADERS_TOO_LARGE',
};

/**
 * Turns anything thrown while serving a request into a GatewayError. `bodyLimit` (BODY_LIMIT_BYTES)
 * names the limit in the 413 message.
 */
export function toGatewayError(error: unknown, bodyLimit?: number): GatewayError {
  if (error instanceof GatewayError) return error;
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) return fail('VALIDATION_ERROR', fastifyError.message);
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return fail('PAYLOAD_TOO_LARGE', bodyLimit === undefined ? undefined : `The request body is larger than ${bodyLimit} bytes (BODY_LIMIT_BYTES)`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return fail('UNSUPPORTED_MEDIA_TYPE', 'The request body must be JSON: send Content-Type: application/json');
    case 'FST_ERR_BAD_URL':
      return fail('VALIDATION_ERROR', 'The URL is malformed: a "%" must start an escape of two hexadecimal digits, and the escapes must spell UTF-8');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // Fastify says 414; the URL is not too long for the server, one value is too long for the API.
      return fail('VALIDATION_ERROR', `A path parameter is longer than ${MAX_PATH_PARAM_LENGTH} characters; no id or event name of this API is that long`);
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 500 || status < 400) return fail('INTERNAL_SERVER_ERROR');
  // A client error of a status the gateway has no code for is still the client's: 400, with its message.
  const code = CODE_OF_STATUS[status] ?? 'VALIDATION_ERROR';
  return fail(code, fastifyError.message);
}

/**
 * Fastify's `frameworkErrors`: a malformed URL or an over-long path parameter, refused before any
 * route is chosen, answered in the error shape like everything else.
 */
export function answerFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const gatewayError = toGatewayError(error);
  void reply.code(gatewayError.status).headers(gatewayError.headers).send(gatewayError.toBody());
}

/**
 * Formats schema failures so the message names the field: "body.userIds[0] must be ...".
 * Schemas may carry an `x-error` sentence that replaces Ajv's wording for that value.
 */
export function formatValidationErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const withSentence = [...errors].reverse().find((e) => typeof (e as { parentSchema?: Record<string, unknown> }).parentSchema?.['x-error'] === 'string');
  const chosen = withSentence ?? errors[0];
  if (!chosen) return new Error(`${dataVar} is invalid`);
  // Fastify calls the query string `querystring`; callers write `?since=` and read "query.since".
  const path = (dataVar === 'querystring' ? 'query' : dataVar) + chosen.instancePath.replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.');
  const params = chosen.params as Record<string, unknown>;
  if (chosen.keyword === 'required') return new Error(`${path}.${String(params.missingProperty)} is required`);
  if (chosen.keyword === 'additionalProperties') return new Error(`${path} has an unknown property "${String(params.additionalProperty)}"`);
  const sentence = (chosen as { parentSchema?: Record<string, unknown> }).parentSchema?.['x-error'];
  return new Error(`${path} ${typeof sentence === 'string' ? sentence : chosen.message}`);
}

/** Installs the error handler, the 404 handler and the schema error formatter's partner. */
export function installErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((error, request, reply) => {
    const gatewayError = toGatewayError(error, bodyLimit);
    if (gatewayError.status >= 500) request.log.error({ err: error }, 'request failed');
    void reply.code(gatewayError.status).headers(gatewayError.headers).send(gatewayError.toBody());
  });
  app.setNotFoundHandler((request) => {
    throw fail('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`);
  });
}
